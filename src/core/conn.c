/* A connection's life: creation, references, the application lock, close. */
#include "assist/assist.h"
#include "core/alloc.h"
#include "core/core.h"

#include <errno.h>
#include <string.h>

/* SSL ex_data slot that marks an SSL object as owned by a tickless
 * connection, so that handing it over twice is caught. */
static int owner_index = -1;
static pthread_once_t owner_once = PTHREAD_ONCE_INIT;

static void owner_index_init(void)
{
    owner_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static int init_sync(tickless_conn *c)
{
    pthread_mutexattr_t ma;
    pthread_condattr_t ca;
    int rc;

    /* Error-checking, so that a thread that holds tickless_conn_lock() and
     * calls back into tickless gets EDEADLK (reported as INVALID) instead of
     * hanging forever. */
    if (pthread_mutexattr_init(&ma) != 0)
        return TICKLESS_ERR_NOMEM;
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
    rc = pthread_mutex_init(&c->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    if (rc != 0)
        return TICKLESS_ERR_NOMEM;

    if (pthread_condattr_init(&ca) != 0)
        goto fail_mutex;
    /* Timeouts must not jump when someone sets the wall clock. */
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        goto fail_mutex;
    return 0;

fail_mutex:
    pthread_mutex_destroy(&c->mu);
    return TICKLESS_ERR_NOMEM;
}

int tickless_conn_new(SSL *ssl, tickless_pool *pool, tickless_conn **out)
{
    tickless_conn *c;
    conn_proto proto;
    int fd;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (ssl == NULL || out == NULL)
        return TICKLESS_ERR_INVALID;
    rc = ossl_classify(ssl, &proto);
    if (rc != 0)
        return rc;
    fd = ossl_socket_fd(ssl, proto);
    if (fd < 0)
        return TICKLESS_ERR_INVALID;

    if (pthread_once(&owner_once, owner_index_init) != 0 || owner_index < 0)
        return TICKLESS_ERR_SSL;
    if (SSL_get_ex_data(ssl, owner_index) != NULL)
        return TICKLESS_ERR_BUSY;

    c = tickless_calloc(1, sizeof(*c));
    if (c == NULL)
        return TICKLESS_ERR_NOMEM;
    c->ssl = ssl;
    c->fd = fd;
    c->proto = proto;
    atomic_init(&c->refs, 1); /* the user's handle */
    c->deadline_ns = CLOCK_NEVER;
    c->err.size = sizeof(c->err);
    lathist_init(&c->lateness);
    heap_node_init(&c->link.timer);
    atomic_init(&c->link.deferred, 0);

    rc = init_sync(c);
    if (rc != 0) {
        tickless_free(c);
        return rc;
    }
    if (!SSL_set_ex_data(ssl, owner_index, c)) {
        rc = TICKLESS_ERR_NOMEM;
        goto fail;
    }
    rc = ossl_make_nonblocking(ssl, proto, fd);
    if (rc != 0)
        goto fail_owner;
    rc = rx_count_watch(&c->rx, proto == CONN_QUIC ? SSL_get_rbio(ssl) : NULL);
    if (rc != 0)
        goto fail_owner;
    rc = assist_attach(c, pool);
    if (rc != 0)
        goto fail_rx;

    pthread_mutex_lock(&c->mu);
    conn_publish(c);
    pthread_mutex_unlock(&c->mu);
    *out = c;
    return 0;

fail_rx:
    rx_count_unwatch(&c->rx);
fail_owner:
    SSL_set_ex_data(ssl, owner_index, NULL);
fail:
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    tickless_free(c);
    return rc;
}

void conn_ref(tickless_conn *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void conn_unref(tickless_conn *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    /* Last reference: nobody else can reach c any more. */
    rx_count_unwatch(&c->rx);
    SSL_free(c->ssl);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    tickless_free(c);
}

void conn_broadcast(tickless_conn *c)
{
    c->wake_gen++;
    pthread_cond_broadcast(&c->cv);
}

void conn_unlock_mu(tickless_conn *c)
{
    if (atomic_exchange(&c->link.deferred, 0))
        conn_publish(c);
    pthread_mutex_unlock(&c->mu);
}

void tickless_conn_close(tickless_conn *c)
{
    int inside_lock;

    if (c == NULL)
        return;
    /* Closing from inside tickless_conn_lock() ends that section too. */
    inside_lock = pthread_mutex_lock(&c->mu) == EDEADLK;
    c->app_locked = 0;
    c->closed = 1;
    conn_broadcast(c);
    pthread_mutex_unlock(&c->mu);

    assist_detach(c);
    if (inside_lock)
        conn_unref(c); /* the reference tickless_conn_lock() took */
    conn_unref(c);
}

SSL *tickless_conn_lock(tickless_conn *c)
{
    if (c == NULL)
        return NULL;
    if (pthread_mutex_lock(&c->mu) != 0)
        return NULL; /* EDEADLK: this thread already holds it */
    if (c->closed) {
        pthread_mutex_unlock(&c->mu);
        return NULL;
    }
    conn_ref(c);
    c->app_locked = 1;
    c->locked_by = pthread_self();
    return c->ssl;
}

void tickless_conn_unlock(tickless_conn *c)
{
    /* Only the locking thread may read these without the mutex; anyone else
     * is misusing the call and is turned away (unchecked race, see header). */
    if (c == NULL || !c->app_locked
        || !pthread_equal(c->locked_by, pthread_self()))
        return;
    /* The application may have read, written or changed anything: tell the
     * assist and let blocked callers retry. */
    c->app_locked = 0;
    atomic_store(&c->link.deferred, 0);
    conn_publish(c);
    if (c->waiters > 0)
        conn_broadcast(c);
    pthread_mutex_unlock(&c->mu);
    conn_unref(c);
}
