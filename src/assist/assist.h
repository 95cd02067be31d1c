/* The interface between the core and whoever ticks a connection. The core
 * calls these; src/assist/ decides whether a dedicated thread or a pool shard
 * does the work. */
#ifndef TICKLESS_ASSIST_ASSIST_H
#define TICKLESS_ASSIST_ASSIST_H

#include <stdint.h>

#include "core/core.h"

/* Readies the assist's bookkeeping of a new connection (before attach). */
void tl_assist_link_init(tickless_conn *c);

/* Gives |c| an assist: a dedicated thread (pool == NULL) or a pool shard.
 * Returns 0, TICKLESS_ERR_NOMEM or TICKLESS_ERR_SYS. */
int tl_assist_attach(tickless_conn *c, tickless_pool *pool);

/* Tells the assist the connection's deadline and socket interest, waking it
 * when the deadline moved earlier than the one it sleeps on. This also
 * answers a tick the assist had to defer (see tl_assist_take_deferred()).
 * Caller holds c->mu (unchecked); a detached connection is ignored. */
void tl_assist_sync(tickless_conn *c, const tick_decision *d);

/* Whether the assist skipped a tick of |c| because its mutex was held
 * through tickless_conn_lock() (tl_conn_tick() said TICKLESS_ERR_BUSY),
 * and forgets it: the caller, about to release the mutex, must then
 * publish (tl_conn_publish()), or the tick is lost. Caller holds c->mu. */
int tl_assist_take_deferred(tickless_conn *c);

/* Whether |c| has an assist (attached, not yet detached). Caller holds
 * c->mu. */
int tl_assist_attached(const tickless_conn *c);

/* Forgets |c|: after it returns the assist starts no new tick of |c| (a tick
 * already under way holds its own reference and skips a closed connection).
 * A dedicated thread is stopped and joined. Caller holds no lock (or
 * c->mu through tickless_conn_lock(): app_held set, the assist never
 * waits for it, and it stays held) and has already marked c->closed. */
void tl_assist_detach(tickless_conn *c);

/* The check every public function makes of the pool it is given: 0, or
 * TICKLESS_ERR_INVALID (NULL, freed, not a pool: the last two logged as
 * the misuse of |fn|) or TICKLESS_ERR_FORKED (made before a fork() of this
 * process, see core/handle.h, "fork()"). */
int tl_pool_check(const tickless_pool *pool, const char *fn);

/* Whether a thread of tickless's own ticks |c| (a dedicated thread, or a
 * pool with threads), not the application's loop through
 * tickless_pool_run(). Caller holds c->mu. */
int tl_assist_has_thread(const tickless_conn *c);

/* CPU time consumed so far by the thread that ticks |c|. Caller holds c->mu. */
uint64_t tl_assist_cpu_ns(tickless_conn *c);

#endif
