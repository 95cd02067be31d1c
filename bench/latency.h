/*
 * latency.h: what the `wake` and `rearm` scenarios share. Private to bench/.
 *
 * Both ask how promptly a connection that the application has left alone is
 * served, and both time it from outside the measured process: a relay
 * process (bench_relay.c) sits between client and server and stamps the
 * datagrams. Each mode runs, --rounds times in turn with the others, in a
 * fresh client process against a fresh server and relay, forked by the
 * parent, and sends its samples back through a pipe.
 *
 *  - latency_conn.c: one QUIC client connection in one of the five modes,
 *    and the few things the scenarios do with it (write, read, wait idle,
 *    read OpenSSL's deadline);
 *  - latency_run.c: the parent's side: options, rounds of processes per
 *    mode, percentiles, the table, the CSV file; and the client helpers
 *    both scenarios share;
 *  - wake.c, rearm.c: the scenarios (what one sample is).
 */
#ifndef TICKLESS_BENCH_LATENCY_H
#define TICKLESS_BENCH_LATENCY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <tickless/tickless.h>

#include "bench.h"
#include "bench_relay.h"

enum { LAT_APP, LAT_NATIVE, LAT_DEDICATED, LAT_POOL1, LAT_POOL2,
       LAT_NMODES };

typedef struct lat_mode {
    const char *name;
    const char *what;      /* one line for --help */
    int tickless;
    unsigned pool_threads; /* 0: no pool (dedicated, or not tickless) */
} lat_mode;

extern const lat_mode lat_modes[LAT_NMODES];

/* ---- latency_conn.c: one connection in one mode ------------------------ */

typedef struct lat_conn {
    int mode;
    SSL_CTX *ctx;
    SSL *ssl;            /* app-driven, native: ours; tickless: tc's */
    tickless_pool *pool; /* pool-1, pool-2 */
    tickless_conn *tc;   /* tickless modes */
    int fd;              /* the UDP socket (the SSL object's) */
    char error[200];     /* why the last call failed */
} lat_conn;

/*
 * Connects to 127.0.0.1:|port| in |mode| with a QUIC idle timeout of
 * |idle_ms| (0: none) and completes the handshake. Returns 0, or -1 with
 * c->error set (lat_conn_close() is still needed).
 */
int lat_conn_open(lat_conn *c, int mode, uint16_t port, uint64_t idle_ms);

/* Writes all |len| bytes (blocking as the mode blocks). 0 or -1. */
int lat_conn_write(lat_conn *c, const void *buf, size_t len);

/* Reads exactly |len| bytes within |timeout_ms| (native: no time limit,
 * its blocking SSL_read has none). 0 or -1. */
int lat_conn_read(lat_conn *c, void *buf, size_t len, int timeout_ms);

/*
 * The application being idle until |until_ns| (CLOCK_MONOTONIC) or until
 * |fd| (-1: none) turns readable. app-driven: its own loop keeps ticking
 * (ppoll on the socket and |fd| with OpenSSL's timeout, SSL_handle_events).
 * The other modes: the thread just sleeps in poll(); OpenSSL's or tickless's
 * assist does whatever is done. Returns 1 (|fd| readable), 0 (time is up)
 * or -1.
 */
int lat_conn_idle(lat_conn *c, int fd, uint64_t until_ns);

/*
 * The connection's next deadline as OpenSSL states it
 * (SSL_get_event_timeout(); tickless modes: under tickless_conn_lock()),
 * converted to CLOCK_MONOTONIC: the clock is read just before the call and
 * the timeout added to it, so the result is never later than OpenSSL's own
 * deadline (by the few microseconds the call takes). |assist_ns|, if not
 * NULL, gets tickless_conn_stats()'s deadline_ns (tickless modes; 0
 * otherwise). Returns 0, or -1 if OpenSSL states no deadline.
 */
int lat_conn_deadline(lat_conn *c, uint64_t *deadline_ns,
                      uint64_t *assist_ns);

/* tickless modes: the assist's own deadline-to-tick lateness so far, its
 * timer ticks and the wake-ups for earlier deadlines (the pool's figures
 * for pool modes). Returns 0, or -1 for the other modes. */
int lat_conn_assist_lateness(lat_conn *c, uint64_t *p50_ns, uint64_t *p99_ns,
                             uint64_t *timer_ticks, uint64_t *wakeups);

/* tickless modes: the connection's tick counters (tickless_conn_stats).
 * Returns 0, or -1 for the other modes. */
int lat_conn_ticks(lat_conn *c, uint64_t *io_ticks, uint64_t *timer_ticks);

/* Frees everything (pool included). Safe on a failed open. */
void lat_conn_close(lat_conn *c);

/* ---- latency_run.c: the parent ----------------------------------------- */

#define LAT_MAX_SAMPLES 4000
#define LAT_MAX_ROUNDS 100
#define LAT_TIMED_OUT INT64_MAX /* a sample that hit --timeout-ms */

