/* Where a sharded listener's workers wait: see accept_hub.h. */
#include "core/accept_hub.h"
#include "base/clock.h"
#include "tickless/tickless.h"

#include <errno.h>

int tl_hub_init(accept_hub *h)
{
    pthread_condattr_t ca;
    int i, n = 0;

    if (pthread_condattr_init(&ca) != 0)
        return TICKLESS_ERR_NOMEM;
    /* Timeouts must not jump when someone sets the wall clock. */
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    while (n < HUB_KINDS && pthread_cond_init(&h->cv[n], &ca) == 0)
        n++;
    pthread_condattr_destroy(&ca);
    if (n < HUB_KINDS || pthread_mutex_init(&h->mu, NULL) != 0) {
        while (n > 0)
            pthread_cond_destroy(&h->cv[--n]);
        return TICKLESS_ERR_NOMEM;
    }
    atomic_init(&h->closed, 0);
    for (i = 0; i < HUB_KINDS; i++) {
        h->gen[i] = 0;
        atomic_init(&h->watchers[i], 0);
    }
    return 0;
}

void tl_hub_destroy(accept_hub *h)
{
    int i;

    for (i = 0; i < HUB_KINDS; i++)
        pthread_cond_destroy(&h->cv[i]);
    pthread_mutex_destroy(&h->mu);
}

uint64_t tl_hub_watch(accept_hub *h, hub_kind k)
{
    uint64_t gen;

    pthread_mutex_lock(&h->mu);
    atomic_fetch_add(&h->watchers[k], 1);
    gen = h->gen[k];
    pthread_mutex_unlock(&h->mu);
    return gen;
}

void tl_hub_unwatch(accept_hub *h, hub_kind k)
{
    atomic_fetch_sub(&h->watchers[k], 1);
}

int tl_hub_wait(accept_hub *h, hub_kind k, uint64_t *gen, uint64_t deadline)
{
    struct timespec ts = tl_clock_to_timespec(deadline);
    int rc = 0;

    pthread_mutex_lock(&h->mu);
    while (h->gen[k] == *gen && !atomic_load(&h->closed) && rc == 0) {
        if (deadline == CLOCK_NEVER)
            pthread_cond_wait(&h->cv[k], &h->mu);
        else if (pthread_cond_timedwait(&h->cv[k], &h->mu, &ts) == ETIMEDOUT)
            rc = TICKLESS_ERR_TIMEOUT;
    }
    *gen = h->gen[k];
    pthread_mutex_unlock(&h->mu);
    return rc;
}

int tl_hub_watched(accept_hub *h, hub_kind k)
{
    return atomic_load(&h->watchers[k]) > 0;
}

void tl_hub_wake(accept_hub *h, hub_kind k)
{
    pthread_mutex_lock(&h->mu);
    h->gen[k]++;
    pthread_cond_broadcast(&h->cv[k]);
    pthread_mutex_unlock(&h->mu);
}

void tl_hub_close(accept_hub *h)
{
    int i;

    pthread_mutex_lock(&h->mu);
    atomic_store(&h->closed, 1);
    for (i = 0; i < HUB_KINDS; i++)
        pthread_cond_broadcast(&h->cv[i]);
    pthread_mutex_unlock(&h->mu);
}

int tl_hub_closed(accept_hub *h)
{
    return atomic_load(&h->closed);
}
