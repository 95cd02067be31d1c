/* The connection: shared between the core (src/core/) and the assist
 * (src/assist/). Nothing here is public. docs/design.md draws the seam
 * between the two, and the lock order.
 *
 * Engines and members
 * -------------------
 * OpenSSL ticks a QUIC *engine*: a client connection with all its streams,
 * or a listener with every connection accepted from it (one socket, one
 * lock). tickless mirrors that. An engine is a tickless_conn whose |engine|
 * points at itself: it owns the mutex, is known to the assist, and carries
 * the deadline, the socket interest and the tick counters. A connection
 * accepted from a tickless_listener is a *member*: its |engine| is the
 * listener's engine object, whose mutex it uses and which it keeps alive.
 * A client connection is its own engine; DTLS and TLS are always their own.
 *
 * Callers sleep on a wait queue (waitq): each connection has one for its
 * calls and one for accepts (connections on a listener, streams on a
 * connection); each stream has its own. A waitq
 * with sleepers is linked on its engine's |sleeping| list. After a tick the
 * engine wakes only the queues whose object can now make progress (data to
 * read, room to write, a connection to accept), so a thread blocked on one
 * of a listener's 100 connections is not woken for the other 99.
 *
 * A connection has three kinds of users:
 *  - application threads, in the public calls, which hold the engine's |mu|
 *    only while calling OpenSSL nonblocking and sleep on a waitq otherwise;
 *  - its engine's assist (a dedicated thread or a pool shard), which ticks
 *    the engine under |mu| through tl_conn_tick();
 *  - the reference count, which keeps the memory alive until the last of
 *    them has let go. */
#ifndef TICKLESS_CORE_CORE_H
#define TICKLESS_CORE_CORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "assist/assist.h"
#include "base/clock.h"
#include "base/handle.h"
#include "base/lathist.h"
#include "core/accept_hub.h"
#include "core/ossl.h"
#include "core/rx_count.h"
#include "core/tx_held.h"
#include "tickless/tickless.h"

/* Wait queue kinds: what its predicate (waitq_ready()) looks at. */
typedef enum waitq_kind {
    WQ_IO,            /* read/write/handshake/shutdown on a conn or stream */
    WQ_ACCEPT_STREAM, /* tickless_stream_accept() on a QUIC connection */
    WQ_ACCEPT_CONN,   /* tickless_listener_accept() on a listener engine */
    WQ_SERVE_STREAM   /* tickless_listener_accept_stream(): a stream of any
                         connection the listener serves (stream_server.c) */
} waitq_kind;

/* Where callers sleep. Guarded by the engine's mu. */
typedef struct waitq {
    pthread_cond_t cv;    /* CLOCK_MONOTONIC */
    uint64_t gen;         /* bumped by every wake */
    uint32_t waiters;     /* asleep now ... */
    uint32_t readers;     /* ... of which waiting for data to read */
    uint32_t writers;     /* ... of which waiting for room to write */
    waitq_kind kind;
    SSL *ssl;             /* the object the predicate inspects */
    struct tickless_conn *owner;      /* the connection it belongs to */
    int poll_fd;          /* its sleeper polls the socket itself (self_poll.h)
                             and this descriptor wakes it; -1 if not */
    const void *writer;   /* the write call whose turn it is (see
                             tl_conn_run()), or NULL */
    uint64_t write_room;  /* QUIC: the free send-buffer space when its
                             writer was last refused; a writer is woken
                             for more room than that, not for any */
    struct waitq *prev, *next;        /* on the engine's sleeping list
                                         while waiters > 0 */
} waitq;

struct tickless_conn {
    handle h;            /* live until tickless_conn_close() (handle.h) */
    SSL *ssl;            /* owned; freed with the connection */
    int fd;              /* the socket behind ssl; not owned by tickless */
    conn_proto proto;    /* constant */
    atomic_uint refs;    /* user handle + in-flight calls + assist + members
                            + streams; never raised from zero again
                            (tl_ref_take_live(), handle.h) */
    atomic_int close_claimed; /* tickless_conn_close() has begun: a second
                                 close, from any thread, is refused */
    struct tickless_conn *engine; /* self, or the listener engine this
                                     accepted connection belongs to (a
                                     reference is held); constant */
    pthread_mutex_t mu;  /* the engine's lock (used when engine == self);
                            error-checking: a same-thread relock reports */

