/*
 * scale.h: what the two halves of the scale scenario share. scale.c parses
 * the options, forks a server and a client process per (N, mode) and prints
 * the table; scale_client.c is what runs, and is measured, in the client
 * process. Private to bench/.
 */
#ifndef TICKLESS_BENCH_SCALE_H
#define TICKLESS_BENCH_SCALE_H

#include <stddef.h>
#include <stdint.h>

#include "bench.h"

#define SCALE_MAX_COUNTS 16

enum { MODE_PLAIN, MODE_NATIVE, MODE_DEDICATED, MODE_POOL1, MODE_POOL2,
       MODE_COUNT };

typedef struct scale_mode {
    const char *name;
    const char *what;      /* one line for --help */
    int tickless;          /* assisted by tickless */
    unsigned pool_threads; /* 0: no pool */
} scale_mode;

extern const scale_mode scale_modes[MODE_COUNT];

typedef struct scale_opts {
    unsigned counts[SCALE_MAX_COUNTS];
    size_t ncounts;
    unsigned modes;       /* 1u << MODE_* */
    unsigned idle_s;
    unsigned window;      /* handshakes in flight */
    unsigned native_max;  /* 0: no cap */
    unsigned server_procs; /* echo server processes sharing the port */
    uint64_t quic_idle_ms;
    unsigned traffic_s;    /* steady traffic for lateness; 0: none */
    unsigned traffic_rate; /* writes per second during it */
    bench_common_opts common; /* --csv: DIR/scale.csv */
} scale_opts;

/* What a client process sends back. Plain data: it crosses a pipe. */
typedef struct scale_result {
    int ok;
    char error[256];
    unsigned requested;    /* N asked for */
    unsigned n;            /* N established; below |requested| if capped */
    char cap_note[128];    /* why n < requested */
    unsigned n_mid;        /* connections at the mid snapshot */
    uint64_t hs_ns;        /* wall time to establish all */
    int threads_before, threads_after;
    int fds_per_conn;
    bench_mem mem_before, mem_mid, mem_after;
    double idle_cpu_pct;
    double idle_wakeups;   /* per second, all threads, over the idle window */
    int have_lateness;
    uint64_t late_p50_ns, late_p99_ns, late_max_ns;
    uint64_t late_worst_p99_ns; /* dedicated: the worst connection's p99 */
    uint64_t timer_ticks;  /* the lateness samples: deadline ticks during
                              the steady traffic */
    uint64_t traffic_writes; /* 1-byte writes made during it */
    int have_sleeper;      /* the canary ran over the same window ... */
    uint64_t sleeper_p50_ns, sleeper_p99_ns, sleeper_max_ns; /* ... and
                              this is how late it woke (canary.h) */
    unsigned dead_after_idle; /* connections found closed after the idle */
    uint64_t teardown_ns;
} scale_result;

/* Arguments of one client process. */
typedef struct scale_client_args {
    const scale_opts *o;
    int mode;
    unsigned n;
    uint16_t port;
} scale_client_args;

/* The client process's body, for bench_run_child(): |arg| is a
 * scale_client_args, |result| a scale_result of |len| bytes. Returns 0, or
 * -1 with result->error set. */
int scale_client_main(void *arg, void *result, size_t len);

#endif /* TICKLESS_BENCH_SCALE_H */
