/*
 * tickless: a background reactor for OpenSSL QUIC, DTLS and TLS connections.
 *
 * Copyright the tickless developers. Licensed under the Apache License 2.0.
 */
#ifndef TICKLESS_TICKLESS_H
#define TICKLESS_TICKLESS_H

/*
 * What problem this solves
 * ------------------------
 * OpenSSL's QUIC and DTLS objects keep timers: loss detection, ACK delay,
 * keep-alive PINGs, handshake retransmission. A timer only fires when some
 * thread calls SSL_handle_events() (DTLSv1_handle_timeout() before OpenSSL
 * 3.2) at the moment SSL_get_event_timeout() names. An application that blocks
 * elsewhere, or computes for a while, lets its connections stall or die.
 *
 * The two layers
 * --------------
 * A tickless_conn wraps one SSL object, its socket, a mutex and a condition
 * variable. Application threads call the blocking-style functions below
 * (handshake, read, write, shutdown) from any thread. Each of them runs
 * OpenSSL *nonblocking* under the connection mutex and, when OpenSSL cannot
 * make progress yet, sleeps on the condition variable. Application calls never
 * wait for a timer themselves.
 *
 * An *assist thread* does the ticking. It sleeps in a single system call
 * (a pool thread in epoll_pwait2(), a dedicated thread in ppoll() on its
 * socket and a timerfd) until the earliest of: the connection's next
 * OpenSSL deadline
 * (nanosecond resolution), readiness of the socket for what OpenSSL or a
 * blocked caller needs, or a wake-up from another thread. Then it takes the
 * connection mutex, calls the handle-events core, re-reads deadline and
 * interest, and wakes the blocked callers. Whenever an application call moves
 * the deadline earlier than the one the assist sleeps on, the assist's
 * timer is moved earlier at once (it is not woken for that), so no
 * retransmission is ever late because of a stale sleep.
 * QUIC calls tick OpenSSL themselves, so for a while after each call (1 ms
 * after a pause, up to 8 ms while calls keep coming) the assist leaves a
 * QUIC client's socket to the application (its timers stay with the
 * assist) and then takes it back: see docs/guide.md.
 *
 * With pool == NULL a connection gets a dedicated assist thread, which
 * costs the process that thread and one descriptor (its timerfd) beside
 * the connection's socket. A pool (tickless_pool, see the pool functions)
 * shares a few assist threads among many connections.
 *
 * Which thread runs what
 * ----------------------
 *  - Application threads: every public function. OpenSSL calls they cause run
 *    under the connection mutex, nonblocking.
 *  - The assist thread: SSL_handle_events() / DTLSv1_handle_timeout() under
 *    the connection mutex, and SSL_do_handshake() for a DTLS/TLS handshake
 *    the application has started (so it completes while nobody waits in
 *    tickless_conn_handshake()); never anything else of the application's.
 *  - tickless_connect()'s lookup helper, a short-lived thread per call
 *    that looks up a host name: getaddrinfo() and nothing else; it takes
 *    no lock of a connection's or an assist's.
 *  - Nobody ever makes a blocking OpenSSL call while holding the mutex, and no
 *    thread ever sleeps while holding it.
 *
 * Lock order
 * ----------
 *  connection mutex  ->  assist (shard) mutex.
 * The assist never holds two connection mutexes at once and holds none while
 * it sleeps. An application that holds a connection through
 * tickless_conn_lock() may call any SSL_* function on it, but no other
 * tickless function on the same connection (that returns
 * TICKLESS_ERR_INVALID rather than deadlocking).
 *
 * Errors
 * ------
 * Every function that can fail returns 0 or a negative TICKLESS_ERR_* code.
 * OpenSSL's error queue is per thread; failures seen by the assist thread are
 * captured into the connection and returned to whichever application thread
 * asks next (tickless_conn_error()). Fatal errors are sticky: once a
 * connection has failed, every later call returns the same code.
 *
 * fork()
 * ------
 * A child process inherits tickless's objects but not the threads that run
 * them (and maybe a mutex one of them held). In the child every function
 * given a connection, listener or pool made before the fork() returns
 * TICKLESS_ERR_FORKED at once (close/free/unlock do nothing: the child's
 * copy is simply not used), never touching their locks; the parent goes on
 * unaffected. The child may make new objects, and exec() as usual.
 *
 * Handles given back
 * ------------------
 * A connection, stream, listener or pool must not be used once it has been
 * given back (tickless_conn_close(), tickless_stream_close(),
 * tickless_listener_free(), tickless_pool_free()). The common mistake is
 * caught anyway: the object's memory waits in a quarantine of the last 128
 * objects given back before it is freed, and every call that meets it (a
 * second close included), or a handle of the wrong kind, returns
 * TICKLESS_ERR_INVALID (a function that returns nothing does nothing) and
 * reports an error through tickless_set_log(). A call on a connection or
 * stream that races its close, started on another thread before
 * tickless_conn_close() or tickless_stream_close() returned, is safe: it
 * returns TICKLESS_ERR_CLOSED (a state reader such as tickless_conn_stats()
 * may still read the state). Pools and listeners are freed once, by one
 * thread, when no other call on them is under way (see their functions). A
 * handle whose memory has left the quarantine cannot be caught: that is a
 * use after free.
 *
 * Writes
 * ------
 * A write call (tickless_conn_write(), tickless_stream_write()) writes one
 * object: a connection's only stream (TLS, DTLS, QUIC's default stream) or
 * one QUIC stream. Several threads may write one object at once: they take
 * turns, a whole call each, so every call's bytes reach the peer in one
 * piece and in the order the turns were taken; writers of different
 * objects never wait for each other. *nwritten is always exact: the bytes
 * that are that call's, which on a timeout reach the peer ahead of any
 * later write. A DTLS write of at most DTLS_get_data_mtu() bytes is one
 * datagram; a longer one is several, each still one call's.
 *
 * Signals
 * -------
 * No OpenSSL call that tickless makes raises SIGPIPE in the application,
 * on any thread, whatever its disposition: a write into a socket the peer
 * has reset fails with TICKLESS_ERR_PEER instead. Application threads
 * block SIGPIPE around tickless's OpenSSL calls (in the blocking calls and
 * in tickless_pool_run()) and consume one that a write raised; assist
 * threads block every asynchronous signal for their whole life. SIGPIPE
 * from the application's own SSL_* calls inside tickless_conn_lock() is
 * the application's.
 */

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "tickless/version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(TICKLESS_STATIC_DEFINE)
#define TICKLESS_EXPORT
#elif defined(__GNUC__) || defined(__clang__)
#define TICKLESS_EXPORT __attribute__((visibility("default")))
#else
#define TICKLESS_EXPORT
#endif

/* A timeout of TICKLESS_FOREVER waits without limit; 0 tries exactly once. */
#define TICKLESS_FOREVER (-1)

/*
 * The error codes. Never renumbered; new codes are appended.
 * XX(name, value, message)
 */
#define TICKLESS_ERRNO_MAP(XX)                                                 \
    XX(INVALID, -1, "invalid argument")                                        \
    XX(TIMEOUT, -2, "timed out")                                               \
    XX(CLOSED, -3, "connection closed locally")                                \
    XX(EOF, -4, "peer finished sending")                                       \
    XX(PEER, -5, "peer reset the connection or it was lost")                   \
    XX(SSL, -6, "OpenSSL error")                                               \
    XX(SYS, -7, "system call failed")                                          \
    XX(NOMEM, -8, "out of memory")                                             \
    XX(UNSUPPORTED, -9, "not supported by this build or OpenSSL")              \
    XX(BUSY, -10, "resource is in use")                                        \
    XX(FORKED, -11, "object made before fork(); unusable in the child")     \
    XX(STREAM_RESET, -12, "peer reset or stopped the stream")                  \
    XX(NOT_FOUND, -13, "host name not found")                                  \
    XX(REFUSED, -14, "connection refused or address unreachable")