    /* Everything below is guarded by engine->mu. */
    waitq wq;            /* callers of handshake/read/write/shutdown */
    waitq accept_wq;     /* connection accepts (listener engine), or
                            stream accepts (QUIC connection) */
    int closed;          /* tickless_conn_close()/listener_close() called */
    int shutting_down;   /* tickless_conn_shutdown() has been called */
    int fatal;           /* sticky TICKLESS_ERR_* once the connection died */
    int read_eof;        /* the peer finished sending */
    int uses_streams;    /* QUIC: switched to tickless_stream_* (no
                            default stream); see stream.c */
    int app_locked;      /* inside tickless_conn_lock()/unlock() ... */
    pthread_t locked_by; /* ... by this thread */
    tickless_error_info err; /* the last failure, captured on any thread */
    tx_held tx;          /* DTLS/TLS: credited bytes OpenSSL has not taken
                            yet (tx_held.h) */

    /* Engine only. */
    int is_listener;     /* ssl is a QUIC listener (a listener's shard) */
    accept_hub *hub;     /* listener: where its accepts sleep (the
                            listener's, shared by its shards); constant */
    uint64_t (*now)(void); /* the clock this engine's deadlines, hand-offs
                              and lateness are judged by, as OpenSSL's
                              QUIC channel has its now_cb: tl_clock_now_ns,
                              or a unit test's own */
    unsigned io_want;    /* IO_* that blocked DTLS/TLS callers wait for */
    uint64_t deadline_ns;  /* OpenSSL's, absolute; CLOCK_NEVER if none */
    uint64_t driven_until_ns; /* QUIC client: the end of the hand-off
                                 (HANDOFF_NS) that an application call
                                 began; until then the socket is left to
                                 the application's own calls (see
                                 tl_conn_publish()); 0: not handed off */
    uint64_t handoff_ns; /* that hand-off's length (tl_conn_hand_off()) */
    uint64_t hs_retry_at_ns; /* DTLS/TLS: a callback or async job put off
                                the handshake the assist carries on
                                (CONN_RETRY, see hs_step()); tick it
                                again then. 0: nothing put off */
    unsigned immediate_ticks; /* timer ticks in a row that left the
                                 deadline already due (spin guard) */
    int kicked;          /* tick at once: see tl_engine_kick() */
    uint64_t publish_seq; /* decisions made so far (tick_decision.seq) */
    atomic_int app_held; /* |mu| is held through tickless_conn_lock() (by
                            this engine or a member): the assist must not
                            wait for it (see tl_conn_tick()) */
    uint64_t ticks, timer_ticks, io_ticks, wakeups;
    lathist lateness;
    rx_count rx;         /* QUIC: datagrams the engine took off the socket */
    waitq *sleeping;     /* wait queues with sleepers */
    waitq *polling;      /* the queue whose lone caller polls the socket
                            itself, the assist standing by; see
                            self_poll.h */
    struct tickless_conn *members; /* listener: its accepted connections
                                      whose SSL objects still live */

    uint64_t serve_turns; /* listener: streams handed out by
                             tickless_listener_accept_stream() so far */

    /* Member only: links on the engine's |members| list (engine->mu). */
    struct tickless_conn *member_prev, *member_next;
    int served;          /* adopted by tickless_listener_accept_stream():
                            the listener holds its handle (stream_server.c) */
    unsigned open_streams; /* its tickless_streams not yet closed */
    uint64_t served_turn; /* serve_turns when it last gave a stream out:
                             the least recently served goes first */

    assist_link link;    /* the assist's; the core only initialises it */
};

/* The engine's mutex, which guards |c| too. */
static inline pthread_mutex_t *conn_mu(tickless_conn *c)
{
    return &c->engine->mu;
}

/* Closed locally: the connection, or the listener it was accepted from. */
static inline int conn_is_closed(const tickless_conn *c)
{
    return c->closed || c->engine->closed;
}

/* Whether member |m|, served by its listener (stream_server.c), has ended
 * with no stream left open: the listener then gives its handle back. */
static inline int conn_served_finished(tickless_conn *m)
{
    return m->open_streams == 0 && tl_ossl_quic_terminated(m->ssl);
}

/* The check a public function makes of the connection it is given before
 * its other arguments, for calls that enter later or not at all (step 1
 * of the guard, handle.h): 0, or TICKLESS_ERR_INVALID (NULL, closed, not a
 * connection: the last two logged as the misuse of |fn|) or
 * TICKLESS_ERR_FORKED. */
