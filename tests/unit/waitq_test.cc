// Unit tests for the wait queues (src/core/waitq.c) that a tick
// (src/core/tick.c) wakes: the engine's list of queues with sleepers, and
// which queues a tick or a close wakes. The fixture's engine has a DTLS SSL
// object; nothing ticks it and no test sleeps.

#include <gtest/gtest.h>

#include "engine_test.h"

namespace {

// The clock starts where tick_test.cc's does.
struct Waitq : EngineTest {
    void Make(bool quic) { EngineTest::Make(quic, 5000 * kMs); }
};

// A queue is on the engine's sleeping list exactly while it has sleepers,
// whatever order they come and go in; readers are counted.
TEST_F(Waitq, SleepingListFollowsTheSleepers)
{
    Make(false);
    const int owners[3] = { 0, 0, 0 };
    fx_queues(engine, 3, owners);
    fx_enter(engine, 0, 1);
    fx_enter(engine, 1, 0);
    fx_enter(engine, 0, 0);
    fx_enter(engine, 2, 1);
    EXPECT_EQ(fx_sleeping(engine), 3);
    EXPECT_EQ(fx_readers(engine, 0), 1u);
    fx_leave(engine, 1, 0); // the middle of the list
    EXPECT_EQ(fx_sleeping(engine), 2);
    fx_leave(engine, 0, 1);
    EXPECT_EQ(fx_sleeping(engine), 2); // queue 0 still has a sleeper
    EXPECT_EQ(fx_readers(engine, 0), 0u);
    fx_leave(engine, 0, 0);
    fx_leave(engine, 2, 1);
    EXPECT_EQ(fx_sleeping(engine), 0);
}

// After a tick every queue that can make progress is woken (DTLS: all of
// them, its callers read for themselves); a close wakes only the queues
// of the connection it closes.
TEST_F(Waitq, WakesReachTheRightQueues)
{
    Make(false);
    const int owners[3] = { 0, 1, 1 };
    fx_queues(engine, 3, owners);
    for (int q = 0; q < 3; q++)
        fx_enter(engine, q, 1);
    fx_wake_ready(engine);
    for (int q = 0; q < 3; q++)
        EXPECT_EQ(fx_gen(engine, q), 1u) << "queue " << q;
    fx_wake_owned(engine, 1);
    EXPECT_EQ(fx_gen(engine, 0), 1u);
    EXPECT_EQ(fx_gen(engine, 1), 2u);
    EXPECT_EQ(fx_gen(engine, 2), 2u);
    // A queue with no sleepers is not on the list, and not woken.
    fx_leave(engine, 0, 1);
    fx_wake_ready(engine);
    EXPECT_EQ(fx_gen(engine, 0), 1u);
    for (int q = 1; q < 3; q++)
        fx_leave(engine, q, 1);
}

} // namespace
