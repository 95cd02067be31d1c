// Timeouts and tickless_conn_close() waking blocked callers.
#include "harness.h"

#include <atomic>
#include <thread>
#include <vector>

class Close : public testing::TestWithParam<Variant> {};

TEST_P(Close, BlockedReadTimesOut)
{
    const Variant v = GetParam();

    SKIP_UNLESS_AVAILABLE(v.proto);
    ts_server *srv = nullptr;
    tickless_conn *c = StartServerAndConnect(v.mode, v.proto, &srv);
    ASSERT_NE(c, nullptr);

    char buf[64];
    size_t n = 123;
    uint64_t t0 = ts_now_ns();
    EXPECT_EQ(tickless_conn_read(c, buf, sizeof(buf), &n, 300),
              TICKLESS_ERR_TIMEOUT);
    double ms = (ts_now_ns() - t0) / 1e6;
    EXPECT_EQ(n, 0u);
    EXPECT_GE(ms, 290.0);
    EXPECT_LT(ms, 5000.0 * TimeScale());

    // Zero timeout: one try, no wait.
    t0 = ts_now_ns();
    EXPECT_EQ(tickless_conn_read(c, buf, sizeof(buf), &n, 0),
              TICKLESS_ERR_TIMEOUT);
    EXPECT_LT((ts_now_ns() - t0) / 1e6, 1000.0 * TimeScale());

    // The connection still works afterwards.
    ASSERT_EQ(WritePattern(c, 0, 1000), 0);
    ASSERT_EQ(ReadPattern(c, 0, 1000), 0);
    tickless_conn_close(c);
    ts_server_stop(srv);
}

TEST_P(Close, CloseWakesFourBlockedReaders)
{
    const Variant v = GetParam();

    SKIP_UNLESS_AVAILABLE(v.proto);
    ts_server *srv = nullptr;
    tickless_conn *c = StartServerAndConnect(v.mode, v.proto, &srv);
    ASSERT_NE(c, nullptr);

    std::atomic<int> results[4];
    std::vector<std::thread> readers;
    for (int i = 0; i < 4; i++) {
        results[i] = 1;
        readers.emplace_back([&, i] {
            char buf[64];
            size_t n;
            results[i] = tickless_conn_read(c, buf, sizeof(buf), &n,
                                            TICKLESS_FOREVER);
        });
    }
    // Wait until all four are really asleep inside tickless.
    ASSERT_EQ(WaitForWaiters(c, 4), 4u);

    uint64_t t0 = ts_now_ns();
    std::thread closer([&] { tickless_conn_close(c); });
    for (auto &t : readers)
        t.join();
    closer.join();
    EXPECT_LT((ts_now_ns() - t0) / 1e6, 2000.0 * TimeScale());
    for (int i = 0; i < 4; i++)
        EXPECT_EQ(results[i].load(), TICKLESS_ERR_CLOSED) << "reader " << i;
    ts_server_stop(srv);
}

INSTANTIATE_TEST_SUITE_P(AllModes, Close, AllVariants(), VariantName);