static inline int tl_conn_check(const tickless_conn *c, const char *fn)
{
    return tl_handle_check(c != NULL ? &c->h : NULL, HANDLE_CONN, fn);
}

/* The check every read and write makes of its buffer and count, before
 * its handle: 0 or TICKLESS_ERR_INVALID. *ndone is zeroed first, so that
 * it is right whatever the call returns. */
static inline int tl_io_args_check(const void *buf, size_t len,
                                   size_t *ndone)
{
    if (ndone != NULL)
        *ndone = 0;
    return buf == NULL || ndone == NULL || len == 0 ? TICKLESS_ERR_INVALID
                                                    : 0;
}

/* References. tl_conn_unref() frees the connection when the last one goes. */
void tl_conn_ref(tickless_conn *c);
void tl_conn_unref(tickless_conn *c);

/* Entering a connection, or a listener's engine (which is one): the guard
 * of handle.h, on behalf of public function |fn|. Its reference is on |c|,
 * its lock the engine's mutex, and closed is conn_is_closed(). Returns 0
 * or HANDLE_HELD (|flags| HANDLE_MAY_HOLD) holding both, or
 * TICKLESS_ERR_INVALID (a bad handle, or a thread that holds the mutex
 * through tickless_conn_lock()), _FORKED, _CLOSED (a close got there
 * first: it gave back the last reference, or, unless HANDLE_CLOSED_OK,
 * marked |c| closed before the call got the mutex) or _SYS. Leave with
 * tl_conn_exit(c, what it returned). */
static inline int tl_conn_enter(tickless_conn *c, const char *fn,
                                unsigned flags)
{
    return tl_handle_enter(c, HANDLE_CONN, fn, flags);
}

static inline void tl_conn_exit(tickless_conn *c, int entered)
{
    tl_handle_exit(c, entered);
}

/* The same for a stream (stream.c): the reference is the stream's own
 * (which holds one on its connection), the lock its engine's mutex, and
 * closed is the stream's tickless_stream_close() or its connection's
 * conn_is_closed(). */
static inline int tl_stream_enter(struct tickless_stream *s,
                                  const char *fn, unsigned flags)
{
    return tl_handle_enter(s, HANDLE_STREAM, fn, flags);
}

static inline void tl_stream_exit(struct tickless_stream *s, int entered)
{
    tl_handle_exit(s, entered);
}

/* Wait queues (waitq.c). All callers hold the engine's mu. */
int tl_waitq_init(waitq *wq, waitq_kind kind, SSL *ssl, tickless_conn *owner);
void tl_waitq_destroy(waitq *wq);
/* Counts a sleeper in; |want| is IO_READ, IO_WRITE or 0 (anything else). */
void tl_waitq_enter(tickless_conn *engine, waitq *wq, unsigned want);
void tl_waitq_leave(tickless_conn *engine, waitq *wq, unsigned want);
/* Wakes every sleeper of |wq|, whether asleep on its condition variable
 * or polling the socket (its poll_fd, self_poll.h). */
void tl_waitq_wake(waitq *wq);
/* Wakes only the thread polling for |wq|, if any, without a new
 * generation: it looks again whether it may go on polling
 * (tl_waitq_alone()), and stands down if not. Waking its queue instead
 * would wake the other sleepers too, who would come back, find the
 * poller, and wake everyone again. */
void tl_waitq_wake_poller(waitq *wq);
/* Whether the sleeper of |wq|, polling |engine|'s socket or about to, is
 * all the socket is needed for: nobody else sleeps on the engine, and no
 * held write (tx_held.h) waits for room. A poller that is not alone any
 * more stands down, so that the assist watches the socket for everyone:
 * one poller watching only for its own readiness would leave a writer
 * behind a reader (or a reader behind a writer) asleep. */
int tl_waitq_alone(const tickless_conn *engine, const waitq *wq);
/* Whether a QUIC accept queue (any kind but WQ_IO) of engine |engine| has
 * something for its sleepers: a connection or stream to accept, or a
 * stream to serve. The getters may queue OpenSSL errors: they are
 * questions, not failures, and the caller pops them (ERR_set_mark()). */
int tl_waitq_accept_ready(tickless_conn *engine, const waitq *wq);
/* After the engine processed input or timers: wakes the queues whose
 * object can now make progress. */
void tl_engine_wake_ready(tickless_conn *engine);
/* After an application call that took no input itself: wakes the QUIC
 * queues whose object can make progress now (an earlier call may have
 * received data that only this call's tick filed into a stream). Never
 * wakes a queue on speculation, so callers cannot wake each other in a
 * loop. */
