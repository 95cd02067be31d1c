/*
 * soak: hundreds of QUIC connections on a small tickless pool, for minutes,
 * through a lossy path, with random traffic, closes and re-opens. It checks
 * what a short test cannot: that memory and descriptors stay flat once the
 * program has warmed up, and that no assist thread falls behind a deadline
 * by a second or more, however long it runs.
 *
 * Who runs where:
 *  - a child process (soak_peer.c), forked before any thread exists: the
 *    test QUIC echo server and the impairing relay in front of it, so the
 *    server's memory and descriptors are not counted as the client's;
 *  - this process: one tickless pool, a few application threads that own
 *    a share of the connections each (soak_traffic.c), a canary thread
 *    (soak_sample.c), and the main thread, which samples /proc/self once a
 *    second (soak_sample.c, soak_main.c) and judges (soak_verdict.c).
 */
#ifndef TICKLESS_SOAK_H
#define TICKLESS_SOAK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "tickless/tickless.h"

/* ---- soak_peer.c: the server and relay process -------------------------- */

typedef struct soak_peer_options {
    double loss;          /* each way */
    uint64_t seed;
    unsigned max_clients; /* relay slots */
    uint64_t idle_timeout_ms; /* the server's QUIC idle timeout */
} soak_peer_options;

/* What the peer process counted, on request. */
typedef struct soak_peer_status {
    uint64_t accepted;        /* QUIC connections the server took on */
    uint64_t open;            /* ... held right now */
    uint64_t bytes_received;  /* application bytes, all connections */
    uint64_t forwarded;       /* relay: datagrams sent on, both ways */
    uint64_t dropped;         /* relay: datagrams dropped, both ways */
} soak_peer_status;

typedef struct soak_peer {
    int pid;
    int ctl;       /* SOCK_SEQPACKET to the child; closing it ends the child */
    uint16_t port; /* the relay's port: clients connect here */
} soak_peer;

/* Forks the peer process. Call while this process has no other thread, and
 * after ts_cert_get0() so both sides share the generated identity.
 * Returns 0, or -1 (no QUIC, fork failed, the server or relay did not
 * start). */
int soak_peer_start(const soak_peer_options *o, soak_peer *out);

/* The child's counters; 0 or -1 (the child is gone). */
int soak_peer_status_get(soak_peer *p, soak_peer_status *st);

/* Ends the child (SIGKILL) and reaps it. */
void soak_peer_stop(soak_peer *p);

/* ---- soak_traffic.c: the application threads ---------------------------- */

/* Totals over all application threads; atomics, read by the main thread. */
typedef struct soak_counters {
    atomic_uint_fast64_t opened;    /* connections handshaken */
    atomic_uint_fast64_t closed;    /* connections given to close */
    atomic_uint_fast64_t graceful;  /* ... of which after shutdown */
    atomic_uint_fast64_t exchanges; /* echoes checked */
    atomic_uint_fast64_t bytes;     /* bytes echoed and checked */
    atomic_uint_fast64_t errors;    /* any call that failed, any mismatch */
    atomic_uint_fast64_t slowest_ns; /* longest single call that succeeded */
} soak_counters;

typedef struct soak_traffic_options {
    unsigned conns;       /* connections, split among the threads */
    unsigned threads;     /* application threads */
    uint16_t port;        /* where to connect (the relay) */
    uint64_t seed;
    unsigned reopen_per_mille; /* chance per operation to close and re-open */
    size_t max_echo;      /* largest echo, bytes */
    int call_timeout_ms;  /* per blocking call */
} soak_traffic_options;

typedef struct soak_traffic soak_traffic;

/* Starts the threads; each opens its share of connections, then loops on
 * random operations until soak_traffic_stop(). Returns 0 or -1. */
int soak_traffic_start(const soak_traffic_options *o, tickless_pool *pool,
                       SSL_CTX *ctx, soak_counters *cnt, soak_traffic **out);

/* 1 once every thread has opened its share (or failed trying). */
int soak_traffic_ready(soak_traffic *t);

/* Stops the threads (each finishes its operation), joins them, closes
 * every connection and frees |t|. */
void soak_traffic_stop(soak_traffic *t);

/* ---- soak_sample.c: /proc/self and trends ------------------------------- */

typedef struct soak_sample {
    double t;            /* seconds since the start of the run */
    uint64_t rss;        /* resident set, bytes */
    uint64_t heap;       /* malloc'd and not freed, bytes (mallinfo2) */
    uint64_t fds;        /* open descriptors */
    uint64_t pool_conns; /* connections on the pool */
    uint64_t pool_late_max; /* the pool's lateness maximum so far, ns */
    uint64_t canary_late;   /* the canary's largest lateness since the
                               previous sample, ns */
} soak_sample;

/* Resident set size of this process in bytes (/proc/self/statm), 0 on
 * error. */
uint64_t soak_rss_bytes(void);

/* Bytes allocated with malloc and not yet freed, all arenas and mmapped
 * chunks (glibc's mallinfo2), 0 if unknown. */
uint64_t soak_heap_bytes(void);

/* Raises this process's soft limit on open descriptors to the hard one:
 * a thousand connections need more than the usual 1024. */
void soak_raise_fd_limit(void);

/* Open descriptors of this process (/proc/self/fd), 0 on error. */
uint64_t soak_fd_count(void);

/* A canary: a plain thread of this process that sleeps CANARY_MS at a time
 * and notes how much later than asked it woke. It does no work, so its
 * lateness is what the machine's scheduler imposed on every thread of the
 * process: a pool lateness far above it is tickless's, one close to it is
 * the machine's (other programs, or this one's own load). */
typedef struct soak_canary soak_canary;

soak_canary *soak_canary_start(void);

/* The canary's largest lateness since the previous call (or its start), in
 * ns; starts the next period. Any thread; 0 for a NULL canary. */
uint64_t soak_canary_take(soak_canary *c);

/* Stops the canary and returns what soak_canary_take() would have. */
uint64_t soak_canary_stop(soak_canary *c);

/* Least-squares slope of y over x, per unit of x; 0 with fewer than two
 * distinct x. */
double soak_slope(const double *x, const double *y, size_t n);

/* ---- soak_main.c and soak_verdict.c: a run and its verdict ------------- */

typedef struct soak_options {
    unsigned seconds, warmup, conns, pool_threads, app_threads;
    double loss;
    uint64_t seed;
} soak_options;

/* Everything the run measured. */
typedef struct soak_run {
    soak_options o;
    soak_counters cnt;
    soak_sample *samples;
    size_t nsamples;
    double judged_from; /* t of the first sample after warm-up */
    uint64_t fds_baseline, fds_after;
    struct tickless_pool_stats pst;
    int pool_free_rc;
    soak_peer_status peer;
    int peer_ok;
    double seconds; /* the traffic's length, measured */
    uint64_t canary_tail_ns; /* the canary's lateness after the last sample */
} soak_run;

/* Checks the run against its bounds (soak_main.c says which and why),
 * prints a line per failed check, the table of figures and PASS or FAIL.
 * Returns 1 if it passed. */
int soak_verdict(const soak_run *r);

#endif /* TICKLESS_SOAK_H */
