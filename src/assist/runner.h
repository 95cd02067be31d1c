/* A runner: the thread that runs one shard until told to stop. Dedicated
 * assists and pools both start their threads here, so every assist thread
 * is born the same way: all asynchronous signals blocked (the application's
 * handlers run on the application's threads), named, with the requested
 * timer slack and CPU. */
#ifndef TICKLESS_ASSIST_RUNNER_H
#define TICKLESS_ASSIST_RUNNER_H

#include <stdint.h>

#include "assist/shard.h"

typedef struct runner_options {
    const char *name;        /* full thread name, cut to 15 bytes; or NULL */
    uint64_t timer_slack_ns; /* 0: leave the default */
    int cpu;                 /* -1: no affinity */
    size_t stack_size;       /* 0: RUNNER_DEFAULT_STACK */
    int idle_release;        /* a dedicated assist's thread: hand over to
                                a fresh one once idle (RUNNER_IDLE_NS) */
} runner_options;

/*
 * One thread per connection makes whatever a thread keeps a cost per
 * connection. A dedicated assist's thread drives its connection's
 * handshake, and keeps what that burst left: glibc malloc's per-thread
 * cache (tcache: up to 7 freed chunks of each size up to 1 KiB, which only
 * this thread's own mallocs would reuse, and only the thread's end gives
 * back), OpenSSL's per-thread state, and the stack pages the deepest calls
 * touched; about 20 KiB in all, twice what OpenSSL's own assist thread
 * costs (docs/benchmarks.md, scale). With idle_release, the first time the
 * thread goes idle after a burst (it ticked, its next deadline is
 * RUNNER_IDLE_NS away or more, or there is none, where it had been nearer
 * before, as a handshake's retransmission timer is; and its loop has used
 * RUNNER_BURST_CPU_NS of CPU, a handshake's worth, where an idle
 * connection's tick costs some 10 us) it hands its shard to a fresh thread
 * and ends, which gives all of that back: one more thread start per
 * connection, once. The fresh thread gives back the stack pages its own
 * ticks touched when it goes idle after one (one madvise(), at most once
 * a RUNNER_IDLE_NS).
 */
#define RUNNER_IDLE_NS (1 * NS_PER_SEC)
#define RUNNER_BURST_CPU_NS (NS_PER_MS / 5)

/* An assist thread runs one loop and OpenSSL's event handling: a fraction
 * of glibc's default 8 MiB (the RLIMIT_STACK of most systems), which would
 * be reserved per thread, i.e. per connection in dedicated mode. Sanitizers
 * make frames several times larger. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RUNNER_DEFAULT_STACK ((size_t)2 << 20)
#else
#define RUNNER_DEFAULT_STACK ((size_t)256 << 10)
#endif
/* Smallest stack accepted from the application. */
#define RUNNER_MIN_STACK ((size_t)64 << 10)

/* Starts a thread that runs |s| (s->runner, s->has_runner are set).
 * Returns 0, TICKLESS_ERR_NOMEM or TICKLESS_ERR_SYS. */
int tl_runner_start(shard *s, const runner_options *opts);

/* Asks the thread to stop, wakes it and joins it. Must not be called from
 * the thread itself. */
void tl_runner_stop(shard *s);

/* CPU time the thread (and those it handed over from) has used so far; 0
 * if |s| has no thread. */
uint64_t tl_runner_cpu_ns(shard *s);

#endif