typedef enum tickless_errno {
#define TICKLESS_ERR_ENUM_(name, value, msg) TICKLESS_ERR_##name = value,
    TICKLESS_ERRNO_MAP(TICKLESS_ERR_ENUM_)
#undef TICKLESS_ERR_ENUM_
    TICKLESS_ERR_MIN_ = -14
} tickless_errno;

/*
 * Connections
 * -----------
 * A tickless_conn is an opaque handle for one SSL object, its socket and its
 * assist. A tickless_pool (see Pools below) is an opaque handle for a set of
 * assist threads that many connections share.
 */
typedef struct tickless_conn tickless_conn;
typedef struct tickless_pool tickless_pool;

/*
 * tickless_conn_new() wraps |ssl| in a connection and gives it an assist.
 *
 * |ssl| is a client or server QUIC connection (OpenSSL >= 3.2), or a DTLS or
 * TLS object, whose read BIO is a socket (BIO_s_socket, BIO_s_datagram, or
 * QUIC's network BIO). The handshake may or may not have started. tickless
 * switches the SSL object (QUIC) or its socket (DTLS, TLS) to nonblocking
 * mode and sets SSL_MODE_ENABLE_PARTIAL_WRITE and
 * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER; a QUIC object also gets implicit
 * event handling (OpenSSL >= 3.4), on which tickless relies: do not set it
 * to SSL_VALUE_EVENT_HANDLING_MODE_EXPLICIT afterwards. Do not use
 * OpenSSL's own thread assisted method (OSSL_QUIC_client_thread_method)
 * with tickless, nor SSL_MODE_ASYNC: OpenSSL must resume an async job on
 * the thread that started it, and tickless calls OpenSSL from the
 * application's threads and the assist's.
 *
 * pool == NULL starts a dedicated assist thread for this connection; a pool
 * attaches it to the pool's least-loaded thread (or, for an application-
 * driven pool, to the pool the application runs). Either way the connection
 * behaves the same.
 *
 * Returns: 0, or TICKLESS_ERR_INVALID (NULL argument, no socket BIO, a QUIC
 *          listener or stream object, a QUIC connection accepted from a
 *          listener: those come from tickless_listener_accept(), on the
 *          listener's assist; a freed pool), TICKLESS_ERR_BUSY (|ssl| already
 *          belongs to a tickless connection), TICKLESS_ERR_UNSUPPORTED (QUIC
 *          with an OpenSSL that has no QUIC; SSL_MODE_ASYNC set),
 *          TICKLESS_ERR_NOMEM,
 *          TICKLESS_ERR_SYS (timerfd or thread creation failed; on a pool
 *          nothing is made here),
 *          TICKLESS_ERR_CLOSED (|pool| is being freed)
 * Thread-safety: any thread
 * Blocks: no
 * Ownership: on success takes |ssl| (freed by tickless_conn_close()); on
 *            failure |ssl| remains the caller's, unchanged. The socket is
 *            closed with the SSL object only if its BIO owns it (BIO_CLOSE).
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_conn_new(SSL *ssl, tickless_pool *pool,
                                      tickless_conn **out);

/*
 * tickless_conn_handshake() completes the TLS/DTLS/QUIC handshake, as client
 * or server according to the SSL object's state. Returns at once if it is
 * already complete.
 *
 * A callback of the application's that puts the handshake off (a
 * certificate callback returning -1, a client-hello callback returning
 * SSL_CLIENT_HELLO_RETRY, a verify callback that calls
 * SSL_set_retry_verify()) is not a failure. OpenSSL cannot say when it
 * will be ready, so the call tries again about every millisecond until it
 * is, or until |timeout_ms| (TICKLESS_ERR_TIMEOUT, the connection intact;
 * with 0 it returns at once). A handshake the assist carries on in the
 * background (after a call with timeout 0) is retried by the assist, just
 * as often, so it gets past the callback with nobody calling.
 *
 * Returns: 0, or TICKLESS_ERR_INVALID | TICKLESS_ERR_TIMEOUT |
 *          TICKLESS_ERR_CLOSED | TICKLESS_ERR_PEER | TICKLESS_ERR_SSL |
 *          TICKLESS_ERR_SYS
 * Thread-safety: any thread
 * Blocks: until the handshake completes or fails, |timeout_ms|, or
 *         tickless_conn_close()
 * Ownership: none
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_conn_handshake(tickless_conn *c, int timeout_ms);

/*
 * tickless_conn_read() reads up to |len| bytes of application data. It
 * returns as soon as at least one byte is available, like recv(2). It
 * completes the handshake first if needed.
 *
 * Returns: 0 with *nread > 0, or TICKLESS_ERR_EOF with *nread == 0 when the
 *          peer has finished sending (close_notify, QUIC stream FIN), or
 *          TICKLESS_ERR_INVALID (NULL |c|, |buf| or |nread|, |len| == 0, bad
 *          timeout) | TICKLESS_ERR_TIMEOUT | TICKLESS_ERR_CLOSED |
 *          TICKLESS_ERR_PEER | TICKLESS_ERR_SSL | TICKLESS_ERR_SYS
 * Thread-safety: any thread; concurrent readers each get distinct bytes
 * Blocks: until data, EOF, an error, |timeout_ms|, or tickless_conn_close()
 * Ownership: none; *nread is always written when |nread| is not NULL
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_conn_read(tickless_conn *c, void *buf, size_t len,
                                       size_t *nread, int timeout_ms);

/*
 * tickless_conn_write() hands all |len| bytes to OpenSSL. For QUIC and TLS
 * this means they are queued for reliable delivery; for DTLS each record is
 * one datagram of at most the path's data MTU, and datagrams can be lost, as
 * DTLS allows. A DTLS write longer than that is sent as several records, so
 * a message keeps its boundaries (and is lost or delivered whole) only if
 * it fits one record: at most DTLS_get_data_mtu() bytes, which OpenSSL
 * lowers to its fallback (about 500 bytes) when handshake flights go
 * unanswered. It completes the handshake first if needed.
 *
 * What a write promises (see "Writes" at the top):
 *  - Concurrent writers take turns, a whole call each: one call's bytes
 *    reach the peer in one piece, never interleaved with another call's,
 *    and DTLS datagrams carry one call's bytes each.
 *  - *nwritten is exactly the bytes that are this call's, in order, and
 *    only those. Once all |len| are the call's it returns 0, even if some
 *    still wait in tickless for room in the socket (as a kernel's send
 *    buffer would keep them): they go out on their own. On
 *    TICKLESS_ERR_TIMEOUT (*nwritten < len) they will reach the peer ahead of
 *    anything written later, for as long as the connection lives (bytes
 *    OpenSSL had already taken into a record it could not send yet count,
 *    and tickless sends them even if nobody writes again). On
 *    TICKLESS_ERR_CLOSED, _PEER, _SSL or _SYS they were handed over, but
 *    the connection ended before all could be delivered.
 *
 * Returns: 0 with *nwritten == len, or TICKLESS_ERR_INVALID |
 *          TICKLESS_ERR_TIMEOUT (with *nwritten < len: the bytes that are
 *          this call's, see above) | TICKLESS_ERR_CLOSED | TICKLESS_ERR_PEER
 *          | TICKLESS_ERR_SSL | TICKLESS_ERR_SYS
 * Thread-safety: any thread; concurrent writers take turns, a call each
 * Blocks: until every byte is accepted, an error, |timeout_ms|, or
 *         tickless_conn_close(); a writer also waits its turn behind
 *         another call writing on the same connection (or stream)
 * Ownership: none; |buf| may be reused when the call returns
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_conn_write(tickless_conn *c, const void *buf,
                                        size_t len, size_t *nwritten,
                                        int timeout_ms);

/*
 * tickless_conn_shutdown() closes the connection gracefully. QUIC: the
 * default stream is concluded, its data flushed and acknowledged, and a
 * CONNECTION_CLOSE is sent; the call returns when the connection has
 * terminated. TLS/DTLS: a close_notify alert is sent; the peer's close_notify
 * is not awaited (read until TICKLESS_ERR_EOF first if you need it); before
 * the handshake has completed there is nothing to close and it returns 0.
 * Afterwards the connection is closed for writing: reads may still return
 * buffered data, writes return TICKLESS_ERR_CLOSED.
 *
 * Returns: 0, or TICKLESS_ERR_INVALID | TICKLESS_ERR_TIMEOUT |
 *          TICKLESS_ERR_CLOSED | TICKLESS_ERR_PEER | TICKLESS_ERR_SSL |
 *          TICKLESS_ERR_SYS
 * Thread-safety: any thread
 * Blocks: until the shutdown completes, |timeout_ms|, or
 *         tickless_conn_close()
 * Ownership: none; call tickless_conn_close() afterwards to free
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_conn_shutdown(tickless_conn *c, int timeout_ms);

/*
 * tickless_conn_close() abandons the connection: every call blocked on it
 * returns TICKLESS_ERR_CLOSED promptly, the assist forgets it, and the SSL
 * object is freed once the last of those calls has returned. A call that
 * started before the close, on any thread, returns TICKLESS_ERR_CLOSED
 * too, even if it was still waiting for the connection's mutex (held by a
 * lock section, the assist or another call) when the close ran. No
 * close_notify or CONNECTION_CLOSE is awaited: call tickless_conn_shutdown()
 * first for a graceful close. |c| must not be passed to any function that
 * starts after tickless_conn_close() has returned (see "Handles given
 * back": such a call is refused while it can be caught). NULL is ignored.
 *
 * Returns: nothing
 * Thread-safety: any thread, once per connection (a second close racing
 *                with the first is refused and logged)
 * Blocks: only until the assist has let go of the connection (a dedicated
 *         assist thread is joined); never on blocked application calls
 * Ownership: releases |c| and the SSL object it owns
 * Since: 0.1.0
 */
