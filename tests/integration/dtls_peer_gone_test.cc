// A DTLS peer that is gone ends blocked calls with TICKLESS_ERR_PEER, in
// every assist mode: one that never answered (its retransmissions run
// out), and one whose port closed (ICMP port unreachable). Nothing waits
// for its own timeout.
#include "harness.h"

#include <future>
#include <string>

class DtlsPeerGone : public testing::TestWithParam<Mode> {};

// A DTLS peer that takes datagrams and never answers: OpenSSL gives up after
// 12 unanswered retransmissions ("read timeout expired") inside the assist's
// timer tick. That verdict must reach the blocked handshake as
// TICKLESS_ERR_PEER at once, in every assist mode, not leave it asleep until
// its own timeout while the assist ticks a timer that stays expired.
TEST_P(DtlsPeerGone, SilentPeerHandshakeEndsWithPeerWhenRetransmissionsRunOut)
{
    SilentUdpPeer silent;
    tickless_conn *c = silent.NewDtlsClient(PoolFor(GetParam()));
    ASSERT_NE(c, nullptr);
    uint64_t t0 = ts_now_ns();
    int rc = tickless_conn_handshake(c, 20000);
    double ms = (ts_now_ns() - t0) / 1e6;
    EXPECT_EQ(rc, TICKLESS_ERR_PEER) << tickless_err_name(rc);
    EXPECT_LT(ms, 10000.0) << "woken by the verdict, not by the timeout";

    tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
    ASSERT_EQ(tickless_conn_error(c, &info), 0);
    EXPECT_EQ(info.code, TICKLESS_ERR_PEER);
    EXPECT_NE(std::string(info.message).find("timeout"), std::string::npos)
        << info.message;
    // Sticky, and the assist no longer ticks a dead timer.
    size_t n = 0;
    EXPECT_EQ(tickless_conn_write(c, "x", 1, &n, 1000), TICKLESS_ERR_PEER);
    tickless_stats st0 = TICKLESS_STATS_INIT, st1 = TICKLESS_STATS_INIT;
    ASSERT_EQ(tickless_conn_stats(c, &st0), 0);
    ts_sleep_ms(300);
    ASSERT_EQ(tickless_conn_stats(c, &st1), 0);
    EXPECT_LE(st1.ticks - st0.ticks, 2u) << "the assist keeps ticking";
    tickless_conn_close(c);
}

// The other side of EmptyDatagram (empty_datagram_test.cc): a DTLS peer
// that is really gone must still be reported. Its port closed, our next
// datagram draws ICMP port unreachable, the socket's next read fails with
// ECONNREFUSED, and a blocked read must end with TICKLESS_ERR_PEER at
// once. Tickless reads an empty datagram as "retry" (ossl.c); a failed
// read is not one, on any OpenSSL.
TEST_P(DtlsPeerGone, PortUnreachableEndsBlockedReadWithPeer)
{
    ts_server *srv = nullptr;
    tickless_conn *c = StartServerAndConnect(GetParam(), TS_DTLS, &srv);
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(WritePattern(c, 0, 100), 0);
    ASSERT_EQ(ReadPattern(c, 0, 100), 0);
    ts_server_stop(srv); // its socket is closed: the port is unreachable

    std::future<int> blocked = ReadInBackground(c, 10000);
    ts_sleep_ms(100); // let the reader block
    uint64_t t0 = ts_now_ns();
    size_t sent = 0;
    int wrc = tickless_conn_write(c, "x", 1, &sent, 1000);
    EXPECT_TRUE(wrc == 0 || wrc == TICKLESS_ERR_PEER) << tickless_err_name(wrc);
    int rc = blocked.get();
    EXPECT_EQ(rc, TICKLESS_ERR_PEER) << tickless_err_name(rc);
    EXPECT_LT((ts_now_ns() - t0) / 1e6, 5000.0) << "slept until its timeout";
    EXPECT_EQ(tickless_conn_write(c, "x", 1, &sent, 1000), TICKLESS_ERR_PEER);
    tickless_conn_close(c);
}

INSTANTIATE_TEST_SUITE_P(AllModes, DtlsPeerGone, EveryMode(), ModeParamName);
