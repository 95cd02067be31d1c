/* Dispatch between the two kinds of assist. */
#include "assist/assist.h"

#include "assist/dedicated.h"
#include "assist/shard.h"

int assist_attach(tickless_conn *c, tickless_pool *pool)
{
    if (pool != NULL)
        return TICKLESS_ERR_INVALID; /* no pool can exist yet */
    return dedicated_start(c);
}

void assist_sync(tickless_conn *c, uint64_t deadline_ns, unsigned interest)
{
    if (c->link.shard != NULL)
        shard_sync(c->link.shard, c, deadline_ns, interest);
}

void assist_detach(tickless_conn *c)
{
    dedicated *d;
    shard *s;

    /* Unpublish first, under the connection mutex, so no caller that is
     * still leaving can reach the shard after it is gone. */
    pthread_mutex_lock(&c->mu);
    s = c->link.shard;
    d = c->link.owned;
    c->link.shard = NULL;
    c->link.owned = NULL;
    pthread_mutex_unlock(&c->mu);

    if (d != NULL)
        dedicated_stop(d, c);
    else if (s != NULL)
        shard_detach(s, c);
}

uint64_t assist_cpu_ns(tickless_conn *c)
{
    return c->link.owned != NULL ? dedicated_cpu_ns(c->link.owned) : 0;
}
