#include "assist/dedicated.h"

#include "assist/runner.h"
#include "base/alloc.h"

int tl_dedicated_start(assist_link *l)
{
    static const runner_options opts = {
        .name = "tickless-conn", .cpu = -1, .idle_release = 1,
    };
    dedicated *d = tl_calloc(1, sizeof(*d));
    int rc;

    if (d == NULL)
        return TICKLESS_ERR_NOMEM;
    rc = tl_shard_init(&d->shard, 1);
    if (rc != 0) {
        tl_free(d);
        return rc;
    }
    rc = tl_shard_attach(&d->shard, l);
    if (rc != 0)
        goto fail;
    l->owned = d;
    rc = tl_runner_start(&d->shard, &opts);
    if (rc != 0) {
        l->owned = NULL;
        tl_shard_detach(&d->shard, l);
        l->shard = NULL;
        goto fail;
    }
    return 0;

fail:
    tl_shard_destroy(&d->shard);
    tl_free(d);
    return rc;
}

void tl_dedicated_stop(dedicated *d, assist_link *l)
{
    tl_shard_detach(&d->shard, l);
    tl_runner_stop(&d->shard);
    tl_shard_destroy(&d->shard);
    tl_free(d);
}
