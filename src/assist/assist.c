/* Dispatch between the two kinds of assist. */
#include "assist/assist.h"

#include "assist/dedicated.h"
#include "assist/pool.h"
#include "assist/runner.h"
#include "assist/shard.h"

void tl_assist_link_init(tickless_conn *c)
{
    tl_heap_node_init(&c->link.timer);
    atomic_init(&c->link.deferred, 0);
}

int tl_assist_attach(tickless_conn *c, tickless_pool *pool)
{
    if (pool != NULL)
        return tl_pool_attach(pool, c);
    return tl_dedicated_start(c);
}

void tl_assist_sync(tickless_conn *c, const tick_decision *d)
{
    /* Cleared before the shard hears of it: an assist that defers the
     * connection after this sets it again, and the next release of the
     * mutex publishes once more. */
    atomic_store(&c->link.deferred, 0);
    if (c->link.shard != NULL)
        tl_shard_sync(c->link.shard, c, d);
}

int tl_assist_take_deferred(tickless_conn *c)
{
    return atomic_exchange(&c->link.deferred, 0);
}

int tl_assist_attached(const tickless_conn *c)
{
    return c->link.shard != NULL;
}

void tl_assist_detach(tickless_conn *c)
{
    tickless_pool *p;
    dedicated *d;
    shard *s;
    int held;

    /* Unpublish first, under the connection mutex, so no caller that is
     * still leaving can reach the shard after it is gone. HANDLE_HELD:
     * this thread holds it already, through tickless_conn_lock() (see
     * tickless_listener_close()); it stays held. Not entered (handle.h):
     * the closing caller holds a reference and has marked |c| closed. */
    held = tl_handle_lock(&c->mu, HANDLE_MAY_HOLD) == HANDLE_HELD;
    s = c->link.shard;
    d = c->link.owned;
    p = c->link.pool;
    c->link.shard = NULL;
    c->link.owned = NULL;
    c->link.pool = NULL;
    if (!held)
        pthread_mutex_unlock(&c->mu);

    if (d != NULL) {
        tl_dedicated_stop(d, c);
    } else if (s != NULL) {
        tl_shard_detach(s, c);
        if (p != NULL)
            tl_pool_forget(p); /* last touch: the pool may be freed now */
    }
}

int tl_assist_has_thread(const tickless_conn *c)
{
    /* Set before the connection is handed out (the dedicated thread is
     * started, and a pool's threads are, before anyone can call on it). */
    return c->link.shard != NULL && c->link.shard->has_runner;
}

uint64_t tl_assist_cpu_ns(tickless_conn *c)
{
    return c->link.shard != NULL ? tl_runner_cpu_ns(c->link.shard) : 0;
}