TICKLESS_EXPORT void tickless_conn_close(tickless_conn *c);

/*
 * tickless_conn_lock() gives the calling thread exclusive use of the SSL
 * object for any SSL_* call (SSL_get_peer_certificate, SSL_set_..., even
 * SSL_read_ex). The assist does not tick the connection meanwhile; keep the
 * section short. tickless_conn_unlock() ends it, after which the assist
 * re-reads the deadline and socket interest and blocked callers retry.
 * Do not free the SSL object or change its BIO. QUIC: the lock first
 * ticks OpenSSL, so that the section starts from what has arrived; a
 * CONNECTION_CLOSE queued there with SSL_shutdown_ex() (how a close gets
 * an error code and reason) is then not lost to packets OpenSSL would
 * otherwise read only after it. DTLS/TLS: if a
 * tickless_conn_write() timed out with bytes OpenSSL had taken but could
 * not send yet, the lock first tries to send them; should the socket still
 * be full, OpenSSL holds them through the section, and an SSL_write_ex()
 * of your own there would be taken for their retry: write through
 * tickless_conn_write() instead.
 *
 * Returns: the SSL object, or NULL if |c| is NULL, closed, or already locked
 *          by the calling thread
 * Thread-safety: any thread
 * Blocks: until no other thread is inside an OpenSSL call on |c| (short)
 * Ownership: the SSL object stays owned by |c| (a get0)
 * Since: 0.1.0
 */
TICKLESS_EXPORT SSL *tickless_conn_lock(tickless_conn *c);

/*
 * tickless_conn_unlock() ends a tickless_conn_lock() section. It must be
 * called by the thread that locked.
 *
 * Returns: nothing
 * Thread-safety: the locking thread only (unchecked beyond what the mutex
 *                reports)
 * Blocks: no
 * Ownership: none
 * Since: 0.1.0
 */
TICKLESS_EXPORT void tickless_conn_unlock(tickless_conn *c);

/*
 * tickless_stats: what the assist did for one connection. Initialise the
 * struct with TICKLESS_STATS_INIT (or set .size = sizeof(tickless_stats))
 * before passing it: the library fills only the fields that fit in .size, so
 * new fields can be added without breaking programs built against an older
 * header.
 *
 * Since: 0.1.0
 */
typedef struct tickless_stats {
    size_t size;            /* set by the caller: sizeof(tickless_stats) */
    uint64_t ticks;         /* handle-events calls made by the assist */
    uint64_t timer_ticks;   /* ... of which because a deadline came due */
    uint64_t io_ticks;      /* ... of which because the socket was ready */
    uint64_t wakeups;       /* times a call moved this connection's
                               deadline earlier than the assist's next
                               wake-up, re-arming its timer (the assist
                               thread itself is not woken for that) */
    uint64_t lateness_p50_ns; /* time from a deadline to the handle-events
                                 call it caused: median over all timer
                                 ticks so far */
    uint64_t lateness_p99_ns; /* ... its 99th percentile */
    uint64_t lateness_max_ns; /* ... its maximum */
    uint64_t deadline_ns;   /* next deadline, CLOCK_MONOTONIC ns; UINT64_MAX:
                               none */
    uint64_t assist_cpu_ns; /* CPU time of the assist thread (dedicated mode:
                               this connection's own threads, the one that
                               drove a burst such as the handshake and the
                               fresh one it handed over to; pool: the
                               connection's pool thread, shared) */
    uint64_t waiters;       /* application threads blocked on it or on
                               its streams right now */
} tickless_stats;

#define TICKLESS_STATS_INIT                                                    \
    { sizeof(tickless_stats), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }

/*
 * tickless_conn_stats() copies the connection's counters into |out|.
 *
 * Returns: 0, or TICKLESS_ERR_INVALID (NULL argument, out->size smaller
 *          than the first field, or called by the thread that holds
 *          tickless_conn_lock() on it), TICKLESS_ERR_CLOSED (another
 *          thread's tickless_conn_close() finished before this call got
 *          hold of the connection; one that got hold of it first reads the
 *          counters as they were)
 * Thread-safety: any thread
 * Blocks: briefly, on the connection mutex
 * Ownership: none
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_conn_stats(tickless_conn *c, tickless_stats *out);

/*
 * tickless_conn_stats_reset() zeroes the connection's tick counters,
 * wake-ups and lateness figures, so that the next tickless_conn_stats()
 * covers only what happened since (e.g. a steady state after a burst of
 * handshakes). The deadline, CPU time and waiters are not counters and are
 * left alone. A connection accepted from a listener shares these counters
 * with the listener's other connections (they are its engine's): the reset
 * is theirs too.
 *
 * Returns: 0, or TICKLESS_ERR_INVALID (NULL, or called by the thread that
 *          holds tickless_conn_lock() on it), TICKLESS_ERR_CLOSED (as for
 *          tickless_conn_stats())
 * Thread-safety: any thread
 * Blocks: briefly, on the connection mutex
 * Ownership: none
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_conn_stats_reset(tickless_conn *c);

/*
 * tickless_error_info: the details of a connection's last failure. Initialise
 * it with TICKLESS_ERROR_INFO_INIT (or set .size) before passing it.
 * openssl_error is the entry of OpenSSL's error queue that decided |code|:
 * the newest (ERR_peek_last_error()), unless the oldest says the peer ended
 * the connection and the newer ones are what followed (a TLS alert that
 * could not be sent to a peer already gone). |message| is that entry's
 * text, or says more where tickless knows more (QUIC: how the connection
 * ended). A QUIC peer's reason phrase appears there escaped (bytes outside
 * printable ASCII, and the backslash, as \xNN) and cut after 96
 * characters ("..."): it is the peer's text, safe to log as it is.
 *
 * Since: 0.1.0
 */
typedef struct tickless_error_info {
    size_t size;                 /* set by the caller */
    int code;                    /* TICKLESS_ERR_*, 0 if none */
    int ssl_error;               /* SSL_get_error() value, 0 if none */
    unsigned long openssl_error; /* OpenSSL error code, 0 if none */
    int sys_errno;               /* errno, 0 if none */
    uint64_t quic_error_code;    /* QUIC CONNECTION_CLOSE code, if any */
    char message[256];           /* human-readable, NUL-terminated */
    long verify_result;          /* X509_V_ERR_* of a failed certificate
                                    check (tickless_connect()), else
                                    X509_V_OK (0) */
} tickless_error_info;

