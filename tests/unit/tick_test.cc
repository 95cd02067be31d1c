// Unit tests for one tick (tl_conn_tick(), src/core/tick.c) on the clock
// the assist gives it. The fixture's engine has a DTLS SSL object with no
// timer of its own; the clock is fx_clock_ns. No test sleeps. (The wait
// queues a tick wakes: waitq_test.cc.)

#include <gtest/gtest.h>

#include <cstdint>

#include "engine_test.h"

namespace {

// The clock starts far from zero: a deadline 3 ms in the past must exist.
struct Tick : EngineTest {
    void Make(bool quic) { EngineTest::Make(quic, 5000 * kMs); }
};

// A deadline that came due 3 ms ago is a timer tick, 3 ms late.
TEST_F(Tick, TimerTickRecordsItsLateness)
{
    Make(false);
    fx_set_deadline(engine, fx_clock_ns - 3 * kMs);
    unsigned reasons = FX_TIMER;
    uint64_t next = 0;
    EXPECT_EQ(fx_tick(engine, &reasons, &next), 1);
    EXPECT_EQ(reasons, FX_TIMER);
    EXPECT_EQ(fx_timer_ticks(engine), 1u);
    EXPECT_EQ(fx_lateness_max(engine), 3 * kMs);
    EXPECT_EQ(next, kNever); // OpenSSL has no timer now
}

// A timer collected for a deadline that a call has since moved later is
// not OpenSSL's deadline: it ticks as readiness would, and records no
// lateness.
TEST_F(Tick, TimerForADeadlineMovedLaterTicksAsReadiness)
{
    Make(false);
    fx_set_deadline(engine, fx_clock_ns + 10 * kMs);
    unsigned reasons = FX_TIMER;
    uint64_t next = 0;
    EXPECT_EQ(fx_tick(engine, &reasons, &next), 1);
    EXPECT_EQ(reasons, FX_IO);
    EXPECT_EQ(fx_timer_ticks(engine), 0u);
    EXPECT_EQ(fx_io_ticks(engine), 1u);
    EXPECT_EQ(fx_lateness_max(engine), 0u);
}

// The end of a hand-off comes while the application is still calling
// (driven_until later than now): no tick, only the timer moved on, to the
// hand-off's new end.
TEST_F(Tick, HandOffStillUnderWayOnlyMovesTheTimer)
{
    Make(true);
    const uint64_t until = fx_clock_ns + 1 * kMs;
    fx_set_driven_until(engine, until);
    fx_set_deadline(engine, fx_clock_ns + 10 * kMs);
    unsigned reasons = FX_TIMER;
    uint64_t next = 0;
    EXPECT_EQ(fx_tick(engine, &reasons, &next), 0);
    EXPECT_EQ(fx_io_ticks(engine) + fx_timer_ticks(engine), 0u);
    EXPECT_EQ(next, until);
}

// A dead connection is not ticked; its decision drops the timer.
TEST_F(Tick, DeadConnectionIsNotTicked)
{
    Make(false);
    fx_set_fatal(engine);
    fx_set_deadline(engine, fx_clock_ns - 1 * kMs);
    unsigned reasons = FX_TIMER;
    uint64_t next = 0;
    EXPECT_EQ(fx_tick(engine, &reasons, &next), 0);
    EXPECT_EQ(fx_timer_ticks(engine), 0u);
    EXPECT_EQ(next, kNever);
}

} // namespace