void tl_engine_wake_progress(tickless_conn *engine);
/* Wakes every queue that belongs to |owner| (close, shutdown). */
void tl_engine_wake_owned(tickless_conn *engine, tickless_conn *owner);

/* A connection that is its own engine, attached to an assist (a dedicated
 * thread when |pool| is NULL; pool shard |place|, or the least loaded when
 * |place| < 0). With |hub|, a QUIC listener (a shard of one: its accepts
 * sleep on |hub|). Takes |ssl| on success. */
int tl_conn_new_engine(SSL *ssl, conn_proto proto, int fd, tickless_pool *pool,
                       accept_hub *hub, int place, tickless_conn **out);

/* Whether anyone waits on engine |e|: a caller asleep on one of its
 * queues, or, for a listener's shard, an accept under way on its hub. */
int tl_engine_watched(tickless_conn *e);

/* A connection accepted from a listener engine. Takes |ssl| on success.
 * Caller holds engine->mu. */
int tl_conn_new_member(SSL *ssl, tickless_conn *engine, tickless_conn **out);

/* What tickless_conn_close() does, for a member the listener serves
 * (stream_server.c), whose handle nobody else has: its blocked calls (none
 * but its streams') see it closed, and its SSL object goes with the last
 * reference (a stream's, or this one). Caller holds the engine's mu, which
 * stays held. */
void tl_conn_release_served(tickless_conn *m);

/* One blocking-style call (conn_io.c): which connection, which object,
 * where to sleep. */
typedef struct conn_call {
    tickless_conn *c;        /* the connection (errors, closed, fatal) */
    SSL *ssl;                /* the object the operation works on */
    waitq *wq;               /* where the caller sleeps */
    const int *also_closed;  /* a stream's own closed flag, or NULL */
    const int *write_ended;  /* a stream's "we ended writing" flag, or NULL */
    unsigned kind;           /* IO_READ: a read; IO_WRITE: a write; 0 */
    struct tickless_stream *stream; /* the stream called on, or NULL */
    const char *fn;          /* the public function, for the misuse log */
} conn_call;

/* What an attempt returns when OpenSSL wants to be called again, not the
 * socket: an application callback deferred (a certificate or client-hello
 * callback, a verify callback that called SSL_set_retry_verify(), an
 * async job). Nothing will say when it is ready, so a blocked caller tries
 * again every CONN_RETRY_NS (tl_conn_run()). */
#define CONN_RETRY 0x4u
#define CONN_RETRY_NS NS_PER_MS

/* One attempt, under the engine's mu. Returns 0 when done, IO_READ or
 * IO_WRITE (positive) to wait, CONN_RETRY to try again soon, or a
 * TICKLESS_ERR_* code. */
typedef int (*conn_op)(conn_call *call, void *arg);

/* Runs |op| until done, failed, timed out or closed. Enters the handle
 * called on (|call->stream|, or else |call->c|: tl_stream_enter(),
 * tl_conn_enter()) and leaves it before returning. */
int tl_conn_run(conn_call *call, int timeout_ms, conn_op op, void *arg);

/*
 * How long the assist leaves a QUIC client's socket to the application
 * after one of its calls. Each call ticks OpenSSL itself (implicit event
 * handling), so while an application keeps calling, an assist that also
 * read the socket would only fight it for the mutex and the datagrams
 * (docs/benchmarks.md, "bulk: the hand-off"). So the end of a call that
 * got through (conn_leave(): not one that timed out or failed, nor any on
 * an application-driven pool) drops the socket from the assist's interest
 * and sets its timer to the end of the hand-off (OpenSSL's own deadline,
 * if earlier, still comes first: timers are never handed off); if no call
 * came meanwhile, the assist then ticks and takes the socket back.
 *
 * The hand-off lasts HANDOFF_NS after a pause, and doubles with each call
 * that comes before it ends, up to HANDOFF_MAX_NS (tl_conn_hand_off()):
 * an assist woken at the end of a hand-off that a later call extended
 * only sleeps again, and an application that calls every few microseconds
 * would otherwise wake it every HANDOFF_NS for nothing. A datagram that
 * comes after a call therefore waits at most HANDOFF_MAX_NS, and only if
 * the application stops calling without blocking in a call (a blocked
 * caller hands the socket back at once, or polls it itself); one that
 * comes to an idle connection does not wait at all. The longest is well
 * under QUIC's default max_ack_delay (25 ms), which the peer allows for
 * our acknowledgements anyway. QUIC's own timer granularity is 1 ms.
 */
