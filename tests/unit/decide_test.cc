// Unit tests for what a tick decides (tl_conn_decide(), src/core/tick.c)
// and how a shard applies decisions (tl_shard_sync(), src/assist/shard.c),
// on a clock the test sets: the spin guard, the end of a hand-off, a dead
// connection's silence, the numbering that keeps a stale decision from
// overwriting a newer one, and a deadline that moves the sleeping runner's
// timer earlier. No test sleeps.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>

#include "engine_test.h"

namespace {

constexpr unsigned kSpinGuardTicks = 64; // SPIN_GUARD_TICKS in tick.c

using Decide = EngineTest;

// A decision that asks nothing of the assist: no timer, no socket.
static void ExpectNothingAsked(const Decision &d)
{
    EXPECT_NE(d.seq, 0u);
    EXPECT_EQ(d.deadline, kNever);
    EXPECT_EQ(d.interest, 0u);
}

TEST_F(Decide, NothingDueMeansNoTimer)
{
    Make(false);
    ExpectNothingAsked(DecideNow());
}

// A kick asks for a tick now; after 64 ticks in a row that left the
// deadline due, the assist waits a millisecond instead of spinning.
TEST_F(Decide, SpinGuardStepsBackAfterManyImmediateTicks)
{
    Make(false);
    fx_kick(engine);
    fx_set_immediate_ticks(engine, kSpinGuardTicks - 1);
    EXPECT_EQ(DecideNow().deadline, fx_clock_ns);
    fx_set_immediate_ticks(engine, kSpinGuardTicks);
    EXPECT_EQ(DecideNow().deadline, fx_clock_ns + 1 * kMs);
}

// While a QUIC client's socket is handed off to the application's calls,
// the assist's timer is the end of the hand-off; once it has passed, the
// assist goes back to OpenSSL's own deadline (here: none).
TEST_F(Decide, HandOffEndsOnTime)
{
    Make(true);
    const uint64_t until = fx_clock_ns + 1 * kMs;
    fx_set_driven_until(engine, until);
    Decision d = DecideNow();
    EXPECT_EQ(d.deadline, until);
    EXPECT_EQ(d.interest, 0u);
    fx_clock_ns = until;
    EXPECT_EQ(DecideNow().deadline, kNever);
}

// An application that keeps calling keeps its socket for longer: a call
// that comes within the hand-off doubles the next one, up to 8 ms, so that
// the assist does not wake every millisecond to find the application still
// calling. A call after a pause starts again from 1 ms.
TEST_F(Decide, HandOffGrowsWhileCallsKeepComing)
{
    Make(true);
    fx_hand_off(engine);
    EXPECT_EQ(DecideNow().deadline, fx_clock_ns + 1 * kMs);
    uint64_t expect = 1 * kMs;
    for (int call = 0; call < 6; call++) {
        fx_clock_ns += kMs / 10;
        fx_hand_off(engine);
        expect = std::min(2 * expect, 8 * kMs);
        EXPECT_EQ(DecideNow().deadline, fx_clock_ns + expect) << call;
    }
    fx_clock_ns += 9 * kMs; // past the hand-off: the application paused
    fx_hand_off(engine);
    EXPECT_EQ(DecideNow().deadline, fx_clock_ns + 1 * kMs);
}

// A DTLS connection is never handed off: the rule is QUIC's.
TEST_F(Decide, NoHandOffOutsideQuic)
{
    Make(false);
    fx_set_driven_until(engine, fx_clock_ns + 1 * kMs);
    EXPECT_EQ(DecideNow().deadline, kNever);
}

TEST_F(Decide, DeadConnectionNeedsNothing)
{
    Make(false);
    fx_kick(engine);
    fx_set_fatal(engine);
    ExpectNothingAsked(DecideNow());
}

TEST_F(Decide, DecisionsAreNumberedAndAClosedOneTellsNothing)
{
    Make(false);
    uint64_t first = DecideNow().seq;
    uint64_t second = DecideNow().seq;
    EXPECT_GT(first, 0u);
    EXPECT_EQ(second, first + 1);
    fx_set_closed(engine);
    EXPECT_EQ(DecideNow().seq, 0u);
}

// A decision earlier than the sleeping runner's wake-up moves its timer at
// once (one timerfd_settime(), which the sync reports, for the
// connection's wake-up count); a later one only updates the heap.
TEST_F(Decide, EarlierDeadlineMovesTheSleepingRunnersTimer)
{
    Make(false);
    const uint64_t t = fx_clock_ns + 50 * kMs;
    fx_shard_set_sleep_until(shard, t);
    EXPECT_EQ(fx_sync(shard, engine, t - 5 * kMs, 0, 1), 1);
    EXPECT_EQ(fx_shard_timer_armed(shard), t - 5 * kMs);
    EXPECT_EQ(fx_shard_earliest(shard), t - 5 * kMs);
    EXPECT_EQ(fx_sync(shard, engine, t + 100 * kMs, 0, 2), 0);
    EXPECT_EQ(fx_shard_earliest(shard), t + 100 * kMs);
}

// The core counts the wake-ups its publishes cause, as
// tickless_conn_stats() reports them: one for a deadline that moved the
// sleeping runner's timer earlier, none for one that did not.
TEST_F(Decide, PublishCountsTheWakeUpsItCauses)
{
    Make(false);
    const uint64_t t = fx_clock_ns + 50 * kMs;
    fx_shard_set_sleep_until(shard, t);
    fx_publish(engine); // nothing due: no timer, no wake-up
    EXPECT_EQ(fx_wakeups(engine), 0u);
    fx_kick(engine); // due now, before the runner's wake-up
    fx_publish(engine);
    EXPECT_EQ(fx_shard_timer_armed(shard), fx_clock_ns);
    EXPECT_EQ(fx_wakeups(engine), 1u);
    fx_publish(engine); // the same deadline: the timer is armed for it
    EXPECT_EQ(fx_wakeups(engine), 1u);
}

// While the runner runs a batch (sleep_until 0) nothing is re-armed: it
// reads the heap again before it sleeps.
TEST_F(Decide, NoTimerMovedWhileTheRunnerRuns)
{
    Make(false);
    fx_shard_set_sleep_until(shard, 0);
    EXPECT_EQ(fx_sync(shard, engine, fx_clock_ns + 5 * kMs, 0, 1), 0);
    EXPECT_EQ(fx_shard_earliest(shard), fx_clock_ns + 5 * kMs);
    EXPECT_EQ(fx_shard_timer_armed(shard), kNever);
}

// A tick's decision applied after an application thread published a newer
// one (the tick let the mutex go first) is dropped: the newer one stands.
TEST_F(Decide, StaleDecisionDoesNotOverwriteANewerOne)
{
    Make(false);
    const uint64_t newer = fx_clock_ns + 7 * kMs;
    fx_sync(shard, engine, newer, 0, 5);
    fx_sync(shard, engine, fx_clock_ns + 900 * kMs, 0, 4);
    EXPECT_EQ(fx_shard_earliest(shard), newer);
    fx_sync(shard, engine, kNever, 0, 6);
    EXPECT_EQ(fx_shard_earliest(shard), kNever);
}

} // namespace
