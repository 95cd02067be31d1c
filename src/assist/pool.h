/* A pool: a fixed set of shards, each run by its own thread (or, with no
 * threads, one shard that the application runs from its own event loop).
 * Connections are spread over the shards by load and stay on theirs. */
#ifndef TICKLESS_ASSIST_POOL_H
#define TICKLESS_ASSIST_POOL_H

#include <pthread.h>

#include "assist/shard.h"
#include "base/handle.h"

struct tickless_pool {
    handle h;             /* live until tickless_pool_free() (handle.h) */
    shard *shards;        /* nshards of them; constant after creation */
    unsigned nshards;     /* threads, or 1 when application-driven */
    unsigned threads;     /* 0: application-driven */
    pthread_mutex_t run_mu; /* application-driven: one runner at a time */

    pthread_mutex_t mu;   /* guards the two below */
    size_t nconns;        /* attached connections */
    int freeing;          /* tickless_pool_free() has begun */
};

/* Attaches |l| to the least-loaded shard (|place| < 0) or to shard |place|
 * modulo their number; sets l->pool. Returns 0, TICKLESS_ERR_NOMEM or
 * TICKLESS_ERR_CLOSED (the pool is being freed). */
int tl_pool_attach(tickless_pool *p, assist_link *l, int place);

/* Forgets a connection that has been detached from its shard. After this
 * the pool may be freed by another thread at any moment. */
void tl_pool_forget(tickless_pool *p);

#endif
