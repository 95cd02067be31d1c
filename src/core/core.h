/* The connection: shared between the core (src/core/) and the assist
 * (src/assist/). Nothing here is public.
 *
 * A connection has three kinds of users:
 *  - application threads, in the public calls, which hold |mu| only while
 *    calling OpenSSL nonblocking and sleep on |cv| otherwise;
 *  - its assist (a dedicated thread or a pool shard), which ticks it under
 *    |mu| through conn_tick() and otherwise knows it only through |link|;
 *  - the reference count, which keeps the memory alive until the last of
 *    them has let go. */
#ifndef TICKLESS_CORE_CORE_H
#define TICKLESS_CORE_CORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "assist/heap.h"
#include "core/clock.h"
#include "core/lathist.h"
#include "core/ossl.h"
#include "core/rx_count.h"
#include "tickless/tickless.h"

struct shard;

/* Why the assist ticks a connection. */
#define TICK_TIMER 0x1u
#define TICK_IO 0x2u

/* The assist's bookkeeping for one connection. */
typedef struct conn_link {
    struct shard *shard;      /* guarded by conn->mu; NULL once detached */
    struct dedicated *owned;  /* dedicated assist owned by this conn, or NULL;
                                 set at attach, cleared by close */
    struct tickless_pool *pool; /* the pool it belongs to, or NULL; set at
                                 attach, cleared by close (conn->mu) */
    heap_node timer;          /* guarded by shard->mu */
    uint32_t slot;            /* index in shard->slots; guarded by shard->mu */
    unsigned interest;        /* IO_* registered with epoll; shard->mu */
    atomic_int deferred;      /* a tick was skipped because |mu| was busy:
                                 the next holder to release |mu| re-arms */
    /* Owned by the assist thread while it processes a batch. */
    uint64_t batch;           /* batch number that last collected it */
    unsigned reasons;         /* TICK_* collected in that batch */
    uint64_t due_ns;          /* the deadline that came due, for lateness */
} conn_link;

struct tickless_conn {
    SSL *ssl;            /* owned; freed with the connection */
    int fd;              /* the socket behind ssl; not owned by tickless */
    conn_proto proto;    /* constant */
    atomic_uint refs;    /* user handle + in-flight calls + assist */

    pthread_mutex_t mu;  /* error-checking: a same-thread relock reports */
    pthread_cond_t cv;   /* blocked callers sleep here (CLOCK_MONOTONIC) */

    /* Everything below is guarded by mu. */
    int closed;          /* tickless_conn_close() has been called */
    int shutting_down;   /* tickless_conn_shutdown() has been called */
    int fatal;           /* sticky TICKLESS_ERR_* once the connection died */
    int read_eof;        /* the peer finished sending */
    int app_locked;      /* inside tickless_conn_lock()/unlock() ... */
    pthread_t locked_by; /* ... by this thread */
    unsigned io_want;    /* IO_* that blocked DTLS/TLS callers wait for */
    uint32_t waiters;    /* callers asleep on cv ... */
    uint32_t read_waiters; /* ... of which in tickless_conn_read() */
    uint64_t wake_gen;   /* bumped by every broadcast to the waiters */
    uint64_t deadline_ns;  /* absolute; CLOCK_NEVER if none */
    unsigned immediate_ticks; /* timer ticks in a row that left the
                                 deadline already due (spin guard) */
    tickless_error_info err; /* the last failure, captured on any thread */
    uint64_t ticks, timer_ticks, io_ticks, wakeups;
    lathist lateness;
    rx_count rx;         /* QUIC: datagrams the engine took off the socket */

    conn_link link;
};

/* References. conn_unref() frees the connection when the last one goes. */
void conn_ref(tickless_conn *c);
void conn_unref(tickless_conn *c);

/* Releases |mu| on behalf of any thread but the assist: re-arms a deferred
 * tick first, so a busy mutex never loses one. Caller holds c->mu. */
void conn_unlock_mu(tickless_conn *c);

/* Wakes every blocked caller so it re-examines the connection.
 * Caller holds c->mu (unchecked). */
void conn_broadcast(tickless_conn *c);

/* The handle-events core, called by the assist with no locks held and a
 * reference on |c|. Takes c->mu with trylock: if an application holds it,
 * returns TICKLESS_ERR_BUSY without ticking (the assist then defers the
 * connection until the mutex is released). Returns 1 after a tick, 0 if
 * the connection was closed or dead and needed none. */
int conn_tick(tickless_conn *c, unsigned reasons, uint64_t due_ns);

/* Re-reads OpenSSL's deadline and what the socket is needed for, and hands
 * both to the assist. Caller holds c->mu (unchecked). */
void conn_publish(tickless_conn *c);

/* Error capture (conn_error.c). Caller holds c->mu. |ret| is what the
 * failed SSL_* call returned. Returns IO_READ / IO_WRITE (as a positive
 * number) when OpenSSL merely wants the socket, or a TICKLESS_ERR_* code,
 * which is recorded and, for fatal ones, made sticky. */
int conn_ssl_result(tickless_conn *c, int ret);

/* Records a failure seen by the assist thread (OpenSSL's error queue is
 * per thread, so it is captured here or lost). Caller holds c->mu. */
void conn_capture_assist_error(tickless_conn *c);

/* Records |code| with a message in c->err. Caller holds c->mu. */
void conn_set_error(tickless_conn *c, int code, int ssl_error,
                    const char *message);

#endif
