/* tickless_listener: a QUIC listener whose engine the assist ticks once
 * per wake-up for all the connections accepted from it; or a DTLS
 * server's listening socket (dtls_listener.h), whose connections each get
 * a socket of their own and go on without it.
 *
 * The listener is an engine (a tickless_conn with is_listener set); each
 * accepted connection is a member that shares its mutex and keeps it alive.
 * Closing the listener closes its connections too: they share its socket
 * and engine, which the assist stops ticking. The listener handle stays
 * valid (accepts return TICKLESS_ERR_CLOSED) until tickless_listener_free(),
 * so worker threads may still call accept while they wind down. Connection
 * handles stay valid until each is given to tickless_conn_close(), and the
 * listener's SSL object is freed only after the last of them, so OpenSSL
 * never frees the port under a live connection (openssl#32420). */
#include "assist/assist.h"
#include "base/alloc.h"
#include "core/core.h"
#include "core/dtls_listener.h"

#include <openssl/err.h>

struct tickless_listener {
    handle h;              /* live until tickless_listener_free() */
    dtls_listener *dtls;   /* DTLS: the listening socket; NULL for QUIC */
    tickless_conn *engine; /* QUIC: the listener's engine */
    waitq serve_wq;        /* QUIC: tickless_listener_accept_stream() */
};

/* Step 1 of the guard (handle.h): 0, or TICKLESS_ERR_INVALID (NULL,
 * freed, not a listener) or TICKLESS_ERR_FORKED. A listener has no lock
 * of its own to enter: a QUIC listener's calls enter its engine (a
 * connection), whose reference the listener holds until
 * tickless_listener_free(). */
static int listener_check(const tickless_listener *l, const char *fn)
{
    return tl_handle_check(l != NULL ? &l->h : NULL, HANDLE_LISTENER, fn);
}

int tickless_listener_new_dtls(SSL_CTX *ctx, int fd, tickless_pool *pool,
                               tickless_listener **out)
{
    tickless_listener *l;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (ctx == NULL || fd < 0 || out == NULL)
        return TICKLESS_ERR_INVALID;
    if (pool != NULL) {
        rc = tl_pool_check(pool, __func__);
        if (rc != 0)
            return rc;
    }
    l = tl_calloc(1, sizeof(*l));
    if (l == NULL)
        return TICKLESS_ERR_NOMEM;
    rc = tl_dtls_listener_new(ctx, fd, pool, &l->dtls);
    if (rc != 0) {
        tl_free(l);
        return rc;
    }
    tl_handle_init(&l->h, HANDLE_LISTENER, NULL);
    *out = l;
    return 0;
}

int tickless_listener_new(SSL *listener, tickless_pool *pool,
                          tickless_listener **out)
{
#ifdef TICKLESS_HAVE_QUIC_SERVER
    tickless_listener *l;
    int fd;
    int rc;
#endif

    if (out != NULL)
        *out = NULL;
    if (listener == NULL || out == NULL)
        return TICKLESS_ERR_INVALID;
    if (pool != NULL) {
        int prc = tl_pool_check(pool, __func__);

        if (prc != 0)
            return prc;
    }
#ifndef TICKLESS_HAVE_QUIC_SERVER
    (void)pool;
    return TICKLESS_ERR_UNSUPPORTED;
#else
    if (!tl_ossl_is_listener(listener))
        return TICKLESS_ERR_INVALID;
    fd = tl_ossl_socket_fd(listener, CONN_QUIC);
    if (fd < 0)
        return TICKLESS_ERR_INVALID;
    l = tl_calloc(1, sizeof(*l));
    if (l == NULL)
        return TICKLESS_ERR_NOMEM;
    tl_handle_init(&l->h, HANDLE_LISTENER, NULL);
    /* Listen now, so handshakes proceed before the first accept. */
    ERR_clear_error();
    if (!SSL_listen(listener)) {
        ERR_clear_error();
        tl_free(l);
        return TICKLESS_ERR_SSL;
    }
    rc = tl_waitq_init(&l->serve_wq, WQ_SERVE_STREAM, listener, NULL);
    if (rc != 0) {
        tl_free(l);
        return rc;
    }
    rc = tl_conn_new_engine(listener, CONN_QUIC, fd, pool, 1, &l->engine);
    if (rc != 0) {
        tl_waitq_destroy(&l->serve_wq);
        tl_free(l);
        return rc;
    }
    l->serve_wq.owner = l->engine;
    *out = l;
    return 0;
#endif
}

