// DTLS and TLS: bytes waiting unread in the socket must not make the assist
// spin (a level-triggered poll on a readable socket would). Run in every
// mode and protocol.
#include "harness.h"

class IdleUnread : public VariantTest {};

TEST_P(IdleUnread, UnreadBytesInSocketCostNoCpu)
{
    tickless_conn *c = Connect();
    ASSERT_NE(c, nullptr);
    // A short read with timeout arms read interest once, then the echo
    // arrives and stays unread.
    char buf[16];
    size_t n;
    EXPECT_EQ(tickless_conn_read(c, buf, sizeof(buf), &n, 50),
              TICKLESS_ERR_TIMEOUT);
    ASSERT_EQ(WritePattern(c, 0, 4000), 0);

    tickless_stats before = TICKLESS_STATS_INIT, after = TICKLESS_STATS_INIT;
    ASSERT_EQ(tickless_conn_stats(c, &before), 0);
    uint64_t t0 = ts_now_ns();
    ts_sleep_ms(2000);
    uint64_t wall = ts_now_ns() - t0;
    ASSERT_EQ(tickless_conn_stats(c, &after), 0);
    double cpu = (double)(after.assist_cpu_ns - before.assist_cpu_ns) / wall;
    EXPECT_LT(cpu, 0.01) << "assist used " << cpu * 100 << "% of a core";
    EXPECT_LT(after.ticks - before.ticks, 50u);

    // The bytes are all still there for the reader.
    ASSERT_EQ(ReadPattern(c, 0, 4000), 0);
}

INSTANTIATE_TEST_SUITE_P(AllModes, IdleUnread, AllVariants(), VariantName);
