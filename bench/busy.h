/*
 * busy.h: what the halves of the busy scenario share. busy.c parses the
 * options, forks a path (server + relay) and a client process per
 * (protocol, mode) and prints the tables; busy_quic.c and busy_dtls.c are
 * the client processes. Private to bench/.
 */
#ifndef TICKLESS_BENCH_BUSY_H
#define TICKLESS_BENCH_BUSY_H

#include "lossy.h"

typedef struct busy_opts {
    unsigned modes;       /* 1u << LOSSY_* */
    int quic, dtls;       /* which protocols to run */
    unsigned payload;     /* bytes the application writes */
    unsigned busy_ms;     /* how long it computes */
    unsigned loss_pct;    /* per datagram, each way, in % */
    unsigned delay_ms;    /* one way */
    unsigned sample_ms;   /* the time series' step */
    unsigned give_up_ms;  /* after the busy period */
    unsigned dtls_msg;    /* DTLS: bytes per write (one record each) */
    int spin;             /* compute by spinning (1) or sleeping (0) */
    bench_common_opts common;
} busy_opts;

/* What a client process sends back. Plain data: it crosses a pipe. */
typedef struct busy_result {
    int ok;
    char error[256];
    /* Times in ns from t0: QUIC, the start of the write; DTLS, the start
     * of the handshake. 0 for "never" where noted. */
    uint64_t hs_ns;          /* QUIC: handshake, before t0 (a duration) */
    uint64_t written_ns;     /* the write call(s) returned (DTLS: after
                              * the busy period) */
    uint64_t busy_from_ns, busy_to_ns; /* the computation */
    uint64_t at_busy_end;    /* bytes the server had when it ended */
    uint64_t hs_at_busy_end; /* handshakes the server had completed then */
    int client_ready;        /* DTLS: the client's handshake was complete
                              * when the computation ended */
    uint64_t server_hs_ns;   /* DTLS: server completed the handshake; 0:
                              * never */
    uint64_t all_ns;         /* QUIC: the server had every byte; 0: not
                              * within the give-up time */
    uint64_t last_ns;        /* the server's count last grew */
    uint64_t received;       /* bytes the server had at the end */
    uint64_t sent;           /* bytes the application handed over */
    uint64_t pattern_errors;
    uint64_t forwarded, dropped; /* the relay's datagrams */
    int have_ticks;          /* tickless modes: the assist's ticks of the
                              * connection during the computation */
    uint64_t busy_ticks, busy_timer_ticks;
    unsigned sample_ms;
    size_t nsamples;
    uint64_t samples[LOSSY_MAX_SAMPLES]; /* server bytes at t0 + k * step */
} busy_result;

typedef struct busy_client_args {
    const busy_opts *o;
    int mode;
    lossy_path *path;
} busy_client_args;

/* The client processes' bodies, for bench_run_child(): |arg| is a
 * busy_client_args, |result| a busy_result of |len| bytes. Return 0, or
 * -1 with result->error set. */
int busy_quic_main(void *arg, void *result, size_t len);
int busy_dtls_main(void *arg, void *result, size_t len);

/* Sets res->error (with OpenSSL's reason, if this thread has one); -1. */
int busy_fail(busy_result *res, const char *fmt, ...);

/* The same with a tickless code and the connection's captured error. */
int busy_fail_tickless(busy_result *res, tickless_conn *c, const char *what,
                       int rc);

/* Reads |c|'s tick counters (NULL: nothing) into *ticks, *timer_ticks. */
void busy_ticks(tickless_conn *c, uint64_t *ticks, uint64_t *timer_ticks);

/* Fetches the time series into |res|; 0 or -1. */
int busy_collect(busy_result *res, lossy_path *path, uint64_t t0);

#endif /* TICKLESS_BENCH_BUSY_H */