#ifdef TICKLESS_HAVE_QUIC_SERVER
static int op_accept(conn_call *call, void *arg)
{
    tickless_conn **out = arg;
    SSL *ssl;
    int rc;

    ERR_clear_error();
    ssl = SSL_accept_connection(call->ssl, SSL_ACCEPT_CONNECTION_NO_BLOCK);
    if (ssl == NULL) {
        ERR_clear_error(); /* nothing queued yet */
        return (int)IO_READ;
    }
    rc = tl_conn_new_member(ssl, call->c, out);
    if (rc != 0)
        SSL_free(ssl); /* refused for want of memory: the peer sees a close */
    return rc;
}
#endif

/* Both accepts: |out|, a tickless_conn ** (or, with |streams|, a
 * tickless_stream **) that the caller has cleared, given or not
 * (|no_out|); then the listener; then the accept, run on the QUIC
 * listener's engine, its callers sleeping on the queue of what they
 * wait for (tl_conn_run() enters the engine on behalf of |fn|). */
static int listener_accept(tickless_listener *l, int no_out, int streams,
                           void *out, int timeout_ms, const char *fn)
{
    int rc = no_out ? TICKLESS_ERR_INVALID : listener_check(l, fn);

    if (rc != 0)
        return rc;
    if (l->dtls != NULL) {
        if (streams)
            return TICKLESS_ERR_UNSUPPORTED; /* DTLS has no streams */
        return timeout_ms < TICKLESS_FOREVER
                   ? TICKLESS_ERR_INVALID
                   : tl_dtls_listener_accept(l->dtls, out, timeout_ms);
    }
#ifndef TICKLESS_HAVE_QUIC_SERVER
    (void)timeout_ms;
    return TICKLESS_ERR_UNSUPPORTED;
#else
    {
        conn_call call = { 0 };

        call.fn = fn;
        call.c = l->engine;
        call.ssl = l->engine->ssl;
        call.wq = streams ? &l->serve_wq : &l->engine->accept_wq;
        return tl_conn_run(&call, timeout_ms,
                           streams ? tl_serve_next_stream : op_accept, out);
    }
#endif
}

int tickless_listener_accept(tickless_listener *l, tickless_conn **out,
                             int timeout_ms)
{
    if (out != NULL)
        *out = NULL;
    return listener_accept(l, out == NULL, 0, out, timeout_ms, __func__);
}

int tickless_listener_accept_stream(tickless_listener *l,
                                    tickless_stream **out, int timeout_ms)
{
    if (out != NULL)
        *out = NULL;
    return listener_accept(l, out == NULL, 1, out, timeout_ms, __func__);
}

/* The assist is about to stop ticking the engine: without a word, every
 * client would learn of the end only from its idle timeout, tens of
 * seconds later. Each live connection, accepted or still queued for
 * accept, is closed at once (no stream flush, no closing period) and a
 * last tick sends the CONNECTION_CLOSE frames. Caller holds e->mu. */
#ifdef TICKLESS_HAVE_QUIC_SERVER
#define GOODBYE_FLAGS                                                          \
    (SSL_SHUTDOWN_FLAG_RAPID | SSL_SHUTDOWN_FLAG_NO_STREAM_FLUSH               \
     | SSL_SHUTDOWN_FLAG_NO_BLOCK)