#define TICKLESS_ERROR_INFO_INIT                                               \
    { sizeof(tickless_error_info), 0, 0, 0, 0, 0, { 0 }, 0 }

/*
 * tickless_conn_error() describes the error that ended the connection, or
 * the most recent error any call on it returned, captured on whatever thread
 * saw it (application or assist).
 *
 * Returns: 0 (out->code is 0 if nothing failed yet), or TICKLESS_ERR_INVALID
 *          (NULL argument, out->size too small, or called by the thread
 *          that holds tickless_conn_lock() on it), TICKLESS_ERR_CLOSED
 *          (another thread's tickless_conn_close() finished before this
 *          call got hold of the connection; one that got hold of it first
 *          still reads the record)
 * Thread-safety: any thread
 * Blocks: briefly, on the connection mutex
 * Ownership: none
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_conn_error(tickless_conn *c,
                                        tickless_error_info *out);

/*
 * Connecting in one call: tickless_connect()
 * ------------------------------------------
 * tickless_connect() does what a client otherwise writes by hand before
 * tickless_conn_new(): it resolves the host, makes a socket of the right
 * type for the SSL_CTX (UDP for QUIC and DTLS, TCP for TLS), tries every
 * address, sets up the SSL object (SNI, host name verification, ALPN,
 * QUIC's initial peer address) and completes the handshake:
 *
 *     SSL_CTX *ctx = SSL_CTX_new(OSSL_QUIC_client_method());
 *     SSL_CTX_set_default_verify_paths(ctx);     (the system's CAs)
 *     tickless_connect_options o;
 *     tickless_connect_options_defaults(&o);
 *     o.alpn = "h3";
 *     rc = tickless_connect(ctx, "example.com", "443", &o, NULL, &c, 5000);
 *
 * Addresses are tried Happy Eyeballs style (RFC 8305), IPv6 and IPv4
 * interleaved: each attempt gets attempt_delay_ms to succeed before the
 * next one starts alongside it, and the first to complete its handshake
 * wins; the others are closed. A refused or unreachable address starts
 * the next at once. UDP has no connect error, so a QUIC or DTLS address
 * that drops everything is only ever overtaken, never abandoned early:
 * that is why the attempts overlap (TLS races whole handshakes as well,
 * which also overtakes a server that accepts and never answers).
 *
 * One timeout covers it all, the name's lookup included: getaddrinfo()
 * has no timeout of its own, so a host name is looked up on a short-lived
 * helper thread that the call waits for until the timeout and no longer.
 * A lookup still running then is left to finish on that thread, which
 * frees what it holds and ends (an IP literal, or TICKLESS_FOREVER, needs
 * no thread: the lookup runs on the caller's).
 *
 * Bring your own socket, and SSL object, with tickless_conn_new() instead.
 */

/*
 * tickless_connect_options: how tickless_connect() connects. Fill it with
 * tickless_connect_options_defaults(), then change the fields you need.
 *
 * Since: 0.1.0
 */
typedef struct tickless_connect_options {
    size_t size;              /* sizeof(tickless_connect_options); set by
                                 tickless_connect_options_defaults() */
    const char *alpn;         /* protocols to offer, comma-separated
                                 ("h3,hq-interop"); NULL (default): none
                                 beyond what the SSL_CTX sets. QUIC needs
                                 one */
    int family;               /* AF_UNSPEC (default), AF_INET or AF_INET6 */
    int attempt_delay_ms;     /* how long an attempt runs alone before the
                                 next address's starts too. Default 250,
                                 at least 10 */
    int insecure_no_verify;   /* 1: do NOT verify the server's certificate
                                 or name. Anyone on the path can then
                                 impersonate the server; each such connect
                                 is logged at TICKLESS_LOG_WARN. Default 0:
                                 verify (SSL_VERIFY_PEER against the
                                 SSL_CTX's trust store, and |host|) */
    int (*ssl_setup)(SSL *ssl, void *arg); /* NULL, or called on every
                                 attempt's SSL object once tickless has set
                                 it up, before its handshake (session
                                 resumption, timers, ...). Return 1 to go
                                 on; 0 ends tickless_connect() with
                                 TICKLESS_ERR_SSL */
    void *ssl_setup_arg;      /* passed to ssl_setup */
    tickless_error_info *error; /* NULL, or where a failure is described
                                 (set .size first): which addresses were
                                 tried and what each did, errno, OpenSSL's
                                 error and verify result. code is 0 on
                                 success */
} tickless_connect_options;

/*
 * tickless_connect_options_defaults() fills |opts| with the defaults: size
 * set, no ALPN, any address family, 250 ms between attempts, verification
 * on, no ssl_setup, no error record.
 *
 * Returns: nothing
 * Thread-safety: any thread
 * Blocks: no
 * Ownership: none; NULL is ignored
 * Since: 0.1.0
 */
TICKLESS_EXPORT void
tickless_connect_options_defaults(tickless_connect_options *opts);

/*
 * tickless_connect() connects to |host| (a DNS name or an IP literal) at
 * |port| (a number or a service name) with a client SSL object made from
 * |ctx| (QUIC: OSSL_QUIC_client_method(); DTLS; TLS), completes the
 * handshake and gives back the connection, attached to |pool| (NULL: a
 * dedicated assist thread) exactly as from tickless_conn_new().
 *
 * The server's certificate is verified against |ctx|'s trust store (load
 * one: SSL_CTX_set_default_verify_paths() for the system's) and must name
 * |host| (SSL_set1_host()); SNI carries |host| unless it is an IP literal.
 * Verification is switched on for each attempt even if |ctx| has it off,
 * unless opts->insecure_no_verify says otherwise; a verify callback set on
 * |ctx| is kept.
 *
 * Returns: 0 with *out set, or
 *          TICKLESS_ERR_INVALID (NULL |ctx|, |host|, |port| or |out|, a
 *          malformed option or ALPN list, a QUIC server or thread-assisted
 *          method, a port that is no number or known service),
 *          TICKLESS_ERR_NOT_FOUND (the name does not resolve),
 *          TICKLESS_ERR_REFUSED (every address refused the connection or
 *          was unreachable),
 *          TICKLESS_ERR_TIMEOUT (|timeout_ms| passed with an attempt
 *          still unanswered, a silent address, or before the name's
 *          lookup finished: a slow resolver),
 *          TICKLESS_ERR_SSL (a handshake failed: certificate or host name
 *          mismatch, with error->verify_result, an alert, no common ALPN;
 *          or ssl_setup returned 0),
 *          TICKLESS_ERR_PEER, TICKLESS_ERR_UNSUPPORTED (QUIC with an
 *          OpenSSL that has none), TICKLESS_ERR_NOMEM, TICKLESS_ERR_SYS
 *          (socket(), connect() or thread creation failed, the name
 *          lookup's thread included). When attempts fail in
 *          different ways, a handshake failure is reported before a
 *          local failure, a timeout and a refusal, in that order.
 * Thread-safety: any thread
 * Blocks: until the name resolves, then until a handshake completes or
 *         every attempt failed; all of it within |timeout_ms|
 *         (TICKLESS_FOREVER: no limit, and getaddrinfo() takes as long as
 *         it takes)
 * Ownership: *out is the caller's, for tickless_conn_close(); it owns its
 *            SSL object and socket. |ctx| stays the caller's (each SSL
 *            object holds a reference). On failure nothing is left open.
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_connect(SSL_CTX *ctx, const char *host,
                                     const char *port,
                                     const tickless_connect_options *opts,
                                     tickless_pool *pool, tickless_conn **out,
                                     int timeout_ms);

/*
 * Servers: tickless_listener (QUIC, OpenSSL >= 3.5)
 * ------------------------------------------------
 * OpenSSL 3.5 can be a QUIC server, but its thread assist is for clients
 * only. A listener and every connection accepted from it share one socket
 * and one OpenSSL engine; tickless ticks that engine once per wake-up, for
 * all of them, from the listener's assist (a dedicated thread or a pool).
 * Accepted connections are ordinary tickless_conn handles: read, write,
 * streams, close, from any thread.
 *
 * Closing the listener closes its connections too (they share its socket):
 * each peer is sent a CONNECTION_CLOSE at once (data not yet sent is
 * dropped; shut connections down first for a graceful end), their blocked
 * calls return TICKLESS_ERR_CLOSED, later calls too, and each handle must
 * still be given to tickless_conn_close(). The listener's SSL
 * object is freed after the last of them, never under a live connection.
 * A worker pool shuts down with: tickless_listener_close(), join the
 * workers (their accepts return TICKLESS_ERR_CLOSED), close their
 * connections, tickless_listener_free().
 */
