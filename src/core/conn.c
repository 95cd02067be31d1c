/* A connection's life: creation, references, the application lock, close. */
#include "assist/assist.h"
#include "base/alloc.h"
#include "base/annotate.h"
#include "core/core.h"
#include "base/dlist.h"
#include "base/log.h"
#include "base/sigpipe.h"

#include <stddef.h>
#include <string.h>

#include <openssl/err.h>

/* SSL ex_data slot that marks an SSL object as owned by a tickless
 * connection, so that handing it over twice is caught. */
static int owner_index = -1;
static pthread_once_t owner_once = PTHREAD_ONCE_INIT;

static void owner_index_init(void)
{
    owner_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* Marks |ssl| as |c|'s. Returns 0, TICKLESS_ERR_BUSY (already someone's) or
 * TICKLESS_ERR_NOMEM. */
static int claim_ssl(SSL *ssl, tickless_conn *c)
{
    if (pthread_once(&owner_once, owner_index_init) != 0 || owner_index < 0)
        return TICKLESS_ERR_SSL;
    if (SSL_get_ex_data(ssl, owner_index) != NULL)
        return TICKLESS_ERR_BUSY;
    return SSL_set_ex_data(ssl, owner_index, c) ? 0 : TICKLESS_ERR_NOMEM;
}

static int init_engine_mutex(tickless_conn *c)
{
    pthread_mutexattr_t ma;
    int rc = pthread_mutexattr_init(&ma);

    /* Error-checking, so that a thread that holds tickless_conn_lock() and
     * calls back into tickless gets EDEADLK (reported as INVALID) instead of
     * hanging forever. */
    if (rc == 0) {
        pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
        rc = pthread_mutex_init(&c->mu, &ma);
        pthread_mutexattr_destroy(&ma);
    }
    return rc == 0 ? 0 : TICKLESS_ERR_NOMEM;
}

/* A connection as the guard sees it (handle.h). */
static atomic_uint *conn_refs(void *c)
{
    return &((tickless_conn *)c)->refs;
}

static void conn_unref_obj(void *c)
{
    tl_conn_unref(c);
}

static pthread_mutex_t *conn_mu_obj(void *c)
{
    return conn_mu(c);
}

static int conn_closed_obj(void *c)
{
    return conn_is_closed(c);
}

static void conn_unlock_obj(void *c)
{
    tl_conn_unlock_mu(c);
}

_Static_assert(offsetof(tickless_conn, h) == 0, "the handle comes first");

static const handle_class conn_class = {
    conn_refs, conn_unref_obj, conn_mu_obj, conn_closed_obj,
    conn_unlock_obj
};

/* Allocates |c| with its wait queues; |engine| NULL makes it its own
 * engine (with a mutex). The caller has checked |ssl| and |fd|. */
static int conn_alloc(SSL *ssl, conn_proto proto, int fd,
                      tickless_conn *engine, tickless_conn **out)
{
    tickless_conn *c = tl_calloc(1, sizeof(*c));
    int rc;

    if (c == NULL)
        return TICKLESS_ERR_NOMEM;
    c->ssl = ssl;
    c->fd = fd;
    c->proto = proto;
    c->engine = engine != NULL ? engine : c;
    c->now = tl_clock_now_ns;
    tl_handle_init(&c->h, HANDLE_CONN, &conn_class);
    atomic_init(&c->refs, 1); /* the user's handle */
    atomic_init(&c->close_claimed, 0);
    c->deadline_ns = CLOCK_NEVER;
    c->err.size = sizeof(c->err);
    tl_lathist_init(&c->lateness);
    /* Only an engine's link is ever attached (tl_conn_new_engine()): a
     * member is ticked with its engine. */
    tl_assist_link_init(&c->link, &tl_conn_assist_client, fd,
                        proto == CONN_TLS, &c->engine->mu);
    atomic_init(&c->rx.datagrams, 0);
    atomic_init(&c->app_held, 0);

    rc = engine == NULL ? init_engine_mutex(c) : 0;
    if (rc != 0)
        goto fail;
    rc = tl_waitq_init(&c->wq, WQ_IO, ssl, c);
    if (rc != 0)
        goto fail_mutex;
    rc = tl_waitq_init(&c->accept_wq, WQ_ACCEPT_STREAM, ssl, c);
    if (rc != 0)
        goto fail_wq;
    rc = tl_conn_tx_init(c);
    if (rc != 0)
        goto fail_accept_wq;
    *out = c;
    return 0;

fail_accept_wq:
    tl_waitq_destroy(&c->accept_wq);
fail_wq:
    tl_waitq_destroy(&c->wq);
fail_mutex:
    if (engine == NULL)
        pthread_mutex_destroy(&c->mu);
fail:
    tl_free(c);
    return rc;
}

