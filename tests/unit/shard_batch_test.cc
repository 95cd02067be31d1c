// Unit tests for one iteration of a shard's runner (tl_shard_run_once(),
// src/assist/shard.c) on a clock the test sets: which connections a batch
// ticks and in what order, what it leaves for later, and the timer it arms
// for what remains. The runner never sleeps here: a due timer makes it
// poll without waiting, and otherwise it is given no time to wait.

#include <gtest/gtest.h>

#include <cstdint>

#include "engine_test.h"

namespace {

struct ShardBatch : EngineTest {
    static constexpr int kEngines = 3;
    fx_engine *engines[kEngines] = {};

    // Three engines on one shard, engine i's OpenSSL deadline at
    // |deadline[i]|, each published to the shard as a DTLS/TLS tick would
    // (no socket interest, so only timers wake the runner).
    void MakeThree(const uint64_t (&deadline)[kEngines])
    {
        Make(false);
        engines[0] = engine;
        for (int i = 1; i < kEngines; i++) {
            engines[i] = fx_engine_new(0);
            ASSERT_NE(engines[i], nullptr);
            ASSERT_EQ(fx_attach(shard, engines[i]), 0);
        }
        for (int i = 0; i < kEngines; i++) {
            fx_set_deadline(engines[i], deadline[i]);
            fx_sync(shard, engines[i], deadline[i], 0, 1);
        }
    }

    // MakeThree() at time |t|, and one iteration of the runner that finds
    // nothing due and arms its timer for |armed|: the runner asleep.
    void MakeThreeAsleep(uint64_t t, const uint64_t (&deadline)[kEngines],
                         uint64_t armed)
    {
        MakeThree(deadline);
        fx_clock_ns = t;
        EXPECT_EQ(fx_shard_run_once(shard, 0), 0);
        EXPECT_EQ(fx_shard_timer_armed(shard), armed);
    }

    // Engine |i| was ticked once, for its timer, |late| after it was due.
    void ExpectOneTimerTick(int i, uint64_t late)
    {
        EXPECT_EQ(fx_timer_ticks(engines[i]), 1u) << "engine " << i;
        EXPECT_EQ(fx_lateness_max(engines[i]), late) << "engine " << i;
    }

