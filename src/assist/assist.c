/* Dispatch between the two kinds of assist. */
#include "assist/assist.h"

#include "assist/dedicated.h"
#include "assist/pool.h"
#include "assist/runner.h"
#include "assist/shard.h"
#include "base/handle.h"

void tl_assist_link_init(assist_link *l, const assist_client *client, int fd,
                         int may_sigpipe, pthread_mutex_t *owner_mu)
{
    l->client = client;
    l->fd = fd;
    l->may_sigpipe = may_sigpipe;
    l->owner_mu = owner_mu;
    tl_heap_node_init(&l->timer);
    atomic_init(&l->deferred, 0);
}

int tl_assist_attach(assist_link *l, tickless_pool *pool, int place)
{
    if (pool != NULL)
        return tl_pool_attach(pool, l, place);
    return tl_dedicated_start(l);
}

int tl_assist_sync(assist_link *l, const tick_decision *d)
{
    /* Cleared before the shard hears of it: an assist that defers the
     * connection after this sets it again, and the next release of the
     * mutex publishes once more. */
    atomic_store(&l->deferred, 0);
    return l->shard != NULL ? tl_shard_sync(l->shard, l, d) : 0;
}

int tl_assist_take_deferred(assist_link *l)
{
    return atomic_exchange(&l->deferred, 0);
}

int tl_assist_attached(const assist_link *l)
{
    return l->shard != NULL;
}

void tl_assist_detach(assist_link *l)
{
    tickless_pool *p;
    dedicated *d;
    shard *s;
    int held;

    /* Unpublish first, under the connection mutex, so no caller that is
     * still leaving can reach the shard after it is gone. HANDLE_HELD:
     * this thread holds it already, through tickless_conn_lock() (see
     * tickless_listener_close()); it stays held. Not entered (handle.h):
     * the closing caller holds a reference and has marked the connection
     * closed. */
    held = tl_handle_lock(l->owner_mu, HANDLE_MAY_HOLD) == HANDLE_HELD;
    s = l->shard;
    d = l->owned;
    p = l->pool;
    l->shard = NULL;
    l->owned = NULL;
    l->pool = NULL;
    if (!held)
        pthread_mutex_unlock(l->owner_mu);

    if (d != NULL) {
        tl_dedicated_stop(d, l);
    } else if (s != NULL) {
        tl_shard_detach(s, l);
        if (p != NULL)
            tl_pool_forget(p); /* last touch: the pool may be freed now */
    }
}

int tl_assist_has_thread(const assist_link *l)
{
    /* Set before the connection is handed out (the dedicated thread is
     * started, and a pool's threads are, before anyone can call on it). */
    return l->shard != NULL && l->shard->has_runner;
}

uint64_t tl_assist_cpu_ns(const assist_link *l)
{
    return l->shard != NULL ? tl_runner_cpu_ns(l->shard) : 0;
}
