/* A lone blocked caller polls the socket itself.
 *
 * The usual wait hops between threads: the assist wakes on the socket,
 * ticks, and wakes the caller, which then runs its call: two wake-ups per
 * datagram where an application-driven loop has one. When a call would
 * block and nobody else sleeps on its engine, the caller instead polls the
 * engine's socket (and a wake-up descriptor of its own thread) with the
 * mutex released, and on readiness ticks the engine itself, exactly as
 * the assist would. Meanwhile the assist stands by: tl_conn_publish() drops
 * the socket from its epoll set, but it keeps the timer, so deadlines are
 * still its job, and anything that would wake a sleeper (a tick, a close,
 * another caller's progress) writes the poller's descriptor.
 *
 * Callers that arrive while one polls sleep on their condition variables
 * as usual: the poller's ticks wake them. */
#ifndef TICKLESS_CORE_SELF_POLL_H
#define TICKLESS_CORE_SELF_POLL_H

#include <stdint.h>

/* Kept free of core.h (C11 atomics) so that C++ tests can use the hook. */
struct conn_call;
struct waitq;

/* Whether |call| may poll by itself: it is an I/O call, its engine is an
 * assisted connection (not a listener) with nobody else asleep on it and
 * no held write waiting for room (tl_waitq_alone(), core.h), and this
 * thread has a wake-up descriptor. Caller holds the engine's mu. */
int tl_self_poll_eligible(const struct conn_call *call);

/* Like conn_wait(): returns when |call->wq| is woken, the socket is ready
 * (the engine then ticked, unless it is dead: the caller reports that), the
 * connection is closed (0), or |deadline|
 * passes (TICKLESS_ERR_TIMEOUT); SELF_POLL_FAILED if ppoll() itself
 * failed and nobody woke |call->wq| meanwhile, for the caller to sleep
 * with conn_wait() instead. Caller holds
 * the engine's mu, released while polling. */
#define SELF_POLL_FAILED 1
int tl_self_poll_wait(struct conn_call *call, unsigned want, uint64_t deadline);

/* Test hook (on by default): off, every blocked caller sleeps until the
 * assist wakes it, so tests can exercise the assist's own readiness path.
 * Internal symbol: tests link tickless_internal (not installed). */
void tl_self_poll_set_enabled(int on);

/* Test hook: this thread's wake-up descriptor, made if it has none yet;
 * -1 if it cannot be made. */
int tl_self_poll_thread_fd(void);

#endif