typedef struct tickless_listener tickless_listener;

/*
 * tickless_listener_new() takes a QUIC listener (SSL_new_listener() with a
 * UDP socket BIO; configure ALPN and certificates on its SSL_CTX first),
 * starts listening and gives it an assist.
 *
 * Returns: 0, or TICKLESS_ERR_INVALID (NULL argument, not a QUIC listener,
 *          no socket), TICKLESS_ERR_UNSUPPORTED (OpenSSL < 3.5),
 *          TICKLESS_ERR_BUSY (already handed to tickless), TICKLESS_ERR_SSL
 *          (SSL_listen() failed), TICKLESS_ERR_NOMEM, TICKLESS_ERR_SYS
 * Thread-safety: any thread
 * Blocks: no
 * Ownership: on success takes |listener| (freed after tickless_listener_free()
 *            and the last accepted connection's close); on failure it stays
 *            the caller's
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_listener_new(SSL *listener, tickless_pool *pool,
                                          tickless_listener **out);

/*
 * tickless_listen_options: how tickless_listen() makes a QUIC listener. Fill
 * it with tickless_listen_options_defaults(), then change what you need.
 *
 * Since: 0.1.0
 */
typedef struct tickless_listen_options {
    size_t size;             /* sizeof(tickless_listen_options); set by
                                tickless_listen_options_defaults() */
    unsigned shards;         /* OpenSSL listeners, each on a socket of its
                                own bound to the same address with
                                SO_REUSEPORT and ticked by an assist thread
                                of its own: the kernel spreads clients over
                                them by their address and port. 0
                                (default): one per thread of |pool| (one
                                for a dedicated assist or an
                                application-driven pool). At most 64 */
    uint64_t listener_flags; /* for SSL_new_listener(), e.g.
                                SSL_LISTENER_FLAG_NO_VALIDATE. Default 0 */
    uint64_t max_pending;    /* per shard, the connections OpenSSL holds
                                that no accept has taken yet, those still
                                in their handshake included. Past it,
                                OpenSSL drops a new client's first packets
                                without a word, and the client tries again
                                at its own retransmission (an OpenSSL
                                client: about a second later). A burst of
                                clients that outruns the accepts meets it.
                                0 (default): OpenSSL's own (256 in 3.5.9);
                                ignored by an OpenSSL that has no such
                                limit (before 3.5.9, 3.6.4) */
} tickless_listen_options;

/*
 * tickless_listen_options_defaults() fills |opts| with the defaults: size
 * set, one shard per pool thread, no listener flags, OpenSSL's own limit
 * of connections not yet accepted.
 *
 * Returns: nothing
 * Thread-safety: any thread
 * Blocks: no
 * Ownership: none; NULL is ignored
 * Since: 0.1.0
 */
TICKLESS_EXPORT void
tickless_listen_options_defaults(tickless_listen_options *opts);

/*
 * tickless_listen() makes a QUIC server on |host| (an IP literal or a name;
 * NULL: every address of the first family getaddrinfo() gives for a
 * passive socket) at UDP |port| (a number or a service name; "0": a free
 * port, see tickless_listener_port()), with listeners made from |ctx|
 * (OSSL_QUIC_server_method(), with its certificate, key and ALPN
 * callback), and gives each shard an assist on |pool| (NULL: a dedicated
 * thread each). Workers then call tickless_listener_accept() or
 * tickless_listener_accept_stream() exactly as for tickless_listener_new():
 * each returns the next connection or stream from any shard.
 *
 * With several shards, each OpenSSL listener ticks only its own clients,
 * on its own thread, so handshakes and ticks use every thread of the pool.
 * A client keeps its shard as long as its address and port stay the same.
 * A client that moves (a NAT rebinding, a new network) reaches, in
 * general, another shard, which does not know its connection and drops
 * its packets; OpenSSL 3.5 does not follow such a move even within one
 * listener. Either way the connection ends, on both sides, at its idle
 * timeout, and the calls blocked on it return an error then. Other
 * programs of the same user can bind the same port with SO_REUSEPORT too
 * and take part of the traffic.
 *
 * Returns: 0 with *out set, or TICKLESS_ERR_INVALID (NULL |ctx|, |port| or
 *          |out|, opts->size too small, more than 64 shards, |ctx| not a
 *          QUIC server's, a port that is no number or known service),
 *          TICKLESS_ERR_NOT_FOUND (|host| does not resolve),
 *          TICKLESS_ERR_UNSUPPORTED (OpenSSL < 3.5), TICKLESS_ERR_SYS
 *          (socket() or bind() failed: errno says why, e.g. EADDRINUSE),
 *          TICKLESS_ERR_SSL (SSL_new_listener() or SSL_listen() failed),
 *          TICKLESS_ERR_NOMEM
 * Thread-safety: any thread
 * Blocks: while getaddrinfo() resolves |host|
 * Ownership: *out is the caller's, for tickless_listener_free(), which
 *            closes the sockets; |ctx| stays the caller's (each listener
 *            holds a reference). On failure nothing is left open.
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_listen(SSL_CTX *ctx, const char *host,
                                    const char *port,
                                    const tickless_listen_options *opts,
                                    tickless_pool *pool,
                                    tickless_listener **out);

/*
 * tickless_listener_port() gives the UDP port a listener is bound to (the
 * free port tickless_listen() found for "0", for example).
 *
 * Returns: the port (1-65535), or TICKLESS_ERR_INVALID (NULL, freed, not
 *          a listener), TICKLESS_ERR_SYS (getsockname() failed)
 * Thread-safety: any thread
 * Blocks: no
 * Ownership: none
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_listener_port(tickless_listener *l);

/*
 * tickless_listener_new_dtls() makes a DTLS server of |fd|, a UDP socket
 * bound to the address to serve (IPv4, IPv6, or both on a dual-stack
 * socket), with connections made from |ctx| (DTLS_server_method() or
 * DTLS_method(), with its certificate and key). Workers then call
 * tickless_listener_accept() as for QUIC.
 *
 * A client gets no state until it has echoed a stateless cookie (RFC 6347,
 * 4.2.1: an HMAC of its address under a random secret of the listener,
 * replaced every 60 s; a cookie is honoured for one to two minutes). Each
 * accepted connection then gets a socket of its own, bound to the
 * listener's address and connected to the client, and an assist on
 * |pool| (NULL: a dedicated thread): unlike a QUIC listener's, DTLS
 * connections go on after the listener is closed or freed.
 *
 * tickless sets |ctx|'s cookie callbacks (SSL_CTX_set_cookie_generate_cb()
 * and _verify_cb()): objects made from |ctx| elsewhere with
 * SSL_OP_COOKIE_EXCHANGE get no cookie. |fd| is made non-blocking and
 * given SO_REUSEADDR, so that the clients' sockets can share its address.
 *
 * Returns: 0, or TICKLESS_ERR_INVALID (NULL, |ctx| not DTLS, |fd| not a
 *          bound UDP socket), TICKLESS_ERR_NOMEM, TICKLESS_ERR_SYS,
 *          TICKLESS_ERR_SSL (no random bytes for the cookie secret)
 * Thread-safety: any thread
 * Blocks: no
 * Ownership: on success takes |fd| (closed by tickless_listener_free());
 *            |ctx| stays the caller's (the listener holds a reference)
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_listener_new_dtls(SSL_CTX *ctx, int fd,
                                               tickless_pool *pool,
                                               tickless_listener **out);

/*
 * tickless_listener_accept() waits for the next incoming connection. Many
 * threads may wait at once; each connection goes to exactly one of them.
 * The connection may still be completing its handshake: call
 * tickless_conn_handshake() on it to wait for that.
 *
 * Returns: 0 with *out set, or TICKLESS_ERR_INVALID, TICKLESS_ERR_TIMEOUT,
 *          TICKLESS_ERR_CLOSED (the listener was closed),
 *          TICKLESS_ERR_UNSUPPORTED, TICKLESS_ERR_NOMEM; DTLS also
 *          TICKLESS_ERR_SYS (no socket for the client: it is dropped and
 *          will try again) or TICKLESS_ERR_SSL (OpenSSL refused a hundred
 *          datagrams in a row)
 * Thread-safety: any thread
 * Blocks: until a connection arrives, |timeout_ms|, or
 *         tickless_listener_close()
 * Ownership: *out is the caller's, to be given to tickless_conn_close()
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_listener_accept(tickless_listener *l,
                                             tickless_conn **out,
                                             int timeout_ms);

/*
 * tickless_listener_close() stops accepting, wakes blocked accepts with
 * TICKLESS_ERR_CLOSED and closes the accepted connections (see above; a
 * DTLS listener's connections have sockets of their own and go on).
 * The handle stays valid: later accepts return TICKLESS_ERR_CLOSED at once,
 * so a worker that finishes a client after the close simply sees it.
 * Called inside a tickless_conn_lock() section on one of the listener's
 * connections, it keeps the section's lock held throughout: no other
 * thread's call gets in before tickless_conn_unlock().
 *
 * Returns: nothing
 * Thread-safety: any thread; a second call does nothing
 * Blocks: until the assist has let go of the listener
 * Ownership: the handle is still the caller's, for tickless_listener_free()
 * Since: 0.1.0
 */
