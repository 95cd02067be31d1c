/*
 * lossy.h: what the scenarios over a lossy path share (`busy` and
 * `dtls-handshake`). Private to bench/.
 *
 *  - lossy_path.c: a test server (ts_server, sink mode) behind a UDP relay
 *    with loss and delay (ts_relay), both in a process of their own, and
 *    the control channel through which the client process asks it what
 *    has arrived and when.
 *  - lossy_app.c: what an application that ticks OpenSSL itself does (one
 *    iteration of its event loop, QUIC and DTLS), the contexts and pools
 *    of each mode, and "computing" without touching the connection.
 */
#ifndef TICKLESS_BENCH_LOSSY_H
#define TICKLESS_BENCH_LOSSY_H

#include <stddef.h>
#include <stdint.h>

#include <tickless/tickless.h>

#include "bench.h"
#include "ts_certs.h"

/* ---- the modes ---------------------------------------------------------- */

enum { LOSSY_APP, LOSSY_NATIVE, LOSSY_DEDICATED, LOSSY_POOL1, LOSSY_POOL2,
       LOSSY_MODES };

typedef struct lossy_mode {
    const char *name;
    const char *what;      /* one line for --help */
    int tickless;          /* assisted by tickless */
    unsigned pool_threads; /* 0: no pool */
    int quic_only;         /* OpenSSL's thread assist exists for QUIC only */
} lossy_mode;

extern const lossy_mode lossy_modes[LOSSY_MODES];

/* Parses "app-driven,pool-1" or "all" into a mask of 1u << LOSSY_*. */
int lossy_parse_modes(const char *s, unsigned *mask);

/* ---- lossy_path.c: server and relay in a process of their own ----------- */

/* Samples in a time series: 60 s at 50 ms. */
#define LOSSY_MAX_SAMPLES 1200

typedef struct lossy_path_opts {
    enum ts_proto proto; /* TS_QUIC or TS_DTLS */
    double loss;         /* per datagram, each way */
    unsigned delay_ms;   /* one way */
    uint64_t seed;       /* the relay's loss decisions */
    int fast_dtls_timer; /* DTLS: ts_dtls_fast_timer() on the server side */
} lossy_path_opts;

typedef struct lossy_path {
    pid_t pid;     /* the server process; 0 when not running */
    int ctl;       /* control socket (SOCK_SEQPACKET); -1 when closed */
    uint16_t port; /* the relay's: 127.0.0.1:port, UDP */
} lossy_path;

/* What the server process knows; times are CLOCK_MONOTONIC ns, which every
 * process on the machine shares, 0 for "not yet". */
typedef struct lossy_status {
    uint64_t now_ns;
    uint64_t bytes;          /* application bytes received, all connections */
    uint64_t handshakes;     /* completed on the server side */
    uint64_t pattern_errors; /* QUIC: bytes off the ts_fill_pattern stream */
    uint64_t forwarded, dropped; /* the relay's datagrams, both ways */
    /* Since the last lossy_path_watch(), checked every millisecond: */
    uint64_t bytes_reached_ns;   /* bytes first >= the target */
    uint64_t hs_reached_ns;      /* handshakes first >= the target */
    uint64_t last_growth_ns;     /* bytes last grew */
} lossy_status;

/*
 * Forks the server process: a ts_server of |o->proto| in sink mode and a
 * ts_relay in front of it. Fork it while single-threaded, after
 * ts_cert_get0(). The control socket is inherited by processes forked
 * later (the client); one process at a time may use it.
 * Returns 0 with |out| filled, or -1.
 */
int lossy_path_start(const lossy_path_opts *o, lossy_path *out);

/* Kills and reaps the server process. Safe on a stopped path. */
void lossy_path_stop(lossy_path *p);

/* The server's figures now. 0 or -1 (the server process is gone). */
int lossy_path_status(lossy_path *p, lossy_status *st);

/*
 * Starts watching from |t0_ns|: the server process samples the bytes
 * received every |sample_ms| from t0 on (LOSSY_MAX_SAMPLES at most) and
 * notes when the bytes reach |target_bytes| and the handshakes
 * |target_hs| (0: not watched). Returns 0 or -1.
 */
int lossy_path_watch(lossy_path *p, uint64_t t0_ns, uint64_t target_bytes,
                     uint64_t target_hs, unsigned sample_ms);

/* Stops watching and copies the samples (bytes received at t0 + k *
 * sample_ms) into |out|; *n receives their number. Returns 0 or -1. */
int lossy_path_series(lossy_path *p, uint64_t *out, size_t max, size_t *n);

/* ---- lossy_app.c: the modes' building blocks ---------------------------- */

/* A client context: OpenSSL's thread-assisted QUIC method for native, the
 * plain client method otherwise; either trusts the generated certificate
 * only. NULL on failure. */
SSL_CTX *lossy_app_ctx(enum ts_proto proto, int native);

/* The pool of |mode| (NULL for the others); 0 or a TICKLESS_ERR_*. */
int lossy_app_pool(int mode, tickless_pool **out);

/*
 * One iteration of an application's own event loop, as OpenSSL's
 * nonblocking demos write it: poll the socket until OpenSSL's next
 * deadline (at most |max_ms|), then let OpenSSL handle what is due (QUIC:
 * SSL_handle_events; DTLS: DTLSv1_handle_timeout). |want_write| adds
 * POLLOUT. Returns 1 if a DTLS timer had expired (a flight was sent
 * again), else 0.
 */
int lossy_app_tick(SSL *ssl, enum ts_proto proto, int want_write,
                   int max_ms);

/* 1 if |ret| from an SSL call means "call again once ticked", with
 * *want_write set for SSL_ERROR_WANT_WRITE. */
int lossy_app_retry(SSL *ssl, int ret, int *want_write);

/* Computes (spins, |spin| != 0) or sleeps until |until_ns|, touching no
 * connection. */
void lossy_app_compute_until(uint64_t until_ns, int spin);

/* Sleeps |ms| milliseconds. */
void lossy_app_sleep_ms(unsigned ms);

#endif /* TICKLESS_BENCH_LOSSY_H */
