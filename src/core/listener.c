/* tickless_listener: a QUIC listener whose engines the assist ticks once
 * per wake-up for all the connections accepted from them; or a DTLS
 * server's listening socket (dtls_listener.h), whose connections each get
 * a socket of their own and go on without it.
 *
 * A QUIC listener has one or more shards (tickless_listen() makes several,
 * one per pool thread): each an OpenSSL listener on its own socket, all
 * bound to one port (SO_REUSEPORT), so that the kernel spreads the clients
 * and each shard's handshakes and ticks run on its own assist thread. A
 * shard is an engine (a tickless_conn with is_listener set); each
 * connection accepted from it is a member that shares its mutex and keeps
 * it alive. Accepts look at every shard, and sleep on the listener's hub
 * (accept_hub.h), which any shard wakes.
 *
 * Closing the listener closes its connections too: they share its sockets
 * and engines, which the assist stops ticking. The listener handle stays
 * valid (accepts return TICKLESS_ERR_CLOSED) until tickless_listener_free(),
 * so worker threads may still call accept while they wind down. Connection
 * handles stay valid until each is given to tickless_conn_close(), and a
 * shard's SSL object is freed only after the last of them, so OpenSSL
 * never frees the port under a live connection (openssl#32420). */
#include "assist/assist.h"
#include "base/alloc.h"
#include "core/core.h"
#include "core/dtls_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <openssl/err.h>

/* One OpenSSL listener, with its socket and engine. */
typedef struct listener_shard {
    tickless_conn *engine;
    waitq serve_wq;        /* tickless_listener_accept_stream()'s look at
                              this shard (tl_conn_run() wants a queue; the
                              accepts sleep on the hub) */
} listener_shard;