typedef struct lat_opts {
    unsigned samples;        /* per mode, but native */
    unsigned native_samples; /* native: each may take --timeout-ms */
    unsigned timeout_ms;     /* per sample (rearm: from the deadline) */
    unsigned gap_ms;         /* idle time before each sample, plus ... */
    unsigned jitter_ms;      /* ... a uniform 0..jitter_ms */
    unsigned burst;          /* wake: bytes the server pushes */
    unsigned rounds;         /* the modes take turns this many times */
    unsigned modes;          /* 1u << LAT_* */
    uint64_t quic_idle_ms;
    uint64_t seed;
    bench_common_opts common;
} lat_opts;

/* What a client process sends back. Plain data: it crosses a pipe. */
typedef struct lat_result {
    int ok;
    char error[256];
    unsigned n;                     /* samples taken */
    int64_t v[LAT_MAX_SAMPLES];     /* the measurement, ns, or TIMED_OUT */
    int64_t aux[LAT_MAX_SAMPLES];   /* wake: datagrams before the ACK;
                                       rearm: deadline - original datagram */
    unsigned user_stamps;           /* reports without kernel stamps */
    unsigned bad_deadline;          /* rearm: deadline not after original */
    unsigned silent;                /* rearm, timed out: not even the
                                       original datagram left */
    unsigned no_probe;              /* rearm, timed out: the original left,
                                       no retransmission */
    int64_t assist_diff_max;        /* rearm, tickless: largest
                                       |assist deadline - OpenSSL's|, ns */
    int have_assist_late;           /* rearm, tickless: the assist's own */
    uint64_t assist_late_p50_ns;    /* deadline-to-tick lateness */
    uint64_t assist_late_p99_ns;    /* (tickless_conn_stats or
                                       tickless_pool_stats), every timer
                                       tick of the client process; merged
                                       over rounds: the worst round's */
    uint64_t assist_timer_ticks;    /* summed over rounds */
    uint64_t assist_wakeups;        /* times the assist was woken because
                                       the deadline moved earlier; summed */
    /* wake, tickless: what the assist did during the slow samples (over
     * 1 ms): ticks for socket readiness and for a due timer, summed */
    unsigned slow;
    uint64_t slow_io_ticks, slow_timer_ticks;
} lat_result;

/* Arguments of one client process. */
typedef struct lat_client_args {
    const lat_opts *o;
    int mode;
    bench_relay relay;  /* the client's copy of the relay's pipes */
    int push_fd;        /* wake: the server's push pipe (write end) */
} lat_client_args;

/* A scenario as latency_run.c runs it. */
typedef struct lat_scenario {
    const char *name;
    const char *measured;  /* "wake latency", "rearm lateness" */
    const char *csv_measurement;
    int needs_push;        /* start the server with a push pipe */
    /* the client process's body, for bench_run_child() */
    int (*client)(void *arg, void *result, size_t len);
    /* goal annotation for one mode's row; |native| may be NULL */
    void (*goals)(char *buf, size_t len, int mode, const lat_result *r,
                  const lat_result *native);
    void (*notes)(const lat_opts *o, lat_result *res);
    void (*usage)(FILE *out); /* the whole --help text */
    lat_opts defaults, quick;
} lat_scenario;

/* Parses the options (argv[0] is the scenario), runs every mode, prints
 * the table. Returns a BENCH_EXIT_* code. */
int lat_main(const lat_scenario *s, int argc, char **argv);

/* Prints the options both scenarios share. */
void lat_usage(const lat_scenario *s, FILE *out);

/* The |pct|th percentile (nearest rank) of r->v (a sorted copy). */
int64_t lat_percentile(const lat_result *r, unsigned pct);

/*
 * A client process's start: connects in a->mode through the relay,
 * exchanges a first echo and lets the handshake's and the echo's last
 * packets and ACKs settle, so that the first sample starts on a quiet,
 * established connection. Returns 0, or -1 with res->error set
 * (lat_conn_close(c) is still needed).
 */
int lat_client_connect(lat_conn *c, const lat_client_args *a,
                       lat_result *res);

/* Sleeps-or-ticks (lat_conn_idle) for gap_ms plus jitter from |rng|. */
int lat_idle_gap(lat_conn *c, const lat_opts *o, uint64_t *rng);

/*
 * Waits for the relay's report on sample |id| until |until_ns|, the
 * application idle meanwhile (lat_conn_idle). Returns 1 with |rep| filled,
 * 0 if the time ran out, -1 if the relay is gone.
 */
int lat_await_report(lat_conn *c, bench_relay *relay, uint32_t id,
                     uint64_t until_ns, relay_report *rep);

/* Sets r->error from a format; returns -1. */
int lat_fail(lat_result *r, const char *fmt, ...);

#endif /* TICKLESS_BENCH_LATENCY_H */
