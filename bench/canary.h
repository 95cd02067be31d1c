/*
 * canary: a thread of the measured process that does nothing but sleep
 * until deadlines and record how late it woke. Over the same window as a
 * reactor's lateness, it is the machine's own share: the scheduler, timer
 * interrupts, the CPUs busy with other processes. No reactor can be on time
 * more reliably than a thread that only sleeps. Private to bench/.
 */
#ifndef TICKLESS_BENCH_CANARY_H
#define TICKLESS_BENCH_CANARY_H

#include <stddef.h>
#include <stdint.h>

typedef struct bench_canary bench_canary;

typedef struct bench_canary_result {
    size_t samples;
    uint64_t p50_ns, p99_ns, max_ns;
} bench_canary_result;

/* Starts a thread that wakes every |period_ns| (absolute deadlines, no
 * timer slack, like a timerfd) and keeps up to |max_samples| lateness
 * samples. Allocates everything here, none in the thread. NULL on
 * failure. */
bench_canary *bench_canary_start(uint64_t period_ns, size_t max_samples);

/* Stops and frees |c| (NULL: nothing) and fills |out| from its samples. */
void bench_canary_stop(bench_canary *c, bench_canary_result *out);

#endif
