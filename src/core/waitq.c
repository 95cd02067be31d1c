/* Wait queues: where blocked callers sleep, and who wakes them. */
#include "core/core.h"
#include "base/dlist.h"

#include <unistd.h>

#include <openssl/err.h>

int tl_waitq_init(waitq *wq, waitq_kind kind, SSL *ssl, tickless_conn *owner)
{
    pthread_condattr_t ca;
    int rc;

    wq->gen = 0;
    wq->waiters = wq->readers = wq->writers = 0;
    wq->kind = kind;
    wq->ssl = ssl;
    wq->owner = owner;
    wq->poll_fd = -1;
    wq->writer = NULL;
    wq->write_room = 0;
    wq->prev = wq->next = NULL;
    if (pthread_condattr_init(&ca) != 0)
        return TICKLESS_ERR_NOMEM;
    /* Timeouts must not jump when someone sets the wall clock. */
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&wq->cv, &ca);
    pthread_condattr_destroy(&ca);
    return rc == 0 ? 0 : TICKLESS_ERR_NOMEM;
}

void tl_waitq_destroy(waitq *wq)
{
    pthread_cond_destroy(&wq->cv);
}

void tl_waitq_enter(tickless_conn *e, waitq *wq, unsigned want)
{
    if (wq->waiters++ == 0)
        DLIST_PUSH(e->sleeping, wq, prev, next);
    wq->readers += want == IO_READ;
    wq->writers += want == IO_WRITE;
}

void tl_waitq_leave(tickless_conn *e, waitq *wq, unsigned want)
{
    wq->readers -= want == IO_READ;
    wq->writers -= want == IO_WRITE;
    if (--wq->waiters == 0)
        DLIST_REMOVE(e->sleeping, wq, prev, next);
}

void tl_waitq_wake(waitq *wq)
{
    wq->gen++;
    pthread_cond_broadcast(&wq->cv);
    tl_waitq_wake_poller(wq);
}

void tl_waitq_wake_poller(waitq *wq)
{
    uint64_t one = 1;

    if (wq->poll_fd >= 0)
        (void)!write(wq->poll_fd, &one, sizeof(one));
}

int tl_waitq_alone(const tickless_conn *e, const waitq *wq)
{
    /* |wq| is linked on |e|'s sleeping list while its caller sleeps. */
    const waitq *first = e->sleeping;

    if (e->tx.len > 0)
        return 0;
    if (first == NULL)
        return 1; /* about to sleep: nobody else does */
    return first == wq && wq->next == NULL && wq->waiters <= 1;
}

/* Whether a sleeper of |wq| could now make progress. Errs towards yes: a
 * needless wake-up costs one retry, a missed one a hang. |strict| leaves
 * out the sleepers no getter can speak for (handshake, shutdown, a writer
 * waiting for the peer's credit), which are then woken only by a tick: so
 * that two of them never wake each other in turn. */
static int waitq_ready(tickless_conn *e, waitq *wq, int strict)
{
    int ready;

    if (e->proto != CONN_QUIC || conn_is_closed(wq->owner) || wq->owner->fatal)
        return 1;
    /* The getters below may queue errors (a connection with no stream yet):
     * they are questions, not failures. */
    ERR_set_mark();
    if (wq->kind != WQ_IO)
        ready = tl_waitq_accept_ready(e, wq);
    else
        ready = (!strict && wq->waiters > wq->readers + wq->writers)
                || (wq->readers > 0 && tl_ossl_read_ready(wq->ssl))
                || (wq->writers > 0
                    && tl_ossl_write_ready(wq->ssl, wq->write_room,
                                           !strict));
    ERR_pop_to_mark();
    return ready;
}

/* Whether tickless_listener_accept_stream() on listener engine |e| has
 * something to do (stream_server.c): a connection to adopt, or a member it
 * serves with a stream to hand out or that has ended, to give back. */
static int serve_ready(tickless_conn *e)
{
    tickless_conn *m;

    if (tl_ossl_accept_conn_ready(e->ssl))
        return 1;
    for (m = e->members; m != NULL; m = m->member_next)
        if (m->served && !m->closed
            && (tl_ossl_streams_queued(m->ssl) || conn_served_finished(m)))
            return 1;
    return 0;
}

int tl_waitq_accept_ready(tickless_conn *e, const waitq *wq)
{
    switch (wq->kind) {
    case WQ_ACCEPT_CONN:
        return tl_ossl_accept_conn_ready(wq->ssl);
    case WQ_ACCEPT_STREAM:
        return tl_ossl_accept_stream_ready(wq->ssl);
    case WQ_SERVE_STREAM:
        return serve_ready(e);
    case WQ_IO:
    default:
        return 1; /* not an accept queue: any doubt answers yes */
    }
}

int tl_engine_watched(tickless_conn *e)
{
    return e->sleeping != NULL
           || (e->hub != NULL
               && (tl_hub_watched(e->hub, HUB_CONN)
                   || tl_hub_watched(e->hub, HUB_STREAM)));
}

/* A listener's accepts sleep on its hub, not on a shard's queues (see
 * accept_hub.h): wake them when this shard has what they wait for. */
static void wake_hub(tickless_conn *e)
{
    accept_hub *h = e->hub;

    if (h == NULL)
        return;
    ERR_set_mark();
    if (tl_hub_watched(h, HUB_CONN) && tl_ossl_accept_conn_ready(e->ssl))
        tl_hub_wake(h, HUB_CONN);
    if (tl_hub_watched(h, HUB_STREAM) && serve_ready(e))
        tl_hub_wake(h, HUB_STREAM);
    ERR_pop_to_mark();
}

void tl_engine_wake_ready(tickless_conn *e)
{
    waitq *wq = e->sleeping;

    wake_hub(e);
    if (wq != NULL && wq->next == NULL && wq->kind == WQ_IO) {
        tl_waitq_wake(wq); /* the common case: one connection, one queue */
        return;
    }
    for (; wq != NULL; wq = wq->next)
        if (waitq_ready(e, wq, 0))
            tl_waitq_wake(wq);
}

void tl_engine_wake_progress(tickless_conn *e)
{
    waitq *wq;

    if (e->proto != CONN_QUIC)
        return;
    wake_hub(e);
    for (wq = e->sleeping; wq != NULL; wq = wq->next)
        if (waitq_ready(e, wq, 1))
            tl_waitq_wake(wq);
}

void tl_engine_wake_owned(tickless_conn *e, tickless_conn *owner)
{
    waitq *wq;

    for (wq = e->sleeping; wq != NULL; wq = wq->next)
        if (wq->owner == owner)
            tl_waitq_wake(wq);
}
