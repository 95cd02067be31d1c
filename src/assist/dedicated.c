#include "assist/dedicated.h"

#include "assist/runner.h"
#include "core/alloc.h"

int dedicated_start(tickless_conn *c)
{
    static const runner_options opts = { "tickless-conn", 0, -1, 0 };
    dedicated *d = tickless_calloc(1, sizeof(*d));
    int rc;

    if (d == NULL)
        return TICKLESS_ERR_NOMEM;
    rc = shard_init(&d->shard);
    if (rc != 0) {
        tickless_free(d);
        return rc;
    }
    rc = shard_attach(&d->shard, c);
    if (rc != 0)
        goto fail;
    c->link.owned = d;
    rc = runner_start(&d->shard, &opts);
    if (rc != 0) {
        c->link.owned = NULL;
        shard_detach(&d->shard, c);
        c->link.shard = NULL;
        goto fail;
    }
    return 0;

fail:
    shard_destroy(&d->shard);
    tickless_free(d);
    return rc;
}

void dedicated_stop(dedicated *d, tickless_conn *c)
{
    shard_detach(&d->shard, c);
    runner_stop(&d->shard);
    shard_destroy(&d->shard);
    tickless_free(d);
}