TICKLESS_EXPORT void tickless_listener_close(tickless_listener *l);

/*
 * tickless_listener_free() closes the listener if needed and frees the
 * handle. No call on it may be in progress or start afterwards: close,
 * join the threads that accept, then free.
 *
 * Returns: nothing
 * Thread-safety: any thread, once
 * Blocks: as tickless_listener_close()
 * Ownership: the handle is gone; NULL is ignored
 * Since: 0.1.0
 */
TICKLESS_EXPORT void tickless_listener_free(tickless_listener *l);

/*
 * Streams (QUIC only)
 * -------------------
 * A QUIC connection carries many streams. Threads blocked on different
 * streams of one connection each sleep on their own stream and are woken
 * only when it can move. The first tickless_stream_open() or _accept()
 * turns a connection into a stream container: it gets no default stream
 * (SSL_DEFAULT_STREAM_MODE_NONE) and incoming streams wait for
 * tickless_stream_accept(). A connection whose default stream was already
 * used through tickless_conn_read()/_write() cannot switch
 * (TICKLESS_ERR_INVALID); on a stream container, tickless_conn_read() and
 * _write() return TICKLESS_ERR_INVALID.
 *
 * Flow control and stream limits block, they do not fail: a write waits
 * while the peer grants no more credit, an open while the peer allows no
 * more streams, each up to its timeout. A peer that resets a stream
 * (RESET_STREAM) or stops it (STOP_SENDING) ends that stream only: its
 * calls return TICKLESS_ERR_STREAM_RESET and tickless_stream_peer_error()
 * reads the peer's application error code; the connection goes on.
 *
 *     tickless_stream *s;
 *     size_t n;
 *     if (tickless_stream_open(c, 0, &s, 5000) == 0) {
 *         tickless_stream_write(s, "ping", 4, &n, 5000);
 *         tickless_stream_conclude(s);
 *         tickless_stream_read(s, buf, sizeof(buf), &n, 5000);
 *         tickless_stream_close(s);
 *     }
 */
typedef struct tickless_stream tickless_stream;

#define TICKLESS_STREAM_UNI 0x1 /* unidirectional: this side only writes */

/*
 * tickless_stream_open() opens a stream (bidirectional unless
 * TICKLESS_STREAM_UNI), completing the handshake first if needed and
 * waiting while the peer allows no more streams.
 *
 * Returns: 0 with *out set, or TICKLESS_ERR_INVALID (NULL, unknown flags,
 *          default stream already in use, inside tickless_conn_lock()),
 *          TICKLESS_ERR_UNSUPPORTED (DTLS, TLS, no QUIC),
 *          TICKLESS_ERR_TIMEOUT, TICKLESS_ERR_CLOSED, TICKLESS_ERR_PEER,
 *          TICKLESS_ERR_SSL, TICKLESS_ERR_NOMEM, TICKLESS_ERR_FORKED
 * Thread-safety: any thread
 * Blocks: until the stream can be opened, |timeout_ms|, or close
 * Ownership: *out is the caller's, to be given to tickless_stream_close()
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_stream_open(tickless_conn *c, int flags,
                                         tickless_stream **out,
                                         int timeout_ms);

/*
 * tickless_stream_accept() waits for a stream the peer opened.
 *
 * Returns: as tickless_stream_open(); TICKLESS_ERR_PEER (or _SSL) when
 *          the connection ends while waiting
 * Thread-safety: any thread; several may wait, each stream goes to one
 * Blocks: until a stream arrives, |timeout_ms|, or close
 * Ownership: *out is the caller's, to be given to tickless_stream_close()
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_stream_accept(tickless_conn *c,
                                           tickless_stream **out,
                                           int timeout_ms);

/*
 * tickless_stream_read() and tickless_stream_write() are
 * tickless_conn_read()/_write() on one stream: read returns as soon as
 * some bytes are there (TICKLESS_ERR_EOF after the peer's FIN); write
 * returns when all |len| bytes are queued (*nwritten tells how many were
 * on an error or timeout). Writers of one stream take turns, a call each,
 * as for tickless_conn_write().
 *
 * Returns: 0, or TICKLESS_ERR_INVALID (NULL, len 0, wrong direction of a
 *          unidirectional stream), TICKLESS_ERR_TIMEOUT,
 *          TICKLESS_ERR_EOF, TICKLESS_ERR_CLOSED (stream or connection
 *          closed locally, or this direction concluded or reset by us),
 *          TICKLESS_ERR_STREAM_RESET (the peer reset or stopped this
 *          stream: see tickless_stream_peer_error()), TICKLESS_ERR_PEER or
 *          TICKLESS_ERR_SSL (the whole connection failed),
 *          TICKLESS_ERR_UNSUPPORTED, TICKLESS_ERR_FORKED
 * Thread-safety: any thread; concurrent readers each get distinct bytes,
 *                concurrent writers take turns, a call each
 * Blocks: until data or room, |timeout_ms|, or close; a writer also
 *         waits its turn behind another writer of the stream
 * Ownership: none
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_stream_read(tickless_stream *s, void *buf,
                                         size_t len, size_t *nread,
                                         int timeout_ms);
TICKLESS_EXPORT int tickless_stream_write(tickless_stream *s,
                                          const void *buf, size_t len,
                                          size_t *nwritten, int timeout_ms);

/*
 * tickless_stream_conclude() queues a FIN: the peer reads everything
 * written so far, then TICKLESS_ERR_EOF. tickless_stream_reset() abandons
 * the sending side with an application error code instead; the peer's
 * reader gets TICKLESS_ERR_STREAM_RESET and can read |app_error|.
 *
 * Returns: 0, or TICKLESS_ERR_INVALID, TICKLESS_ERR_CLOSED,
 *          TICKLESS_ERR_STREAM_RESET, TICKLESS_ERR_PEER, TICKLESS_ERR_SSL,
 *          TICKLESS_ERR_UNSUPPORTED, TICKLESS_ERR_FORKED
 * Thread-safety: any thread
 * Blocks: no (briefly, on the connection mutex)
 * Ownership: none
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_stream_conclude(tickless_stream *s);
TICKLESS_EXPORT int tickless_stream_reset(tickless_stream *s,
                                          uint64_t app_error);

/*
 * tickless_stream_peer_error() tells why the peer ended this stream: the
 * application error code of its RESET_STREAM (it abandoned what it was
 * sending us) or, failing that, of its STOP_SENDING (it wants nothing
 * more from us). Once the connection has closed OpenSSL no longer keeps
 * the codes: a reset seen only after that is reported by the stream's
 * calls (TICKLESS_ERR_STREAM_RESET), but this says 0.
 *
 * Returns: 1 with *app_error set, 0 if the peer did neither or the code
 *          is gone with the connection (*app_error is then 0), or TICKLESS_ERR_INVALID (NULL), TICKLESS_ERR_FORKED,
 *          TICKLESS_ERR_CLOSED (another thread closed the stream first)
 * Thread-safety: any thread
 * Blocks: no (briefly, on the connection mutex)
 * Ownership: none
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_stream_peer_error(tickless_stream *s,
                                               uint64_t *app_error);

/*
 * tickless_stream_id() returns the QUIC stream ID.
 *
 * Returns: the stream ID, or UINT64_MAX for NULL
 * Thread-safety: any thread
 * Blocks: no
 * Ownership: none
 * Since: 0.1.0
 */