struct tickless_listener {
    handle h;              /* live until tickless_listener_free() */
    dtls_listener *dtls;   /* DTLS: the listening socket; NULL for QUIC */
    listener_shard *shards; /* QUIC: nshards of them; constant */
    unsigned nshards;
    accept_hub hub;        /* QUIC: where accepts sleep */
    atomic_uint next_look; /* the shard the next accept looks at first */
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

#ifdef TICKLESS_HAVE_QUIC_SERVER
/* Forgets shards [0, n) of |l| that were made but never handed out: the
 * listener's close and free, for a listener that failed half-way. */
static void shards_unmake(tickless_listener *l, unsigned n);

/* Makes shard |i| of |l| of |ssl|, a QUIC listener, on pool shard |i| (so
 * that each listener has a thread of its own). Takes |ssl| on success. */
static int shard_make(tickless_listener *l, unsigned i, SSL *ssl,
                      tickless_pool *pool)
{
    listener_shard *sh = &l->shards[i];
    int fd = tl_ossl_socket_fd(ssl, CONN_QUIC);
    int rc;

    if (fd < 0)
        return TICKLESS_ERR_INVALID;
    /* Listen now, so handshakes proceed before the first accept. */
    ERR_clear_error();
    if (!SSL_listen(ssl)) {
        ERR_clear_error();
        return TICKLESS_ERR_SSL;
    }
    rc = tl_waitq_init(&sh->serve_wq, WQ_SERVE_STREAM, ssl, NULL);
    if (rc != 0)
        return rc;
    rc = tl_conn_new_engine(ssl, CONN_QUIC, fd, pool, &l->hub, (int)i,
                            &sh->engine);
    if (rc != 0) {
        tl_waitq_destroy(&sh->serve_wq);
        return rc;
    }
    sh->serve_wq.owner = sh->engine;
    return 0;
}

int tl_listener_new_shards(SSL *const *ssls, unsigned n, tickless_pool *pool,
                           tickless_listener **out, unsigned *taken)
{
    tickless_listener *l;
    unsigned i;
    int rc;

    *taken = 0;
    for (i = 0; i < n; i++)
        if (!tl_ossl_is_listener(ssls[i]))
            return TICKLESS_ERR_INVALID;
    l = tl_calloc(1, sizeof(*l));
    if (l == NULL)
        return TICKLESS_ERR_NOMEM;
    l->shards = tl_calloc(n, sizeof(*l->shards));
    rc = l->shards == NULL ? TICKLESS_ERR_NOMEM : tl_hub_init(&l->hub);
    if (rc != 0) {
        tl_free(l->shards);
        tl_free(l);
        return rc;
    }
    tl_handle_init(&l->h, HANDLE_LISTENER, NULL);
    atomic_init(&l->next_look, 0);
    for (i = 0; i < n && rc == 0; i++)
        rc = shard_make(l, i, ssls[i], pool);
    if (rc != 0) {
        /* Shard i-1 failed, and nothing of it is left; those before it
         * go, with their SSL objects. */
        *taken = i - 1;
        shards_unmake(l, i - 1);
        tl_hub_destroy(&l->hub);
        tl_free(l->shards);
        tl_free(l);
        return rc;
    }
    l->nshards = n;
    *taken = n;
    *out = l;
    return 0;
}
#endif

int tickless_listener_new(SSL *listener, tickless_pool *pool,
                          tickless_listener **out)
{
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
    unsigned taken;

    return tl_listener_new_shards(&listener, 1, pool, out, &taken);
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

/* One look at every shard, from the one after the last accept's first
 * (so that no shard waits behind another): 0 with |out| set,
 * TICKLESS_ERR_TIMEOUT when none had anything, or the first other
 * failure (TICKLESS_ERR_CLOSED once the listener is closed). */
static int look_at_shards(tickless_listener *l, int streams, void *out,
                          const char *fn)
{
    unsigned first = atomic_fetch_add(&l->next_look, 1);
    unsigned i;

    /* Closed as a whole: the shards close one by one, and a shard still
     * open must not give a connection to an accept that comes after one
     * that found another closed. */
    if (tl_hub_closed(&l->hub))
        return TICKLESS_ERR_CLOSED;
    for (i = 0; i < l->nshards; i++) {
        listener_shard *sh = &l->shards[(first + i) % l->nshards];
        conn_call call = { 0 };
        int rc;

        call.fn = fn;
        call.c = sh->engine;
        call.ssl = sh->engine->ssl;
        call.wq = streams ? &sh->serve_wq : &sh->engine->accept_wq;
        /* tl_conn_run() enters the shard's engine on behalf of |fn|. */
        rc = tl_conn_run(&call, 0, streams ? tl_serve_next_stream : op_accept,
                         out);
        if (rc != TICKLESS_ERR_TIMEOUT)
            return rc;
    }
    return TICKLESS_ERR_TIMEOUT;
}
#endif

/* Both accepts: |out|, a tickless_conn ** (or, with |streams|, a
 * tickless_stream **) that the caller has cleared, given or not
 * (|no_out|); then the listener; then the accept: a look at every shard,
 * and, until one has something, a sleep on the hub. */
static int listener_accept(tickless_listener *l, int no_out, int streams,
                           void *out, int timeout_ms, const char *fn)
{
    int rc = no_out ? TICKLESS_ERR_INVALID : listener_check(l, fn);

    if (rc != 0)
        return rc;
    if (timeout_ms < TICKLESS_FOREVER)
        return TICKLESS_ERR_INVALID;
    if (l->dtls != NULL) {
        if (streams)
            return TICKLESS_ERR_UNSUPPORTED; /* DTLS has no streams */
        return tl_dtls_listener_accept(l->dtls, out, timeout_ms);
    }
#ifndef TICKLESS_HAVE_QUIC_SERVER
    return TICKLESS_ERR_UNSUPPORTED;
#else
    {
        hub_kind kind = streams ? HUB_STREAM : HUB_CONN;
        uint64_t deadline = tl_clock_deadline_after_ms(timeout_ms);
        /* A watcher before the look (accept_hub.h): whatever comes after
         * it moves |gen| on. */
        uint64_t gen = tl_hub_watch(&l->hub, kind);

        for (;;) {
            rc = look_at_shards(l, streams, out, fn);
            if (rc != TICKLESS_ERR_TIMEOUT || timeout_ms == 0)
                break;
            if (tl_hub_wait(&l->hub, kind, &gen, deadline) != 0) {
                /* A last look: one that came just in time is taken. */
                rc = look_at_shards(l, streams, out, fn);
                break;
            }
        }
        tl_hub_unwatch(&l->hub, kind);
        return rc;
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

int tickless_listener_port(tickless_listener *l)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int rc = listener_check(l, __func__);
    int fd;

    if (rc != 0)
        return rc;
    /* Constant from creation to free, which no call may overlap. */
    fd = l->dtls != NULL ? tl_dtls_listener_fd(l->dtls)
                         : l->shards[0].engine->fd;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return TICKLESS_ERR_SYS;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return TICKLESS_ERR_SYS;
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

/* Closes shard engine |e|: says goodbye to its clients, wakes its callers
 * and stops its assist. */
static void shard_close(tickless_conn *e)
{
    int entered, was_closed;
    waitq *wq;

    /* HANDLE_HELD: this thread is inside tickless_conn_lock() on one of
     * the shard's connections, which share this mutex. */
    entered = tl_conn_enter(e, "tickless_listener_close",
                            HANDLE_MAY_HOLD | HANDLE_CLOSED_OK);
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

/* The connections served through tickless_listener_accept_stream() are
 * the listener's to close: each goes once its streams are. As in
 * shard_close(), this thread may hold the mutex already. Then the shard's
 * engine goes with its last member. */
static void shard_free(listener_shard *sh)
{
    int entered = tl_conn_enter(sh->engine, "tickless_listener_free",
                                HANDLE_MAY_HOLD | HANDLE_CLOSED_OK);

    if (entered >= 0) {
        tl_serve_release_all(sh->engine);
        tl_conn_exit(sh->engine, entered);
    }
    tl_waitq_destroy(&sh->serve_wq);
    tl_conn_unref(sh->engine); /* the members hold their own references */
}

#ifdef TICKLESS_HAVE_QUIC_SERVER
static void shards_unmake(tickless_listener *l, unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++)
        shard_close(l->shards[i].engine);
    for (i = 0; i < n; i++)
        shard_free(&l->shards[i]);
}
#endif

void tickless_listener_close(tickless_listener *l)
{
    unsigned i;

    if (listener_check(l, __func__) != 0)
        return;
    if (l->dtls != NULL) {
        tl_dtls_listener_close(l->dtls);
        return;
    }
    /* The hub first: from here on no accept looks at a shard (see
     * look_at_shards()). */
    tl_hub_close(&l->hub);
    for (i = 0; i < l->nshards; i++)
        shard_close(l->shards[i].engine);
}

void tickless_listener_free(tickless_listener *l)
{
    unsigned i;

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
    for (i = 0; i < l->nshards; i++)
        shard_free(&l->shards[i]);
    tl_handle_kill(&l->h);
    tl_hub_destroy(&l->hub);
    tl_free(l->shards);
    tl_handle_release(l);
}
