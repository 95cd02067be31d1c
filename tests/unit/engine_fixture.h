/* A plain-C window on an engine and a shard, for the C++ unit tests: the
 * internals use C11 atomics, which C++ cannot include. The engine has a
 * real DTLS SSL object (no timer of its own: OpenSSL's deadline is
 * "never") and a real UDP socket; the shard is real (epoll, timerfd) but
 * nobody runs it, and its clock is fx_clock_ns, which the test sets. */
#ifndef TICKLESS_TESTS_ENGINE_FIXTURE_H
#define TICKLESS_TESTS_ENGINE_FIXTURE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fx_engine fx_engine;
typedef struct fx_shard fx_shard;

extern uint64_t fx_clock_ns;

fx_shard *fx_shard_new(void);
void fx_shard_free(fx_shard *s); /* detach every engine first */
/* As if the runner slept until |t| (0: running a batch). */
void fx_shard_set_sleep_until(fx_shard *s, uint64_t t);
uint64_t fx_shard_timer_armed(const fx_shard *s); /* UINT64_MAX: disarmed */
/* The earliest deadline the runner will sleep for, with every published
 * change filed first (tl_shard_earliest()); UINT64_MAX: none. */
uint64_t fx_shard_earliest(fx_shard *s);
/* One iteration of the shard's runner (tl_shard_run_once()), sleeping at
 * most |max_wait_ns|; returns the number of connections it ticked. */
int fx_shard_run_once(fx_shard *s, uint64_t max_wait_ns);
/* Which of |engines| (its index) the last batch collected |i|th; -1 if
 * none of them. */
int fx_shard_batch_entry(const fx_shard *s, int i, fx_engine *const *engines,
                         int n);

/* |quic|: the engine says it is QUIC (hand-off rules); its SSL object is
 * DTLS either way. */
fx_engine *fx_engine_new(int quic);
void fx_engine_free(fx_engine *e);
int fx_attach(fx_shard *s, fx_engine *e);
void fx_detach(fx_shard *s, fx_engine *e);

/* Takes (1) or lets go of (0) the engine's mutex as tickless_conn_lock()
 * does: the shard's ticks of it are deferred meanwhile. */
void fx_app_hold(fx_engine *e, int hold);
void fx_kick(fx_engine *e);
void fx_set_immediate_ticks(fx_engine *e, unsigned n);
void fx_set_driven_until(fx_engine *e, uint64_t t);
/* The end of a call that got through, at fx_clock_ns (tl_conn_hand_off()). */
void fx_hand_off(fx_engine *e);
void fx_set_fatal(fx_engine *e);
void fx_set_closed(fx_engine *e);

/* The engine's OpenSSL deadline as the core last read it. */
void fx_set_deadline(fx_engine *e, uint64_t t);

/* tl_conn_tick() on fx_clock_ns, for |reasons| (FX_TIMER, FX_IO);
 * returns its result, and what the tick turned out to be in *reasons. */
#define FX_TIMER 0x1u
#define FX_IO 0x2u
int fx_tick(fx_engine *e, unsigned *reasons, uint64_t *next_deadline);
uint64_t fx_timer_ticks(const fx_engine *e);
uint64_t fx_io_ticks(const fx_engine *e);
uint64_t fx_lateness_max(const fx_engine *e);

/* Wait queues of the engine: |n| of them (at most 4), owned by the engine
 * (owner 0) or by a second connection object (owner 1). */
void fx_queues(fx_engine *e, int n, const int *owner);
void fx_enter(fx_engine *e, int q, int reader);
void fx_leave(fx_engine *e, int q, int reader);
uint64_t fx_gen(const fx_engine *e, int q);
int fx_sleeping(const fx_engine *e); /* queues on the sleeping list */
unsigned fx_readers(const fx_engine *e, int q);
void fx_wake_ready(fx_engine *e);
void fx_wake_owned(fx_engine *e, int owner);

/* tl_conn_decide() at fx_clock_ns; returns the decision's seq. */
uint64_t fx_decide(fx_engine *e, uint64_t *deadline_ns, unsigned *interest);
/* tl_conn_publish() at fx_clock_ns: decide, and sync with the shard. */
void fx_publish(fx_engine *e);
/* The connection's wake-up count (tickless_stats.wakeups). */
uint64_t fx_wakeups(const fx_engine *e);
/* An application thread's publish of that decision (tl_shard_sync()).
 * Returns whether it moved the runner's wake-up earlier. */
int fx_sync(fx_shard *s, fx_engine *e, uint64_t deadline_ns,
             unsigned interest, uint64_t seq);

#ifdef __cplusplus
}
#endif

#endif