static void conn_free(tickless_conn *c)
{
    tl_conn_tx_free(c);
    tl_waitq_destroy(&c->accept_wq);
    tl_waitq_destroy(&c->wq);
    if (c->engine == c)
        pthread_mutex_destroy(&c->mu);
    tl_handle_release(c);
}

/* Everything tickless_conn_new() and a listener's shards share: an
 * engine of its own, attached to an assist. */
int tl_conn_new_engine(SSL *ssl, conn_proto proto, int fd, tickless_pool *pool,
                       accept_hub *hub, int place, tickless_conn **out)
{
    int is_listener = hub != NULL;
    tickless_conn *c;
    int rc;

    rc = conn_alloc(ssl, proto, fd, NULL, &c);
    if (rc != 0)
        return rc;
    c->is_listener = is_listener;
    c->hub = hub;
    if (is_listener)
        c->accept_wq.kind = WQ_ACCEPT_CONN;
    rc = claim_ssl(ssl, c);
    if (rc != 0)
        goto fail;
    /* A listener has no blocking mode of its own: accepts pass NO_BLOCK.
     * Its event-handling mode is left as the application set it: the
     * assist ticks a listener whatever the mode, and its callers are never
     * handed the socket (app_driving() in tick.c); what it accepts is made
     * implicit like any connection (tl_conn_new_member()). */
    rc = is_listener ? 0 : tl_ossl_make_nonblocking(ssl, proto, fd);
    if (rc != 0)
        goto fail_owner;
    rc = tl_rx_count_watch(&c->rx,
                           proto == CONN_QUIC ? SSL_get_rbio(ssl) : NULL);
    if (rc != 0)
        goto fail_owner;
    rc = tl_assist_attach(&c->link, pool, place);
    if (rc != 0)
        goto fail_rx;

    /* Not handed out yet, but the assist ticks it already. */
    if (tl_conn_enter(c, __func__, 0) == 0) {
        tl_conn_publish(c);
        tl_conn_exit(c, 0);
    }
    *out = c;
    return 0;

fail_rx:
    tl_rx_count_unwatch(&c->rx);
fail_owner:
    SSL_set_ex_data(ssl, owner_index, NULL);
fail:
    conn_free(c);
    return rc;
}

int tickless_conn_new(SSL *ssl, tickless_pool *pool, tickless_conn **out)
{
    conn_proto proto;
    int fd;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (ssl == NULL || out == NULL)
        return TICKLESS_ERR_INVALID;
    if (pool != NULL) {
        rc = tl_pool_check(pool, __func__);
        if (rc != 0)
            return rc;
    }
    rc = tl_ossl_classify(ssl, &proto);
    if (rc != 0)
        return rc;
    if (tl_ossl_is_accepted(ssl)) {
        /* It shares its listener's socket and engine, which one assist
         * must tick: a connection of its own would be a second reactor on
         * that socket, on whatever pool was passed here. */
        tl_log(TICKLESS_LOG_ERROR, NULL,
               "tickless_conn_new: a QUIC connection accepted from a "
               "listener comes from tickless_listener_accept()");
        return TICKLESS_ERR_INVALID;
    }
    if (SSL_get_mode(ssl) & SSL_MODE_ASYNC) {
        /* An async job paused on one thread and finished on another
         * returns to the first thread's stack (OpenSSL's async_start_func
         * keeps the starting thread's context): a crash, and tickless
         * calls OpenSSL from whichever thread comes first. */
        tl_log(TICKLESS_LOG_ERROR, NULL,
               "tickless_conn_new: SSL_MODE_ASYNC is not supported (OpenSSL "
               "resumes an async job only on the thread that started it)");
        return TICKLESS_ERR_UNSUPPORTED;
    }
    fd = tl_ossl_socket_fd(ssl, proto);
    if (fd < 0)
        return TICKLESS_ERR_INVALID;
    return tl_conn_new_engine(ssl, proto, fd, pool, NULL, -1, out);
}