#define HANDOFF_NS NS_PER_MS
#define HANDOFF_MAX_NS (8 * NS_PER_MS)

/* Hands engine |c|'s socket to the application's calls from |now| on (see
 * HANDOFF_NS): for the end of a call that got through. Caller holds
 * c->mu; the next publish tells the assist. */
void tl_conn_hand_off(tickless_conn *c, uint64_t now);

/* The handle-events core, called by the assist on an engine with no locks
 * held and a reference on |c|. *reasons and *due_ns say why (TICK_*) and,
 * for TICK_TIMER, which deadline came due; on return they say what the
 * tick was: TICK_TIMER only if OpenSSL's deadline was due (*due_ns then
 * that deadline, for lateness), TICK_IO if the socket was read for any
 * other reason (readiness, or the end of a hand-off, see HANDOFF_NS).
 * If an application holds the mutex through tickless_conn_lock() (for as
 * long as it likes), returns TICKLESS_ERR_BUSY without ticking: the assist
 * then defers the connection and tickless_conn_unlock() re-arms it. A
 * mutex held by a tickless call is let go within a few OpenSSL calls, so
 * the assist waits for it: deferring there would race with the caller
 * going to sleep. Returns 1 after a tick, 0 if none was needed (closed,
 * dead, or the application is still driving the connection); either way
 * *next is what the assist should do next, which the assist applies
 * itself (seq 0: nothing to apply: the connection is closed or detached,
 * or the tick did not happen, TICKLESS_ERR_BUSY or _SYS). Lateness,
 * hand-offs and the next deadline are judged by the engine's clock,
 * c->now. */
int tl_conn_tick(tickless_conn *c, unsigned *reasons, uint64_t *due_ns,
                 tick_decision *next);

/* What the assist may ask of a connection (assist/assist.h; conn.c): its
 * tick is tl_conn_tick(), and it holds references as any user does. */
extern const assist_client tl_conn_assist_client;

/* The tick itself, whoever ticks: the assist through tl_conn_tick(), or a
 * caller that polled the socket itself (self_poll.h) once it is ready.
 * Counts it, calls OpenSSL for |reasons| (TICK_*), carries a DTLS/TLS
 * handshake and held write bytes on, and wakes the callers who can now
 * make progress. |e| is an engine; caller holds e->mu; it publishes
 * afterwards. */
void tl_engine_tick_locked(tickless_conn *e, unsigned reasons);

/* What the assist should do next for engine |c| at time |now| (see
 * tick_decision): OpenSSL's deadline, or the end of a hand-off, or one
 * spin-guard step later; and the socket interest. Counts a decision
 * (publish_seq); sets d->seq to 0 if nothing is to be told (closed, or
 * no assist). Caller holds c->mu. Time is a parameter, so that unit tests
 * drive it. */
void tl_conn_decide(tickless_conn *c, uint64_t now, tick_decision *d);

/* Re-reads OpenSSL's deadline and what the socket is needed for, and hands
 * both to the assist: for application threads, whose calls change them
 * (the assist's own tick returns them instead, see tl_conn_tick()). |c|
 * is an engine; caller holds c->mu (unchecked). */
void tl_conn_publish(tickless_conn *c);

/* Releases the engine's mutex on behalf of any thread but the assist:
 * re-arms a deferred tick first, so a busy mutex never loses one. Caller
 * holds conn_mu(c). Rule: every application-side release of an engine
 * mutex goes through here (or publishes itself, as conn_leave() does). */
void tl_conn_unlock_mu(tickless_conn *c);

/* Asks for a tick of |e| as soon as the mutex is released. For QUIC calls
 * that queue frames without ticking (accepting or freeing a stream grants
 * the peer more streams; a reset queues RESET_STREAM): OpenSSL's deadline
 * is cached from the last tick and does not show them, so without a kick
 * they would wait for the next timer, seconds away. Caller holds e->mu. */
void tl_engine_kick(tickless_conn *e);

/* Held writes (tx_held.c; see tx_held.h). tl_conn_tx_init() gives a DTLS/TLS
 * connection its buffer (0 or TICKLESS_ERR_NOMEM); the others are called
 * with the engine's mu held. tl_conn_tx_hold() keeps |len| <= TX_HELD_MAX
 * bytes that met WANT_READ or WANT_WRITE (|want|) from SSL_write_ex();
 * tl_conn_tx_flush() hands the held bytes to OpenSSL and returns 0 once none
 * are held, IO_READ / IO_WRITE to wait, or a TICKLESS_ERR_* code (as
 * tl_conn_ssl_result()). */