TICKLESS_EXPORT uint64_t tickless_stream_id(tickless_stream *s);

/*
 * tickless_stream_close() wakes the stream's blocked calls with
 * TICKLESS_ERR_CLOSED and frees it once they have returned. A stream closed
 * before tickless_stream_conclude() is reset by OpenSSL. Every stream must
 * be closed, before or after its connection.
 *
 * Returns: nothing
 * Thread-safety: any thread, once
 * Blocks: no (briefly, on the connection mutex)
 * Ownership: the handle is gone; NULL is ignored
 * Since: 0.1.0
 */
TICKLESS_EXPORT void tickless_stream_close(tickless_stream *s);

/*
 * tickless_listener_accept_stream() waits for the next stream a client
 * opens, on any connection of the listener: a server-wide work queue for
 * a fixed pool of blocking workers. Each worker loops: accept a stream,
 * serve it (read the request, write the reply, conclude), close it. N
 * workers then serve any number of connections x streams, and a stream
 * never waits for another stream to be finished.
 *
 * The listener accepts the connections itself and keeps them: the
 * application never sees their tickless_conn handles. A connection is
 * freed once it has ended (the client closed it, or it idled out) and its
 * last stream is closed; the others when the listener is freed. Streams
 * are handed out fairly: the connection served least recently goes first,
 * so one client opening many streams cannot starve the others.
 *
 * Which shape to use:
 *  - this call, when a stream is a request (one reply, then done) and
 *    clients may open more streams at once than you have workers;
 *  - tickless_listener_accept() + tickless_stream_accept(), when a
 *    connection is a session with state of its own, served by one thread.
 *    Streams its peer sends on at once are then served one after the
 *    other; use at most one of the two shapes per listener.
 * Flow control: a stream the peer has opened but no worker has accepted
 * yet still receives data, up to its own window (OpenSSL starts it at
 * 512 KiB), and what it holds counts against the connection's window
 * too (768 KiB to start, grown as the application reads). A client that
 * sends on many more streams at once than there are workers can fill the
 * connection's window with streams nobody reads yet, and stall the ones
 * being served until a worker is free. Enough workers for the streams a
 * client sends on at once avoids that; so does a client that waits for
 * replies before opening more streams.
 *
 * Returns: 0 with *out set, or TICKLESS_ERR_INVALID (NULL, not a
 *          listener), TICKLESS_ERR_TIMEOUT, TICKLESS_ERR_CLOSED (the
 *          listener was closed), TICKLESS_ERR_UNSUPPORTED (OpenSSL < 3.5),
 *          TICKLESS_ERR_NOMEM
 * Thread-safety: any thread; many may wait, each stream goes to one
 * Blocks: until a stream arrives, |timeout_ms|, or tickless_listener_close()
 * Ownership: *out is the caller's, to be given to tickless_stream_close()
 *            (before or after tickless_listener_free())
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_listener_accept_stream(tickless_listener *l,
                                                    tickless_stream **out,
                                                    int timeout_ms);

/* Feature bits for tickless_features(). */
#define TICKLESS_FEATURE_QUIC 0x1u        /* QUIC client connections */
#define TICKLESS_FEATURE_QUIC_SERVER 0x2u /* QUIC listener (OpenSSL >= 3.5) */
#define TICKLESS_FEATURE_HANDLE_EVENTS 0x4u /* SSL_handle_events (>= 3.2) */

/*
 * Pools
 * -----
 * A pool is a fixed set of assist threads shared by any number of
 * connections. Each thread owns a shard: an epoll set, a timer heap with a
 * timerfd, and an eventfd. A connection lives on one shard (the least loaded when it was
 * created) for its whole life; its thread sleeps until the earliest deadline
 * of its shard, socket readiness or a wake-up, then ticks every connection
 * that is due or ready, each under its own mutex, one at a time. A thread
 * never holds a connection mutex while it sleeps, and never holds two.
 *
 * With threads == 0 the pool has no thread of its own: the application runs
 * it from its own event loop. tickless_pool_fd() is a descriptor that turns
 * readable whenever the pool has work (a deadline came due, a socket is
 * ready, a connection's deadline moved earlier); the application then calls
 * tickless_pool_run(pool, 0). This is app-driven ticking done for you.
 */

/*
 * tickless_pool_options: how tickless_pool_new() makes a pool. Fill it with
 * tickless_pool_options_defaults(), then change the fields you need.
 *
 * Since: 0.1.0
 */
typedef struct tickless_pool_options {
    size_t size;               /* sizeof(tickless_pool_options); set by
                                  tickless_pool_options_defaults() */
    unsigned threads;          /* assist threads; 0 = driven by the
                                  application. Default 1, at most 256 */
    const char *thread_name;   /* thread name prefix shown by ps/top/gdb
                                  ("<prefix>-<n>", cut to 15 bytes); NULL or
                                  default: "tickless" */
    uint64_t timer_slack_ns;   /* how late a deadline may be handled so
                                  that deadlines close together share one
                                  wake-up: they are rounded up to a
                                  multiple of it (also the threads' prctl
                                  PR_SET_TIMERSLACK). 0 = exact deadlines,
                                  and the system's slack (50 us) */
    int first_cpu;             /* -1 (default): no CPU affinity. Otherwise
                                  thread n is pinned to CPU
                                  (first_cpu + n) % CPUs online */
    size_t stack_size;         /* bytes of stack per thread; 0 (default):
                                  256 KiB, plenty for OpenSSL's event
                                  handling (2 MiB in sanitizer builds).
                                  At least 64 KiB */
} tickless_pool_options;

/*
 * tickless_pool_options_defaults() fills |opts| with the defaults: size set,
 * 1 thread, no name prefix, system timer slack, no affinity, the default
 * stack size.
 *
 * Returns: nothing
 * Thread-safety: any thread
 * Blocks: no
 * Ownership: none; NULL is ignored
 * Since: 0.1.0
 */
TICKLESS_EXPORT void tickless_pool_options_defaults(tickless_pool_options *opts);

