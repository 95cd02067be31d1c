/* The seam between the core and whoever ticks a connection.
 *
 * The assist is the lower layer, as OpenSSL's reactor is below its QUIC
 * channels and libuv's loop below its handles. It knows a connection only
 * as the assist_link embedded in it, and calls back into the connection
 * only through the link's assist_client: to tick it, to ask whether the
 * application holds its mutex, and to keep it alive through a batch.
 * Nothing in src/assist/ includes core.h; the core calls the functions
 * below, and src/assist/ decides whether a dedicated thread or a pool
 * shard does the work. docs/design.md draws the two halves. */
#ifndef TICKLESS_ASSIST_ASSIST_H
#define TICKLESS_ASSIST_ASSIST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "assist/heap.h"
#include "base/interest.h"
#include "tickless/tickless.h"

/* Why the assist ticks a connection. */
#define TICK_TIMER 0x1u
#define TICK_IO 0x2u

/* What the core decided about a connection, for its assist to apply: when
 * to tick it next and what to watch its socket for. |seq| orders
 * decisions: the assist applies a tick's decision after the connection's
 * mutex is let go, and an application thread may have published a newer
 * one meanwhile (tl_assist_sync()); only the newest counts. */
typedef struct tick_decision {
    uint64_t deadline_ns; /* CLOCK_NEVER: no timer */
    unsigned interest;    /* IO_READ | IO_WRITE, or 0 */
    uint64_t seq;         /* increasing per connection; 0: none */
} tick_decision;

typedef struct assist_link assist_link;

/* What the assist may ask of the connection a link is embedded in. |tick|,
 * |app_holds| and |unref| are called with none of the assist's locks held;
 * |ref| may be called under a shard's mutex, so it must neither block nor
 * take a lock (the lock order is connection, then shard). */
typedef struct assist_client {
    /* Ticks the connection for |*reasons| (TICK_*, which it may change)
     * and writes what it decided to |*next| (seq 0: nothing to apply).
     * |*due_ns| becomes the deadline a timer tick was due at. Returns 1
     * when it ticked, 0 when there was nothing to do, TICKLESS_ERR_BUSY
     * when the application holds the connection's mutex (the assist then
     * defers it: tl_assist_take_deferred()), or TICKLESS_ERR_SYS. */
    int (*tick)(assist_link *l, unsigned *reasons, uint64_t *due_ns,
                tick_decision *next);
    /* Whether the application holds the connection's mutex through
     * tickless_conn_lock() (sequentially consistent; see defer() in
     * shard.c). */
    int (*app_holds)(assist_link *l);
    /* A reference that keeps the connection, and so the link, alive. */
    void (*ref)(assist_link *l);
    void (*unref)(assist_link *l);
} assist_client;

/* The assist's bookkeeping for one connection, inside the connection so
 * that no allocation is needed. The core sets the first four fields
 * through tl_assist_link_init() and touches nothing else. */
struct assist_link {
    const assist_client *client; /* constant */
    int fd;                   /* the socket to watch; constant */
    int may_sigpipe;          /* a tick may write into a stream socket the
                                 peer has reset (TLS): an application's
                                 thread running a pool blocks SIGPIPE */
    pthread_mutex_t *owner_mu; /* the connection's mutex (tl_assist_sync()) */

    struct shard *shard;      /* guarded by *owner_mu; NULL once detached */
    struct dedicated *owned;  /* dedicated assist owned by this link, or
                                 NULL; set at attach (before anyone else
                                 can see the connection), cleared by
                                 detach under *owner_mu */
    struct tickless_pool *pool; /* the pool it belongs to, or NULL; as
                                 |owned| */
    heap_node timer;          /* the deadline the runner sleeps for;
                                 guarded by shard->mu */
    uint64_t deadline_ns;     /* the newest decision's deadline, which
                                 |timer| holds once the runner has seen it
                                 (|changed|); shard->mu */
    int changed;              /* on shard->changed; shard->mu */
    assist_link *changed_prev, *changed_next;
    uint32_t slot;            /* index in shard->slots; guarded by shard->mu */
    unsigned interest;        /* IO_* registered with epoll; shard->mu */
    uint64_t applied_seq;     /* the newest decision applied; shard->mu */
    atomic_int deferred;      /* a tick was skipped because *owner_mu was
                                 busy: the next holder to release it
                                 re-publishes */
    /* Owned by the runner while it processes a batch. */
    uint64_t batch;           /* batch number that last collected it */
    unsigned reasons;         /* TICK_* collected in that batch */
    uint64_t due_ns;          /* the deadline that came due, for lateness */
    tick_decision decision;   /* what that batch's tick decided */
};

/* Readies |l| (before attach) for a connection whose callbacks are
 * |client|, whose socket is |fd| and whose mutex is |owner_mu|. */
void tl_assist_link_init(assist_link *l, const assist_client *client, int fd,
                         int may_sigpipe, pthread_mutex_t *owner_mu);

/* Gives |l| an assist: a dedicated thread (pool == NULL) or a pool shard,
 * the least loaded (|place| < 0) or shard |place| modulo the pool's
 * shards (a sharded listener puts one of its listeners on each). Returns
 * 0, TICKLESS_ERR_NOMEM or TICKLESS_ERR_SYS. */
int tl_assist_attach(assist_link *l, tickless_pool *pool, int place);

/* The pool's assist threads: 0 when the application runs it. */
unsigned tl_assist_pool_threads(const tickless_pool *pool);

/* Tells the assist the connection's deadline and socket interest. This
 * also answers a tick the assist had to defer (see
 * tl_assist_take_deferred()). Returns 1 when the deadline came earlier
 * than the one the assist sleeps on, which then wakes in time for it (a
 * wake-up, for the statistics), else 0. Caller holds *owner_mu
 * (unchecked); a detached link is ignored. */
int tl_assist_sync(assist_link *l, const tick_decision *d);

/* Whether the assist skipped a tick because the mutex was held through
 * tickless_conn_lock() (the client's tick said TICKLESS_ERR_BUSY), and
 * forgets it: the caller, about to release the mutex, must then publish
 * (tl_assist_sync()), or the tick is lost. Caller holds *owner_mu. */
int tl_assist_take_deferred(assist_link *l);

/* Whether |l| has an assist (attached, not yet detached). Caller holds
 * *owner_mu. */
int tl_assist_attached(const assist_link *l);

/* Forgets |l|: after it returns the assist starts no new tick of it (a
 * tick already under way holds its own reference, through the client,
 * and skips a closed connection). A dedicated thread is stopped and
 * joined. Caller holds no lock (or *owner_mu through tickless_conn_lock():
 * the client's app_holds() is true, the assist never waits for it, and
 * it stays held) and has already marked the connection closed. */
void tl_assist_detach(assist_link *l);

/* Whether a thread of tickless's own ticks |l| (a dedicated thread, or a
 * pool with threads), not the application's loop through
 * tickless_pool_run(). Caller holds *owner_mu. */
int tl_assist_has_thread(const assist_link *l);

/* CPU time consumed so far by the thread that ticks |l|. Caller holds
 * *owner_mu. */
uint64_t tl_assist_cpu_ns(const assist_link *l);

/* The check every public function makes of the pool it is given: 0, or
 * TICKLESS_ERR_INVALID (NULL, freed, not a pool: the last two logged as
 * the misuse of |fn|) or TICKLESS_ERR_FORKED (made before a fork() of this
 * process, see base/handle.h, "fork()"). */
int tl_pool_check(const tickless_pool *pool, const char *fn);

#endif