    void TearDown() override
    {
        for (int i = 1; i < kEngines; i++)
            if (engines[i] != nullptr) {
                fx_detach(shard, engines[i]);
                fx_engine_free(engines[i]);
            }
        EngineTest::TearDown();
    }
};

// Due timers are ticked earliest first, each recording its own lateness;
// the one not yet due is left alone, and the runner's timer is armed for
// it once the batch has applied what its ticks decided.
TEST_F(ShardBatch, DueTimersTickEarliestFirstAndTheRestWait)
{
    const uint64_t t = 7000 * kMs;
    MakeThree({t + 30 * kMs, t + 10 * kMs, t + 20 * kMs});
    fx_clock_ns = t + 25 * kMs;

    EXPECT_EQ(fx_shard_run_once(shard, 0), 2);
    EXPECT_EQ(fx_shard_batch_entry(shard, 0, engines, kEngines), 1);
    EXPECT_EQ(fx_shard_batch_entry(shard, 1, engines, kEngines), 2);
    ExpectOneTimerTick(1, 15 * kMs);
    ExpectOneTimerTick(2, 5 * kMs);
    EXPECT_EQ(fx_timer_ticks(engines[0]), 0u);
    // The ticked two have no timer left (OpenSSL's deadline is "never"
    // here): the earliest is the third's, and the timerfd is set for it.
    EXPECT_EQ(fx_shard_earliest(shard), t + 30 * kMs);
    EXPECT_EQ(fx_shard_timer_armed(shard), t + 30 * kMs);
}

// Nothing due: the runner arms its timer for the earliest deadline before
// it sleeps, and ticks nobody.
TEST_F(ShardBatch, NothingDueArmsTheTimerForTheEarliest)
{
    const uint64_t t = 9000 * kMs;
    MakeThreeAsleep(t, {t + 40 * kMs, t + 12 * kMs, kNever}, t + 12 * kMs);
    for (fx_engine *e : engines)
        EXPECT_EQ(fx_timer_ticks(e), 0u);
}

// A timer collected for a deadline that a call has since moved later (the
// call published nothing yet) is not late: it ticks as readiness would,
// and the batch then applies the tick's own decision.
TEST_F(ShardBatch, ATimerWhoseDeadlineMovedLaterTicksAsReadiness)
{
    const uint64_t t = 3000 * kMs;
    MakeThree({t + 5 * kMs, kNever, kNever});
    fx_set_deadline(engines[0], t + 500 * kMs);
    fx_clock_ns = t + 6 * kMs;

    EXPECT_EQ(fx_shard_run_once(shard, 0), 1);
    EXPECT_EQ(fx_shard_batch_entry(shard, 0, engines, kEngines), 0);
    EXPECT_EQ(fx_timer_ticks(engines[0]), 0u);
    EXPECT_EQ(fx_io_ticks(engines[0]), 1u);
    EXPECT_EQ(fx_lateness_max(engines[0]), 0u);
    EXPECT_EQ(fx_shard_earliest(shard), kNever);
}

// A call that moves a deadline earlier while the runner sleeps moves the
// runner's timer (the sync says so), and the runner, woken by it, ticks
// that connection as a timer due then.
TEST_F(ShardBatch, ADeadlineMovedEarlierWhileTheRunnerSleepsTicksOnTime)
{
    const uint64_t t = 5000 * kMs;
    MakeThreeAsleep(t, {t + 40 * kMs, kNever, kNever}, t + 40 * kMs);

    fx_set_deadline(engines[1], t + 5 * kMs);
    EXPECT_EQ(fx_sync(shard, engines[1], t + 5 * kMs, 0, 2), 1);
    EXPECT_EQ(fx_shard_timer_armed(shard), t + 5 * kMs);
    fx_clock_ns = t + 6 * kMs;
    EXPECT_EQ(fx_shard_run_once(shard, 0), 1);
    EXPECT_EQ(fx_shard_batch_entry(shard, 0, engines, kEngines), 1);
    ExpectOneTimerTick(1, 1 * kMs);
    EXPECT_EQ(fx_shard_timer_armed(shard), t + 40 * kMs);
}

// A deadline moved later costs the calling thread nothing: the runner's
// timer stays where it was, and the runner, woken by it for nothing,
// ticks nobody and sleeps until the earliest deadline there is now.
TEST_F(ShardBatch, ADeadlineMovedLaterLeavesTheTimerToTheRunner)
{
    const uint64_t t = 6000 * kMs;
    MakeThreeAsleep(t, {t + 40 * kMs, t + 10 * kMs, kNever}, t + 10 * kMs);

    fx_set_deadline(engines[1], t + 100 * kMs);
    EXPECT_EQ(fx_sync(shard, engines[1], t + 100 * kMs, 0, 2), 0);
    EXPECT_EQ(fx_shard_timer_armed(shard), t + 10 * kMs);
    fx_clock_ns = t + 11 * kMs;
    EXPECT_EQ(fx_shard_run_once(shard, 0), 0);
    EXPECT_EQ(fx_shard_timer_armed(shard), t + 40 * kMs);
    EXPECT_EQ(fx_shard_earliest(shard), t + 40 * kMs);
}

// A connection that leaves the shard right after a call changed its
// deadline is forgotten with it: the runner neither ticks it nor touches
// its memory (freed here; AddressSanitizer would see a touch).
TEST_F(ShardBatch, AConnectionThatLeavesAfterAChangeIsForgotten)
{
    const uint64_t t = 8000 * kMs;
    MakeThreeAsleep(t, {t + 40 * kMs, kNever, kNever}, t + 40 * kMs);

    fx_set_deadline(engines[1], t + 5 * kMs);
    EXPECT_EQ(fx_sync(shard, engines[1], t + 5 * kMs, 0, 2), 1);
    fx_sync(shard, engines[2], t + 7 * kMs, 0, 2);
    fx_detach(shard, engines[1]);
    fx_engine_free(engines[1]);
    engines[1] = nullptr;
    fx_clock_ns = t + 6 * kMs;
    EXPECT_EQ(fx_shard_run_once(shard, 0), 0);
    EXPECT_EQ(fx_shard_earliest(shard), t + 7 * kMs);
}

// A due timer whose tick is deferred (the application holds the mutex)
// is not lost: the application's publish as it lets go files the same
// deadline again, though the heap had given it up to the batch.
TEST_F(ShardBatch, ADeferredTimerIsFiledAgainByTheNextPublish)
{
    const uint64_t t = 4000 * kMs;
    MakeThree({t + 5 * kMs, kNever, kNever});
    fx_clock_ns = t + 6 * kMs;

    fx_app_hold(engines[0], 1);
    EXPECT_EQ(fx_shard_run_once(shard, 0), 0);
    EXPECT_EQ(fx_shard_earliest(shard), kNever);
    fx_sync(shard, engines[0], t + 5 * kMs, 0, 2);
    fx_app_hold(engines[0], 0);
    EXPECT_EQ(fx_shard_earliest(shard), t + 5 * kMs);
}

} // namespace
