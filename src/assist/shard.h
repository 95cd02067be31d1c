/* A shard: one epoll set, one timer heap and one eventfd, serving a set of
 * connections. Exactly one thread at a time runs it (tl_shard_run_once()): a
 * dedicated assist thread, a pool thread, or the application driving a pool
 * from its own loop.
 *
 * A solo shard (a dedicated assist's) serves one connection and needs
 * neither the epoll set nor the eventfd: its runner sleeps in ppoll() on
 * the connection's socket and the timerfd, and the timerfd is its wake-up
 * too (armed to fire at once). A connection with a dedicated assist costs
 * one descriptor besides its socket, as OpenSSL's own assist thread does.
 * What epoll learns without waking the runner (a new socket interest) a
 * solo runner learns by being woken: it polls what it finds when it goes
 * to sleep.
 *
 * Connections are known to epoll by slot number and generation, never by
 * pointer: an event that was already collected by epoll_wait() for a
 * connection that has since been detached finds its slot's generation
 * changed and is dropped, so no stale pointer is ever followed. */
#ifndef TICKLESS_ASSIST_SHARD_H
#define TICKLESS_ASSIST_SHARD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "assist/assist.h"
#include "assist/heap.h"
#include "base/clock.h"
#include "base/lathist.h"

#define SHARD_MAX_EVENTS 64
#define SHARD_MAX_BATCH 256 /* connections ticked per iteration, at most */
_Static_assert(SHARD_MAX_BATCH > SHARD_MAX_EVENTS,
               "a batch always has room for every readiness event");
/* How soon a connection is ticked again after epoll_ctl() failed for it. */
#define SHARD_INTEREST_RETRY_NS (5 * NS_PER_MS)

typedef struct shard_slot {
    assist_link *link;  /* NULL when free */
    uint32_t gen;        /* bumped on every attach and detach */
    uint32_t next_free;  /* free-list link */
} shard_slot;

/* Counters for tickless_pool_stats(). */
typedef struct shard_stats {
    uint64_t ticks, timer_ticks, io_ticks, wakeups;
    lathist lateness;
} shard_stats;

typedef struct shard {
    pthread_mutex_t mu;
    int solo;               /* one connection, no epfd or wakefd (above) */
    int epfd;
    int wakefd;             /* eventfd: another thread wants the runner */
    int timerfd;            /* in the epoll set, armed for the earliest
                               deadline: the runner sleeps until it fires,
                               and other threads move it earlier without
                               waking the runner (tl_shard_sync()) */
    clock_fn now;           /* injectable for tests */
    uint64_t timer_slack_ns; /* deadlines are rounded up to a multiple of
                                it (0 or 1: exact); set before the runner
                                starts */
    pthread_t runner;       /* the thread running it, if has_runner; a
                               dedicated assist's thread replaces itself
                               once (runner.c), under mu */
    uint64_t retired_cpu_ns; /* CPU time of the threads it replaced; mu */
    int has_runner;

    /* Guarded by mu. */
    heap timers;            /* connections with a deadline, earliest first,
                               as of the runner's last look */
    assist_link *changed;   /* connections whose deadline changed since:
                               a call only lists them, and the runner
                               files them in |timers| (timers_settle()) */
    shard_slot *slots;
    uint32_t nslots;        /* slots in use or on the free list */
    uint32_t slots_cap;
    uint32_t free_head;     /* UINT32_MAX: none */
    uint32_t nconns;
    uint64_t sleep_until;   /* when the runner wakes by itself; 0 while it is
                               awake (it re-reads the heap before sleeping) */
    int in_wait;            /* the runner is in its wait, or on its way
                               there with what it watches decided */
    int wake_pending;       /* eventfd written and not yet drained */
    uint64_t timer_armed;   /* when the timerfd fires; CLOCK_NEVER:
                               disarmed */
    shard_stats stats;

    atomic_int stopping;

    /* Owned by the runner. */
    uint64_t batch;
    assist_link **work;      /* SHARD_MAX_BATCH entries (a solo shard: 1),
                                allocated once */
    shard_stats batch_stats; /* this batch's, added to |stats| under mu */
    struct epoll_event events[SHARD_MAX_EVENTS];
} shard;

/* |solo|: a solo shard (above). Returns 0, TICKLESS_ERR_NOMEM or
 * TICKLESS_ERR_SYS (epoll, eventfd, timerfd). */
int tl_shard_init(shard *s, int solo);
/* Caller guarantees no runner and no connections remain. */
void tl_shard_destroy(shard *s);

/* Adds |l| (takes a reference through its client). Sets l->shard. Caller
 * holds no lock. A solo shard takes one connection at most
 * (TICKLESS_ERR_BUSY). */
int tl_shard_attach(shard *s, assist_link *l);
/* Removes |l| and drops the shard's reference. Caller holds no lock of
 * the assist's (tl_assist_detach() may hold *l->owner_mu: a listener
 * closed inside a lock section). */
void tl_shard_detach(shard *s, assist_link *l);

/* Applies an application thread's decision about |l| (see
 * tl_assist_sync(), which says what it returns); the runner applies its
 * own ticks' decisions after each batch. Caller holds *l->owner_mu. */
int tl_shard_sync(shard *s, assist_link *l, const tick_decision *d);

/* The earliest deadline of the shard's connections (CLOCK_NEVER: none),
 * with every change filed: what the runner sleeps for. Caller holds no
 * lock. */
uint64_t tl_shard_earliest(shard *s);

/* Wakes the runner unconditionally (used to stop it). */
void tl_shard_wake(shard *s);

/* One iteration: sleep until the earliest deadline, readiness, a wake-up or
 * |max_wait_ns|, then tick everything that is due or ready. Returns the
 * number of connections ticked, or TICKLESS_ERR_SYS. */
int tl_shard_run_once(shard *s, uint64_t max_wait_ns);

/* Adds the shard's counters to |out| and returns its connection count. */
uint32_t tl_shard_stats_add(shard *s, shard_stats *out);

/* Zeroes the shard's tick counters, wake-ups and lateness. */
void tl_shard_stats_reset(shard *s);

#endif
