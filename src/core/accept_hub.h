/* accept_hub: where the workers of a sharded listener wait.
 *
 * A listener with several shards (tickless_listen()) has one OpenSSL
 * listener per shard, each on its own socket and its own engine, with its
 * own mutex. A worker blocked in an accept cannot sleep on one shard's
 * wait queue: a connection could come in on another. It sleeps here
 * instead, on the listener's hub, and looks at every shard each time it
 * wakes. A shard's tick wakes the hub when it holds what the hub's
 * workers want (waitq.c), so a connection on any shard wakes them.
 *
 * No lost wake-up: a worker counts itself a watcher and reads the
 * generation before it looks at the shards. A shard that gets something
 * after that look does so under its own mutex, after the look, so it
 * sees the watcher and moves the generation on; the worker's wait then
 * returns at once. Lock order: a shard's mutex, then the hub's. */
#ifndef TICKLESS_CORE_ACCEPT_HUB_H
#define TICKLESS_CORE_ACCEPT_HUB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* What the hub's workers wait for. */
typedef enum hub_kind {
    HUB_CONN,   /* tickless_listener_accept() */
    HUB_STREAM, /* tickless_listener_accept_stream() */
    HUB_KINDS
} hub_kind;

typedef struct accept_hub {
    pthread_mutex_t mu;
    pthread_cond_t cv[HUB_KINDS];
    uint64_t gen[HUB_KINDS];          /* mu */
    atomic_int closed;                /* written under mu */
    atomic_uint watchers[HUB_KINDS];  /* accepts under way, asleep or
                                         looking at the shards */
} accept_hub;

int tl_hub_init(accept_hub *h); /* 0 or TICKLESS_ERR_NOMEM */
void tl_hub_destroy(accept_hub *h);

/* An accept of |k| begins: counts it a watcher and returns the
 * generation, to pass to tl_hub_wait() after looking at the shards. */
uint64_t tl_hub_watch(accept_hub *h, hub_kind k);
void tl_hub_unwatch(accept_hub *h, hub_kind k);

/* Sleeps until the generation of |k| moves past *gen, the hub closes or
 * |deadline| (CLOCK_MONOTONIC ns; CLOCK_NEVER: none) passes; *gen becomes
 * the generation now. Returns 0, or TICKLESS_ERR_TIMEOUT. */
int tl_hub_wait(accept_hub *h, hub_kind k, uint64_t *gen, uint64_t deadline);

/* Whether an accept of |k| is under way (cheap: a shard asks at each
 * tick). */
int tl_hub_watched(accept_hub *h, hub_kind k);

/* Wakes the watchers of |k|: a shard has something for them. */
void tl_hub_wake(accept_hub *h, hub_kind k);

/* Wakes every watcher for good: the listener is closed. Called before any
 * shard is closed, so that an accept that saw the close (or a shard it
 * closed) and returned TICKLESS_ERR_CLOSED is followed by no accept that
 * finds another shard still open (tl_hub_closed()). */
void tl_hub_close(accept_hub *h);

/* Whether tl_hub_close() has begun. */
int tl_hub_closed(accept_hub *h);

#endif