int tl_conn_tx_init(tickless_conn *c);
void tl_conn_tx_free(tickless_conn *c);
void tl_conn_tx_hold(tickless_conn *c, const unsigned char *chunk, size_t len,
                     unsigned want);
int tl_conn_tx_flush(tickless_conn *c);
/* One attempt to hand the held bytes over, for whoever holds the mutex
 * anyway (the assist's tick, the end of any call, a lock): they reach the
 * peer even if nobody writes again, and tx.want stays what OpenSSL waits
 * for now (a handshake that a caller finished no longer leaves them
 * waiting for input). A failure is recorded as a writer's would be
 * (sticky); the writers learn of it from their next call. Nothing on a
 * closed or dead connection. TLS callers block SIGPIPE around it. */
void tl_conn_tx_step(tickless_conn *c);

/* Error capture (conn_error.c). Caller holds c->mu. |ret| is what the
 * failed SSL_* call returned. Returns IO_READ / IO_WRITE (as a positive
 * number) when OpenSSL merely wants the socket, CONN_RETRY when it wants
 * to be called again (see there), or a TICKLESS_ERR_* code,
 * which is recorded and, for fatal ones, made sticky. */
int tl_conn_ssl_result(tickless_conn *c, SSL *ssl, int ret);

/* The failure part of tl_conn_ssl_result(), for a known |ssl_error| other
 * than the WANTs and ZERO_RETURN (|saved_errno|: errno right after the
 * failed call). Returns the TICKLESS_ERR_* code, recorded as there. */
int tl_conn_ssl_error(tickless_conn *c, int ssl_error, int saved_errno);

/* QUIC: if the connection has terminated (closed by either side, idle
 * timeout), records why and returns the TICKLESS_ERR_* code for it (sticky
 * unless it was our own shutdown); 0 while it lives. For calls that are not
 * I/O (accepting or opening a stream): SSL_get_error() reports the last
 * I/O call's result for those, which may be a stale WANT_READ. Caller
 * holds c->mu. */
int tl_conn_quic_ended(tickless_conn *c);

/* Records a failure seen by the assist thread (OpenSSL's error queue is
 * per thread, so it is captured here or lost). Caller holds c->mu. */
void tl_conn_capture_assist_error(tickless_conn *c);

/* Makes |code| the connection's sticky verdict, unless it already has one,
 * and reports it to the log callback. Caller holds c->mu. */
void tl_conn_make_fatal(tickless_conn *c, int code);

/* Records |code| with a message in c->err. Caller holds c->mu. */
void tl_conn_set_error(tickless_conn *c, int code, int ssl_error,
                       const char *message);

/* Streams (stream.c), for the listener's stream server. Caller holds the
 * engine's mu. tl_conn_use_streams() makes |c| a stream container (no
 * default stream, incoming streams queued); tl_stream_wrap() gives a
 * stream object of |c| a handle (0, or TICKLESS_ERR_NOMEM / _SYS, the
 * object then still the caller's). */
int tl_conn_use_streams(tickless_conn *c);
int tl_stream_wrap(tickless_conn *c, SSL *ssl, struct tickless_stream **out);

/* The listener's stream server (stream_server.c): connections adopted by
 * tickless_listener_accept_stream() and the streams it hands out. Caller
 * holds the listener engine's mu. (Whether such a call has something to do
 * is a wait queue's question: WQ_SERVE_STREAM, waitq.c.)
 *  - tl_serve_next_stream(): the conn_op of tickless_listener_accept_stream()
 *    on the engine (|arg|: the tickless_stream ** to fill);
 *  - tl_serve_release_all(): the listener is being freed: its handles on
 *    the members it serves are given back. */
int tl_serve_next_stream(conn_call *call, void *arg);
void tl_serve_release_all(tickless_conn *e);

/* A QUIC listener of |n| shards, one for each of |ssls| (QUIC listeners,
 * each on a socket of its own), shard i on pool shard i (listener.c).
 * *taken: how many of |ssls| it took, from the first: all on success; on
 * failure those it took are freed, and the rest stay the caller's. */
int tl_listener_new_shards(SSL *const *ssls, unsigned n, tickless_pool *pool,
                           tickless_listener **out, unsigned *taken);

#endif
