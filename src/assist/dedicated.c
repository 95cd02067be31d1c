#include "assist/dedicated.h"

#include <time.h>

#include "core/alloc.h"
#include "core/sigpipe.h"

static void *dedicated_main(void *arg)
{
    dedicated *d = arg;

    while (!atomic_load(&d->shard.stopping)) {
        if (shard_run_once(&d->shard, CLOCK_NEVER) < 0) {
            /* epoll itself failed (EBADF/EINVAL cannot happen with our own
             * descriptors): there is nothing sensible left to retry. */
            break;
        }
    }
    return NULL;
}

/* The thread starts with every asynchronous signal blocked (inherited, so
 * there is no window in which it could take one of the application's). */
static int start_thread(dedicated *d)
{
    sigset_t saved;
    int rc;

    pthread_sigmask(SIG_SETMASK, NULL, &saved);
    sigpipe_block_all_signals();
    rc = pthread_create(&d->thread, NULL, dedicated_main, d);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    return rc;
}

int dedicated_start(tickless_conn *c)
{
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
    if (start_thread(d) != 0) {
        c->link.owned = NULL;
        shard_detach(&d->shard, c);
        c->link.shard = NULL;
        rc = TICKLESS_ERR_SYS;
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
    atomic_store(&d->shard.stopping, 1);
    shard_wake(&d->shard);
    pthread_join(d->thread, NULL);
    shard_destroy(&d->shard);
    tickless_free(d);
}

uint64_t dedicated_cpu_ns(dedicated *d)
{
    clockid_t cid;
    struct timespec ts;

    if (pthread_getcpuclockid(d->thread, &cid) != 0
        || clock_gettime(cid, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}
