/*
 * rtt_conn.h: one QUIC client connection to the bench echo server, kept on
 * time in one of five ways, behind one small blocking interface. Shared by
 * the rtt, bulk and tick-cost scenarios (rtt.c, bulk.c, tick_cost.c).
 * Private to bench/.
 *
 * The modes differ only in who ticks OpenSSL while the caller waits:
 *  - app-driven: nobody but the caller. The SSL object is nonblocking and
 *    every wait is the loop of OpenSSL's demos/guide/quic-client-non-block.c:
 *    poll() the socket for what SSL_net_read_desired()/_write_desired() ask,
 *    for at most SSL_get_event_timeout(), then SSL_handle_events(), then try
 *    the call again. Plain OpenSSL, no tickless: the floor.
 *  - native: OSSL_QUIC_client_thread_method(), blocking SSL_read_ex and
 *    SSL_write_ex (OpenSSL's calling thread polls the socket itself; its
 *    assist thread ticks timers).
 *  - dedicated, pool-1, pool-2: tickless_conn_read/write, with a tickless
 *    thread of its own, or a pool of 1 or 2 threads.
 */
#ifndef TICKLESS_BENCH_RTT_CONN_H
#define TICKLESS_BENCH_RTT_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <tickless/tickless.h>

#include "bench.h"

enum { RC_APP, RC_NATIVE, RC_DEDICATED, RC_POOL1, RC_POOL2, RC_NMODES,
       /* Not one of the compared modes: tickless with an application-
        * driven pool (threads == 0), which tick-cost runs by hand. */
       RC_APP_POOL = RC_NMODES, RC_NALL };

typedef struct rtt_mode {
    const char *name;
    const char *what;      /* one line for --help */
    int tickless;          /* a tickless mode */
    int pool;              /* a tickless pool ... */
    unsigned pool_threads; /* ... of this many threads (0: app-driven) */
} rtt_mode;

extern const rtt_mode rtt_modes[RC_NALL];

/* All modes, as a mask of 1u << RC_*. */
#define RC_ALL_MODES ((1u << RC_NMODES) - 1)

/* "all" or "app-driven,pool-1": a mask of the first |nmodes| modes ("all":
 * every one of them). Returns 0 or -1. */
int rtt_modes_parse(const char *s, int nmodes, unsigned *mask);

/* Prints the first |nmodes| modes for --help, indented by |indent|. */
void rtt_modes_usage(FILE *out, int nmodes, int indent);

/* How long any one blocking step may take before the bench gives up. */
#define RC_STEP_TIMEOUT_MS 30000

typedef struct rtt_conn {
    int mode;
    SSL_CTX *ctx;
    SSL *ssl;            /* app-driven, native: ours; tickless: the conn's */
    tickless_pool *pool; /* pool modes */
    tickless_conn *tc;   /* tickless modes: owns ssl */
    int fd;              /* the UDP socket (owned by ssl's BIO), or -1 */
    char error[256];     /* why the last call failed */
} rtt_conn;

/*
 * rtt_conn_open() flag: the client's UDP socket is not connected (OpenSSL
 * then sends to and receives from addresses it names), so datagrams from
 * any address reach OpenSSL. tick-cost sends it stray ones to make it tick.
 */
#define RC_UNCONNECTED 0x1u

/*
 * Connects to the echo server on 127.0.0.1:|port| in |mode| and completes
 * the handshake (RC_APP_POOL: by running the pool meanwhile). Returns 0, or
 * -1 with c->error set (call rtt_conn_close() all the same).
 */
int rtt_conn_open(rtt_conn *c, int mode, uint16_t port, unsigned flags);

/* Sends all |len| bytes. App-driven waits in its own poll loop, app-pool
 * runs its pool while it waits; the others block. Returns 0, or -1 with
 * c->error set. */
int rtt_conn_write(rtt_conn *c, const void *buf, size_t len);

/* Receives exactly |len| bytes. Returns 0, or -1 with c->error set. */
int rtt_conn_read(rtt_conn *c, void *buf, size_t len);

/* Receives what has come, up to |cap| bytes, waiting (as rtt_conn_read
 * does, per mode) until there is at least one: *n set. Returns 0, or -1
 * with c->error set. */
int rtt_conn_read_some(rtt_conn *c, void *buf, size_t cap, size_t *n);

/*
 * App-driven only: the one wait of the loop: poll() the socket for what
 * OpenSSL wants, up to its event timeout (at most |max_ms|), then
 * SSL_handle_events(). Used by rtt_conn_read/write and by bulk's loop.
 */
void rtt_conn_app_wait(SSL *ssl, int max_ms);

/* Datagrams the kernel dropped on the client's socket so far (receive
 * buffer full), or -1 if unknown. */
long rtt_conn_socket_drops(const rtt_conn *c);

/* Frees everything (tickless_conn_close, pool, SSL, context); no graceful
 * shutdown. Safe on a connection that failed to open. */
void rtt_conn_close(rtt_conn *c);

/* Sets c->error from a format and, if this thread has one, OpenSSL's last
 * error; clears the queue. Returns -1. */
int rtt_conn_fail(rtt_conn *c, const char *fmt, ...);

#endif /* TICKLESS_BENCH_RTT_CONN_H */
