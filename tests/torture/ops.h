/*
 * ops: the table of operations workers pick at random, and the checks made
 * around every call (call.cc): documented return code, time bound, CPU
 * used while blocked.
 */
#ifndef TORTURE_OPS_H
#define TORTURE_OPS_H

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "conn.h"
#include "errtable.h"

namespace torture {

/* One worker thread of one incarnation. Writer |id| of its connection. */
struct WorkerState {
    int id = 0;
    std::atomic<long> tid{0}; /* set by the worker, read by closers */
    Rng rng{0};
    /* The gate (see gate_enter()): set while between entering and leaving
     * a call on the connection. */
    std::atomic<bool> in_gate{false};
    /* The stream whose handle it may be using (see sgate_enter()). */
    std::atomic<StreamEntry *> cur_stream{nullptr};
    std::atomic<uint64_t> gate_ns{0};
    /* The call in progress, for the watchdog. */
    std::atomic<const char *> call{nullptr};
    std::atomic<uint64_t> call_start_ns{0};
    std::atomic<int> call_timeout{0};
    std::atomic<bool> done{false};
    std::mutex last_mu;
    std::string last; /* the last call that returned, with its result */

    /* Writer stream position. */
    uint64_t w_off = 0;
    uint32_t w_seq = 0;
    std::vector<uint8_t> wbuf, rbuf;
};

/* Runs random operations on |inc| until it is closed or quiesced. */
void worker_main(Incarnation *inc, WorkerState *ws);

/* Closes |inc|'s connection the way a well-behaved application may: no call
 * starts after the close begins (the gate), calls already inside the
 * library stay there and must be woken. |self| is the closing worker or
 * NULL; it may be inside a tickless_conn_lock() section on the connection
 * (op_lock), which the close then ends. False if another thread had
 * begun the close already: then nothing was done. */
bool close_conn(Incarnation *inc, WorkerState *self);

/* The connection-level operations other than read, write and shutdown
 * (lock, stats, error, handshake, close, idle), one at random with the
 * incarnation's weights: stream mode mixes them with its own. */
void conn_misc_op(Incarnation *inc, WorkerState *ws);
int pick_timeout(Rng &r, bool forever_ok);

/* The watchdog's view: every live worker of the run. */
void registry_add(WorkerState *ws);
void registry_remove(WorkerState *ws);
/* Describes each live worker's current or last call, one per line. */
std::string registry_dump();
/* Calls that have outlived their timeout by more than |slack_ns|
 * (TICKLESS_FOREVER calls: started more than |forever_ns| ago). Returns a
 * description of the first, or "". */
std::string registry_overdue(uint64_t slack_ns, uint64_t forever_ns);

} // namespace torture

#endif