int tl_conn_new_member(SSL *ssl, tickless_conn *engine, tickless_conn **out)
{
    tickless_conn *c;
    int rc;

    rc = conn_alloc(ssl, engine->proto, engine->fd, engine, &c);
    if (rc != 0)
        return rc;
    rc = claim_ssl(ssl, c);
    if (rc == 0)
        rc = tl_ossl_make_nonblocking(ssl, engine->proto, engine->fd);
    if (rc != 0) {
        SSL_set_ex_data(ssl, owner_index, NULL);
        conn_free(c);
        return rc;
    }
    tl_conn_ref(engine); /* the member keeps the engine (and its SSL) alive */
    /* Listed until its SSL is freed, so closing the listener can say
     * goodbye to its peer (tickless_listener_close()). Caller holds the
     * engine's mutex. */
    DLIST_PUSH(engine->members, c, member_prev, member_next);
    *out = c;
    return 0;
}

void tl_conn_ref(tickless_conn *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void tl_conn_unref(tickless_conn *c)
{
    tickless_conn *engine = c->engine;
    int held;

    annotate_happens_before(&c->refs);
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    annotate_happens_after(&c->refs); /* the acquire, for Valgrind */
    /* Last reference: nobody else can reach c any more. A member's SSL
     * goes before its engine's: OpenSSL frees a listener's port under the
     * connections otherwise (openssl#32420). */
    if (engine == c) {
        tl_rx_count_unwatch(&c->rx);
        SSL_free(c->ssl);
        conn_free(c);
        return;
    }
    /* A member: its engine may be ticking right now. This thread may hold
     * the engine's mutex already, through tickless_conn_lock() on another
     * connection of the listener (it closed this one inside that section):
     * then the mutex stays held, and the section goes on. Not entered
     * (handle.h): the handle is dead, and the member's reference on its
     * engine is what keeps the mutex alive. */
    held = tl_handle_lock(&engine->mu, HANDLE_MAY_HOLD) == HANDLE_HELD;
    DLIST_REMOVE(engine->members, c, member_prev, member_next);
    SSL_free(c->ssl);
    tl_engine_kick(engine); /* its CONNECTION_CLOSE, if any, goes out now */
    if (!held)
        tl_conn_unlock_mu(engine);
    conn_free(c);
    tl_conn_unref(engine);
}

void tl_conn_release_served(tickless_conn *m)
{
    m->closed = 1;
    tl_engine_wake_owned(m->engine, m);
    tl_handle_kill(&m->h);
    tl_conn_unref(m); /* the engine's mutex stays held (EDEADLK) */
}

/* What the assist asks of a connection (assist_client): its tick, and
 * references as any user takes them. */
static tickless_conn *conn_of_link(assist_link *l)
{
    return (tickless_conn *)((char *)l - offsetof(tickless_conn, link));
}

static int client_tick(assist_link *l, unsigned *reasons, uint64_t *due_ns,
                       tick_decision *next)
{
    return tl_conn_tick(conn_of_link(l), reasons, due_ns, next);
}

static int client_app_holds(assist_link *l)
{
    return atomic_load(&conn_of_link(l)->app_held);
}

static void client_ref(assist_link *l)
{
    tl_conn_ref(conn_of_link(l));
}

static void client_unref(assist_link *l)
{
    tl_conn_unref(conn_of_link(l));
}

const assist_client tl_conn_assist_client = {
    client_tick, client_app_holds, client_ref, client_unref,
};

void tickless_conn_close(tickless_conn *c)
{
    tickless_conn *e;
    int entered, inside_lock;

    /* HANDLE_HELD: this thread holds the engine's mutex through
     * tickless_conn_lock(), on |c| itself or, for a connection accepted
     * from a listener, on another connection of that listener. Closing
     * from inside the section on |c| ends it too; a section on another
     * connection goes on, its lock kept. */
    entered = tl_conn_enter(c, __func__, HANDLE_MAY_HOLD | HANDLE_CLOSED_OK);
    if (entered < 0)
        return;
    /* Two closes racing: the handle is the user's reference, given back
     * once. The loser gives back only the guard's. */
    if (atomic_exchange(&c->close_claimed, 1)) {
        tl_conn_exit(c, entered);
        tl_log(TICKLESS_LOG_ERROR, NULL,
               "%s: this connection is already being closed", __func__);
        return;
    }
    e = c->engine;
    inside_lock = entered == HANDLE_HELD && c->app_locked;
    if (inside_lock) {
        atomic_store(&e->app_held, 0);
        entered = 0; /* the section ends here: its hold is let go below */
    }
    c->app_locked = 0;
    c->closed = 1;
    tl_engine_wake_owned(e, c);
    /* A section ended here ends as tickless_conn_unlock() ends one: its
     * tick (tickless_conn_lock()) and the application's calls may have
     * taken what the engine's other sleepers wait for (another connection
     * of the listener, its accepts), which no assist tick will bring. */
    if (inside_lock && e != c) {
        tl_conn_publish(e);
        tl_engine_wake_ready(e);
    }
    tl_conn_exit(c, entered); /* the handle's reference keeps |c| */

    if (e == c)
        tl_assist_detach(&c->link);
    if (inside_lock)
        tl_conn_unref(c); /* the reference tickless_conn_lock() took */
    /* From here on the handle is refused (a second close included), for
     * as long as the memory stays in the quarantine. */
    tl_handle_kill(&c->h);
    tl_conn_unref(c);
}

SSL *tickless_conn_lock(tickless_conn *c)
{
    if (tl_conn_enter(c, __func__, 0) != 0)
        return NULL; /* closed, or this thread already holds it */
    /* QUIC: the section starts from what has arrived. What waits unread
     * in the socket would otherwise be read by the application's first
     * call, after whatever that call began: a close, say. OpenSSL, reading
     * packets once a close has begun, counts them against the 3x
     * anti-amplification budget of its closing state, which can then
     * refuse a CONNECTION_CLOSE with a long reason; and a client that
     * reads the server's HANDSHAKE_DONE only then sends its CONNECTION_CLOSE
     * in a Handshake packet alone, which the server can no longer read.
     * Either way the peer would learn of the close only by its idle
     * timeout (docs/reliability.md, "OpenSSL's QUIC close"). */
    if (c->proto == CONN_QUIC && !c->engine->fatal) {
        ERR_set_mark();
        if (!tl_ossl_handle_events(c->ssl, c->proto))
            tl_conn_capture_assist_error(c->engine);
        ERR_pop_to_mark();
    }
    /* The application may write on the SSL object itself: bytes a
     * timed-out write left with OpenSSL go first, if the socket takes
     * them now (tx_held.h). */
    if (c->tx.len > 0) {
        sigpipe_guard guard;

        tl_sigpipe_block(&guard);
        tl_conn_tx_step(c);
        tl_sigpipe_restore(&guard);
    }
    /* The reference and the mutex tl_conn_enter() took are kept until
     * the unlock. */
    c->app_locked = 1;
    c->locked_by = pthread_self();
    atomic_store(&c->engine->app_held, 1);
    return c->ssl;
}

void tickless_conn_unlock(tickless_conn *c)
{
    tickless_conn *e;

    /* Only the locking thread may read these without the mutex; anyone else
     * is misusing the call and is turned away (unchecked race, see header). */
    if (tl_conn_check(c, __func__) != 0 || !c->app_locked
        || !pthread_equal(c->locked_by, pthread_self()))
        return;
    e = c->engine;
    /* The application may have read, written or changed anything: tell the
     * assist and let blocked callers retry. */
    c->app_locked = 0;
    /* Cleared before publishing: an assist that deferred us after this
     * sees the mutex as a tickless call's and waits for it instead. */
    atomic_store(&e->app_held, 0);
    tl_conn_publish(e);
    tl_engine_wake_ready(e);
    pthread_mutex_unlock(&e->mu);
    tl_conn_unref(c);
}
