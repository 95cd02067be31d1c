// An idle QUIC connection is kept alive by the assist while the
// application sleeps, and costs next to no CPU meanwhile. (Unread bytes
// left in a socket: IdleUnread.)
#include "harness.h"

TEST(Idle, QuicSurvivesFiveIdleTimeoutsWhileApplicationSleeps)
{
    SKIP_UNLESS_AVAILABLE(TS_QUIC);
    ts_server *srv = nullptr;
    tickless_conn *c = StartServerAndConnect(
        Mode::Dedicated, TS_QUIC, &srv,
        [](SSL *s) { ts_quic_set_idle_timeout(s, 2000); });
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(WritePattern(c, 0, 100), 0);
    ASSERT_EQ(ReadPattern(c, 0, 100), 0);

    tickless_stats before = TICKLESS_STATS_INIT, after = TICKLESS_STATS_INIT;
    ASSERT_EQ(tickless_conn_stats(c, &before), 0);
    uint64_t t0 = ts_now_ns();
    ts_sleep_ms(10000); // five idle timeouts with nobody calling tickless
    uint64_t wall = ts_now_ns() - t0;
    ASSERT_EQ(tickless_conn_stats(c, &after), 0);

    // Alive: an echo goes through.
    ASSERT_EQ(WritePattern(c, 100, 1000), 0);
    ASSERT_EQ(ReadPattern(c, 100, 1000), 0);
    // The keep-alives were the assist's timer ticks.
    EXPECT_GE(after.timer_ticks - before.timer_ticks, 4u);
    // Under 1% of a core while idle, from the assist thread's own CPU clock.
    double cpu = (double)(after.assist_cpu_ns - before.assist_cpu_ns) / wall;
    EXPECT_LT(cpu, 0.01) << "assist used " << cpu * 100 << "% of a core";
    tickless_conn_close(c);
    ts_server_stop(srv);
}
