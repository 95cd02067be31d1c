/*
 * call: what is checked around every call the workers make.
 *
 *  - the return code is one the header documents for the function;
 *  - the call returned within its timeout plus slack (2 s, scaled);
 *  - a call that was blocked 100 ms or more spent well under half of that
 *    on the CPU (a blocked call must sleep, not poll);
 *  - the gate: a call starts only while no close has begun (gate_enter).
 */
#ifndef TORTURE_CALL_H
#define TORTURE_CALL_H

#include "ops.h"

namespace torture {

/* Enters the gate of |inc|; false if a close has begun (then no call may
 * start: the handle may be gone). Leave it with gate_exit(). */
bool gate_enter(Incarnation *inc, WorkerState *ws);
void gate_exit(WorkerState *ws);

struct Call {
    Incarnation *inc;
    WorkerState *ws;
    Fn fn;
    int timeout;
    size_t work_bytes; /* bytes the call may legitimately spend CPU on */
    uint64_t t0, cpu0, t1 = 0, cpu1 = 0;
    uint64_t rq0 = 0, rq1 = 0; /* runnable, waiting for a CPU */

    Call(Incarnation *i, WorkerState *w, Fn f, int timeout_ms,
         size_t bytes = 0);
    /* Records the end and runs the checks; returns |rc|. */
    int end(int rc, const char *detail = "");
    uint64_t wall_ns() const { return t1 - t0; }
};

/* True if thread |tid| is asleep in the kernel (or gone). */
bool thread_sleeping(long tid);

/* Slack for time bounds: |ms| scaled by TICKLESS_TEST_TIME_SCALE. */
uint64_t slack_ns(const Config &c, double ms);

} // namespace torture

#endif
