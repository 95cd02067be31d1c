// A 5 s black-out in the middle of a QUIC transfer: nothing gets through
// either way, then the path comes back. The transfer must resume and
// complete intact (the idle timeout is longer than the black-out), with the
// writer and reader blocked meanwhile, not failing.
#include "harness.h"

#include <thread>

namespace {

// Per call: long enough for loss recovery to resume after the black-out.
const int kCallTimeoutMs = 20000;

class BlackOut : public testing::TestWithParam<Mode> {};

TEST_P(BlackOut, QuicTransferResumesIntactAfterFiveSeconds)
{
    SKIP_UNLESS_AVAILABLE(TS_QUIC);
    ts_server *srv = StartServer(TS_QUIC);
    ASSERT_NE(srv, nullptr);
    ts_relay *relay = nullptr;
    ASSERT_EQ(ts_relay_start(ts_server_port(srv), nullptr, &relay), 0);
    tickless_conn *c = NewClient(GetParam(), TS_QUIC, ts_relay_port(relay),
                                 [](SSL *s) {
                                     ts_quic_set_idle_timeout(s, 30000);
                                 });
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(tickless_conn_handshake(c, kCallTimeoutMs), 0);
    ASSERT_EQ(WritePattern(c, 0, 64 << 10, kCallTimeoutMs), 0);
    ASSERT_EQ(ReadPattern(c, 0, 64 << 10, kCallTimeoutMs), 0);

    ts_relay_set_blackhole(relay, 1);
    std::thread restore([relay] {
        ts_sleep_ms(5000);
        ts_relay_set_blackhole(relay, 0);
    });
    uint64_t t0 = ts_now_ns();
    // Written into the black-out: accepted into QUIC's buffers, it must
    // arrive once the path is back.
    int rc = WritePattern(c, 64 << 10, 64 << 10, kCallTimeoutMs);
    if (rc == 0)
        rc = ReadPattern(c, 64 << 10, 64 << 10, kCallTimeoutMs);
    double s = (ts_now_ns() - t0) / 1e9;
    restore.join();
    EXPECT_EQ(rc, 0) << tickless_err_name(rc);
    EXPECT_GE(s, 4.5) << "nothing can cross a black-out";
    EXPECT_LT(s, 25.0) << "loss recovery resumed far too late";
    tickless_conn_close(c);
    ts_relay_stop(relay);
    ts_server_stop(srv);
}

INSTANTIATE_TEST_SUITE_P(AllModes, BlackOut, EveryMode(), ModeParamName);

} // namespace