#define GOODBYE_BATCH 64

/* Connections that completed their handshake but no worker accepted: taken
 * off the queue a batch at a time, closed, flushed and freed. Returns
 * whether the queue may hold more. */
static int close_queued_batch(tickless_conn *e)
{
    SSL *queued[GOODBYE_BATCH];
    int n = 0, i;

    while (n < GOODBYE_BATCH
           && (queued[n] = SSL_accept_connection(
                   e->ssl, SSL_ACCEPT_CONNECTION_NO_BLOCK)) != NULL)
        (void)SSL_shutdown_ex(queued[n++], GOODBYE_FLAGS, NULL, 0);
    if (n > 0)
        (void)tl_ossl_handle_events(e->ssl, e->proto);
    for (i = 0; i < n; i++)
        SSL_free(queued[i]);
    return n == GOODBYE_BATCH;
}
#endif

static void say_goodbye(tickless_conn *e)
{
#ifdef TICKLESS_HAVE_QUIC_SERVER
    tickless_conn *m;
    int any = 0;

    for (m = e->members; m != NULL; m = m->member_next) {
        if (m->closed || m->fatal)
            continue;
        (void)SSL_shutdown_ex(m->ssl, GOODBYE_FLAGS, NULL, 0);
        any = 1;
    }
    if (any)
        (void)tl_ossl_handle_events(e->ssl, e->proto);
    while (close_queued_batch(e))
        ;
    ERR_clear_error();
#else
    (void)e;
#endif
}

void tickless_listener_close(tickless_listener *l)
{
    tickless_conn *e;
    int entered, was_closed;
    waitq *wq;

    if (listener_check(l, __func__) != 0)
        return;
    if (l->dtls != NULL) {
        tl_dtls_listener_close(l->dtls);
        return;
    }
    e = l->engine;
    /* HANDLE_HELD: this thread is inside tickless_conn_lock() on one of
     * the listener's connections, which share this mutex. */
    entered = tl_conn_enter(e, __func__, HANDLE_MAY_HOLD | HANDLE_CLOSED_OK);
    if (entered < 0)
        return;
    was_closed = e->closed;
    if (!was_closed)
        say_goodbye(e);
    e->closed = 1; /* every member sees itself closed too */
    for (wq = e->sleeping; wq != NULL; wq = wq->next)
        tl_waitq_wake(wq);
    /* That section goes on, and its lock with it: the application holds
     * it until tickless_conn_unlock(). Detaching (a join, for a dedicated
     * assist) with it held cannot deadlock: app_held is set, so the
     * assist never waits for the mutex (tl_conn_tick()). Otherwise the
     * mutex is let go first, as a tick may be waiting for it. The
     * listener's own reference keeps the engine. */
    tl_conn_exit(e, entered);
    if (!was_closed)
        tl_assist_detach(&e->link);
}

void tickless_listener_free(tickless_listener *l)
{
    int entered;

    /* A forked child's copy is left alone (see handle.h, "fork()"). */
    if (listener_check(l, __func__) != 0)
        return;
    if (l->dtls != NULL) {
        tl_handle_kill(&l->h);
        tl_dtls_listener_free(l->dtls);
        tl_handle_release(l);
        return;
    }
    tickless_listener_close(l);
    /* The connections served through tickless_listener_accept_stream()
     * are the listener's to close: each goes once its streams are. As in
     * tickless_listener_close(), this thread may hold the mutex already. */
    entered = tl_conn_enter(l->engine, __func__,
                            HANDLE_MAY_HOLD | HANDLE_CLOSED_OK);
    if (entered >= 0) {
        tl_serve_release_all(l->engine);
        tl_conn_exit(l->engine, entered);
    }
    tl_handle_kill(&l->h);
    tl_waitq_destroy(&l->serve_wq);
    tl_conn_unref(l->engine); /* the members hold their own references */
    tl_handle_release(l);
}
