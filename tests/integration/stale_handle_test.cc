// A connection used after it was given back (tickless_conn_close()), in
// every mode and protocol, is refused, not followed: a stale pointer in an
// application must not become a use-after-free in the library. Each call
// returns TICKLESS_ERR_INVALID and logs a line naming the call, for as long
// as the connection's memory waits in the quarantine (src/base/handle.h);
// under ASan this also proves that refusing reads no freed memory. (Other
// handles, and handles where they do not belong: StaleObject.)
#include "harness.h"

// Each test collects the log's refusals.
class StaleHandle : public testing::TestWithParam<Variant> {
protected:
    RefusalLog log_;
};

TEST_P(StaleHandle, ConnectionUsedAfterCloseIsRefused)
{
    const Variant v = GetParam();
    SKIP_UNLESS_AVAILABLE(v.proto);
    ts_server *srv = StartServer(v.proto);
    ASSERT_NE(srv, nullptr);
    tickless_conn *c = NewClient(v.mode, v.proto, ts_server_port(srv));
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(WritePattern(c, 0, 1000, 10000), 0);
    ASSERT_EQ(ReadPattern(c, 0, 1000, 10000), 0);
    tickless_conn_close(c);

    char buf[16] = { 0 };
    size_t n = 99;
    EXPECT_EQ(tickless_conn_read(c, buf, sizeof(buf), &n, 1000),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(n, 0u);
    EXPECT_EQ(tickless_conn_write(c, buf, sizeof(buf), &n, 1000),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_conn_handshake(c, 1000), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_conn_shutdown(c, 1000), TICKLESS_ERR_INVALID);
    tickless_stats st;
    st.size = sizeof(st);
    EXPECT_EQ(tickless_conn_stats(c, &st), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_conn_stats_reset(c), TICKLESS_ERR_INVALID);
    tickless_error_info info;
    info.size = sizeof(info);
    EXPECT_EQ(tickless_conn_error(c, &info), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_conn_lock(c), nullptr);
    tickless_conn_unlock(c); // nothing to do, nothing touched
    tickless_stream *s = nullptr;
    EXPECT_EQ(tickless_stream_open(c, 0, &s, 1000), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_stream_accept(c, &s, 1000), TICKLESS_ERR_INVALID);
    EXPECT_EQ(s, nullptr);
    tickless_conn_close(c); // a second close: refused, not a double free

    EXPECT_TRUE(log_.Has("tickless_conn_read", "already closed"));
    EXPECT_TRUE(log_.Has("tickless_conn_close", "already closed"));
    EXPECT_TRUE(log_.Has("tickless_stream_open", "already closed"));
    ts_server_stop(srv);
}

INSTANTIATE_TEST_SUITE_P(AllModes, StaleHandle, AllVariants(), VariantName);