/*
 * tickless_pool_new() creates a pool and starts its threads.
 *
 * Returns: 0, or TICKLESS_ERR_INVALID (out NULL, opts->size too small,
 *          threads above 256, first_cpu below -1, stack_size nonzero and
 *          below 64 KiB), TICKLESS_ERR_NOMEM,
 *          TICKLESS_ERR_SYS (epoll, eventfd, timerfd or pthread_create
 *          failed, e.g. for a stack_size the system cannot map; nothing is
 *          left behind)
 * Thread-safety: any thread
 * Blocks: no
 * Ownership: *out belongs to the caller until tickless_pool_free();
 *            |opts| (and thread_name) is copied, NULL means the defaults
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_pool_new(const tickless_pool_options *opts,
                                      tickless_pool **out);

/*
 * tickless_pool_free() stops the pool's threads and frees it. Close every
 * connection of the pool first.
 *
 * Returns: 0, or TICKLESS_ERR_INVALID (NULL, or called from one of the
 *          pool's own threads), TICKLESS_ERR_BUSY (connections remain:
 *          nothing is freed, the pool keeps working)
 * Thread-safety: any thread, once; not concurrently with tickless_conn_new()
 *                on the same pool. An application-driven pool may be freed
 *                while another thread is inside tickless_pool_run() (that
 *                call is woken and finishes first), but not run afterwards.
 * Blocks: until the pool's threads (or the application thread running it)
 *         have finished their current iteration
 * Ownership: on success the pool is gone
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_pool_free(tickless_pool *pool);

/* struct tickless_pool_stats: counters summed over the pool's connections
 * and threads since the pool was created. It has no typedef: in C the name
 * tickless_pool_stats belongs to the function below, so write
 * `struct tickless_pool_stats st = TICKLESS_POOL_STATS_INIT;`.
 *
 * Since: 0.1.0
 */
struct tickless_pool_stats {
    size_t size;              /* set by the caller: sizeof(...) */
    unsigned threads;         /* assist threads (0: application-driven) */
    uint64_t connections;     /* attached right now */
    uint64_t ticks;           /* handle-events calls made by the pool */
    uint64_t timer_ticks;     /* ... of which because a deadline came due */
    uint64_t io_ticks;        /* ... of which because a socket was ready */
    uint64_t wakeups;         /* times a call re-armed a pool thread's
                                 timer earlier (it is not woken for
                                 that) */
    uint64_t lateness_p50_ns; /* time from a deadline to the tick it
                                 caused: median over all timer ticks so
                                 far */
    uint64_t lateness_p99_ns; /* ... its 99th percentile */
    uint64_t lateness_max_ns; /* ... its maximum */
    uint64_t cpu_ns;          /* CPU time used by the pool's threads (0 for
                                 an application-driven pool) */
};

#define TICKLESS_POOL_STATS_INIT                                               \
    { sizeof(struct tickless_pool_stats), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }

/*
 * tickless_pool_stats() copies the pool's counters into |out|.
 *
 * Returns: 0, or TICKLESS_ERR_INVALID (NULL argument, or out->size smaller
 *          than the first field)
 * Thread-safety: any thread
 * Blocks: briefly, on each shard's mutex
 * Ownership: none
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_pool_stats(tickless_pool *pool,
                                        struct tickless_pool_stats *out);

/*
 * tickless_pool_stats_reset() zeroes the pool's tick counters, wake-ups and
 * lateness figures, so that the next tickless_pool_stats() covers only what
 * happened since. Ticks of an iteration under way when it is called may be
 * counted after it. threads, connections and cpu_ns are not counters of
 * this kind and are left alone. Connections' own figures
 * (tickless_conn_stats()) are separate and untouched.
 *
 * Returns: 0, or TICKLESS_ERR_INVALID (NULL)
 * Thread-safety: any thread
 * Blocks: briefly, on each shard's mutex
 * Ownership: none
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_pool_stats_reset(tickless_pool *pool);

/*
 * tickless_pool_fd() returns the descriptor of an application-driven pool
 * (threads == 0): it is readable (POLLIN/EPOLLIN) whenever
 * tickless_pool_run() has work. Add it to your own poll/epoll set; do not
 * read, write or close it.
 *
 * Returns: a descriptor >= 0, or TICKLESS_ERR_INVALID (NULL, or a pool that
 *          has threads of its own)
 * Thread-safety: any thread
 * Blocks: no
 * Ownership: the pool's; valid until tickless_pool_free()
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_pool_fd(tickless_pool *pool);

/*
 * tickless_pool_run() runs one iteration of an application-driven pool on
 * the calling thread: waits up to |timeout_ms| (0: not at all,
 * TICKLESS_FOREVER: until there is work) for a deadline, readiness or a
 * wake-up, then ticks every connection that is due or ready and wakes their
 * blocked callers.
 *
 * Returns: the number of connections ticked (>= 0), or TICKLESS_ERR_INVALID
 *          (NULL, timeout_ms below -1, a pool with threads of its own),
 *          TICKLESS_ERR_BUSY (another thread is running this pool),
 *          TICKLESS_ERR_SYS (epoll failed)
 * Thread-safety: any thread, one at a time per pool
 * Blocks: up to |timeout_ms|
 * Ownership: none
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_pool_run(tickless_pool *pool, int timeout_ms);

/*
 * Logging
 * -------
 * One callback for the whole process receives the events a user debugging
 * a stall wants to see: a connection lost and why (TICKLESS_LOG_ERROR), a
 * timer ticked later than a threshold (TICKLESS_LOG_WARN), an assist thread
 * started or stopped (TICKLESS_LOG_INFO). Nothing is logged until a
 * callback is installed.
 */

#define TICKLESS_LOG_ERROR 1
#define TICKLESS_LOG_WARN 2
#define TICKLESS_LOG_INFO 3

/* A log callback: |conn| is the connection the event is about, or NULL
 * (assist threads); |message| is valid during the call only. It runs on
 * whichever thread saw the event, possibly an assist thread holding
 * |conn|'s lock: it must be short and must not call tickless functions on
 * |conn| (tickless_strerror() and the like are fine). */
typedef void (*tickless_log_fn)(int level, tickless_conn *conn,
                                const char *message, void *arg);

/*
 * tickless_set_log() installs |fn| (NULL removes it) for events up to
 * |level| (TICKLESS_LOG_ERROR, _WARN or _INFO), with |arg| passed to every
 * call. A timer tick later than |late_warn_ns| after its deadline is
 * reported at TICKLESS_LOG_WARN; 0 reports none. An event being reported
 * while the callback is replaced may still reach the old one.
 *
 * Returns: 0, or TICKLESS_ERR_INVALID (|level| out of range with a
 *          callback)
 * Thread-safety: any thread
 * Blocks: no
 * Ownership: |arg| stays the caller's
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_set_log(tickless_log_fn fn, void *arg, int level,
                                     uint64_t late_warn_ns);

/*
 * Library information
 * -------------------
 * What this build supports, which version is loaded, and the names of the
 * error codes.
 */

/*
 * tickless_features() says what this build of tickless supports, which
 * depends on the OpenSSL it was built against.
 *
 * Returns: a mask of TICKLESS_FEATURE_* bits
 * Thread-safety: any thread
 * Blocks: no
 * Ownership: none
 * Since: 0.1.0
 */
TICKLESS_EXPORT unsigned tickless_features(void);

/*
 * tickless_strerror() and tickless_err_name() describe an error code: "timed
 * out" and "TICKLESS_ERR_TIMEOUT" for TICKLESS_ERR_TIMEOUT.
 *
 * Returns: a static string; "unknown error" / "TICKLESS_ERR_UNKNOWN" for
 *          codes this version does not know
 * Thread-safety: any thread
 * Blocks: no
 * Ownership: static storage; never free it
 * Since: 0.1.0
 */
TICKLESS_EXPORT const char *tickless_strerror(int err);
TICKLESS_EXPORT const char *tickless_err_name(int err);

/*
 * tickless_version() returns TICKLESS_VERSION_NUMBER of the library that is
 * actually loaded (compare it with the header's to detect a mismatch).
 *
 * Returns: (major << 16) | (minor << 8) | patch
 * Thread-safety: any thread
 * Blocks: no
 * Ownership: none
 * Since: 0.1.0
 */
TICKLESS_EXPORT unsigned tickless_version(void);

#ifdef __cplusplus
}
#endif

#endif /* TICKLESS_TICKLESS_H */
