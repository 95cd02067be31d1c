// A peer that vanishes ends blocked calls with TICKLESS_ERR_PEER; nothing
// hangs. One mode each: a dedicated assist thread, or an
// application-driven pool nobody runs, so that no assist ticks. (A DTLS
// peer gone, in every mode: DtlsPeerGone.)
#include "harness.h"

#include <cerrno>
#include <future>
#include <string>
#include <vector>

TEST(PeerGone, QuicBlackHoleEndsReadAfterIdleTimeout)
{
    SKIP_UNLESS_AVAILABLE(TS_QUIC);
    ts_server *srv = StartServer(TS_QUIC);
    ASSERT_NE(srv, nullptr);
    ts_relay_options o = {};
    ts_relay *relay = nullptr;
    ASSERT_EQ(ts_relay_start(ts_server_port(srv), &o, &relay), 0);
    tickless_conn *c = NewClient(Mode::Dedicated, TS_QUIC, ts_relay_port(relay),
                                 [](SSL *s) { ts_quic_set_idle_timeout(s, 2000); });
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(tickless_conn_handshake(c, 10000), 0);
    ASSERT_EQ(WritePattern(c, 0, 100), 0);
    ASSERT_EQ(ReadPattern(c, 0, 100), 0);

    ts_relay_set_blackhole(relay, 1);
    uint64_t t0 = ts_now_ns();
    char buf[64];
    size_t n = 1;
    int rc = tickless_conn_read(c, buf, sizeof(buf), &n, 30000);
    double s = (ts_now_ns() - t0) / 1e9;
    EXPECT_EQ(rc, TICKLESS_ERR_PEER) << tickless_err_name(rc);
    EXPECT_EQ(n, 0u);
    // Idle timeout 2 s (OpenSSL may stretch it to 3 PTOs) plus slack.
    EXPECT_LT(s, 10.0);

    tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
    ASSERT_EQ(tickless_conn_error(c, &info), 0);
    EXPECT_EQ(info.code, TICKLESS_ERR_PEER);
    EXPECT_NE(info.message[0], '\0');
    // Sticky: every later call reports the same.
    EXPECT_EQ(tickless_conn_write(c, "x", 1, &n, 1000), TICKLESS_ERR_PEER);
    tickless_conn_close(c);
    ts_relay_stop(relay);
    ts_server_stop(srv);
}

TEST(PeerGone, TlsResetEndsBlockedReadAtOnce)
{
    ts_server *srv = nullptr;
    tickless_conn *c = StartServerAndConnect(Mode::Dedicated, TS_TLS, &srv);
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(WritePattern(c, 0, 100), 0);
    ASSERT_EQ(ReadPattern(c, 0, 100), 0);

    std::future<int> blocked = ReadInBackground(c, 30000);
    ts_sleep_ms(200); // let the reader block
    uint64_t t0 = ts_now_ns();
    ts_server_abort_connections(srv);
    int rc = blocked.get();
    EXPECT_TRUE(rc == TICKLESS_ERR_PEER || rc == TICKLESS_ERR_EOF)
        << tickless_err_name(rc);
    EXPECT_LT((ts_now_ns() - t0) / 1e6, 2000.0);
    tickless_conn_close(c);
    ts_server_stop(srv);
}

TEST(PeerGone, TlsWritesAfterResetReportPeerWithoutSigpipe)
{
    // SIGPIPE keeps its default action here: if tickless let one through,
    // it would kill this test process.
    ts_server *srv = nullptr;
    tickless_conn *c = StartServerAndConnect(Mode::Dedicated, TS_TLS, &srv);
    ASSERT_NE(c, nullptr);
    ts_server_abort_connections(srv);
    ts_sleep_ms(100);

    int rc = 0;
    for (int i = 0; i < 50 && rc == 0; i++)
        rc = WritePattern(c, 0, 16384, 5000);
    EXPECT_EQ(rc, TICKLESS_ERR_PEER) << tickless_err_name(rc);
    tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
    ASSERT_EQ(tickless_conn_error(c, &info), 0);
    EXPECT_TRUE(info.sys_errno == EPIPE || info.sys_errno == ECONNRESET)
        << info.sys_errno << " " << info.message;
    tickless_conn_close(c);
    ts_server_stop(srv);
}

// A TLS server that went away (its FIN, its socket closed) and answered our
// next bytes with a RST, as a server process that exited, or restarted on
// the same port, does. The read then sees the end of stream without
// close_notify ("unexpected eof while reading"), and OpenSSL's attempt to
// send its fatal alert fails with EPIPE, which queues "Broken pipe" after
// the cause. The verdict must follow the cause: the peer is gone
// (TICKLESS_ERR_PEER), not an OpenSSL failure of ours.
TEST(PeerGone, TlsEofThenResetIsPeerNotSsl)
{
    ts_server *srv = nullptr;
    tickless_conn *c = StartServerAndConnect(Mode::Dedicated, TS_TLS, &srv);
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(WritePattern(c, 0, 100), 0);
    ASSERT_EQ(ReadPattern(c, 0, 100), 0);

    ts_server_stop(srv); // FIN; the socket is gone
    ts_sleep_ms(100);
    // Accepted by the kernel; the server's side answers with a RST.
    ASSERT_EQ(WritePattern(c, 100, 100, 5000), 0);
    ts_sleep_ms(100);
    char buf[64];
    size_t n = 1;
    int rc = tickless_conn_read(c, buf, sizeof(buf), &n, 5000);
    EXPECT_EQ(rc, TICKLESS_ERR_PEER) << tickless_err_name(rc);
    EXPECT_EQ(n, 0u);
    tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
    ASSERT_EQ(tickless_conn_error(c, &info), 0);
    EXPECT_EQ(info.code, TICKLESS_ERR_PEER);
    EXPECT_NE(std::string(info.message).find("unexpected eof"),
              std::string::npos)
        << "the cause, not what followed it: " << info.message;
    tickless_conn_close(c);
}

TEST(PeerGone, DtlsHandshakeToNobodyFailsCleanly)
{
    // No server at all: ICMP port unreachable or silence. The handshake must
    // end with an error or its timeout, never hang past it.
    ts_server *srv = StartServer(TS_DTLS);
    ASSERT_NE(srv, nullptr);
    uint16_t port = ts_server_port(srv);
    ts_server_stop(srv);
    tickless_conn *c = NewClient(Mode::Dedicated, TS_DTLS, port, ts_dtls_fast_timer);
    ASSERT_NE(c, nullptr);
    uint64_t t0 = ts_now_ns();
    int rc = tickless_conn_handshake(c, 3000);
    EXPECT_TRUE(rc == TICKLESS_ERR_PEER || rc == TICKLESS_ERR_TIMEOUT
                || rc == TICKLESS_ERR_SSL)
        << tickless_err_name(rc);
    EXPECT_LT((ts_now_ns() - t0) / 1e6, 6000.0);
    tickless_conn_close(c);
}

// A failure that one call finds must end the calls blocked beside it at
// once, whoever else is watching the socket. Here a write finds that the
// TLS peer reset the connection while a read sleeps on the same
// connection. No assist ticks in between (an application-driven pool that
// nobody runs: the assist is late, or ticks only after the write, when a
// dead connection is not ticked any more), and the reader sleeps on its
// condition variable rather than polling the socket itself; so only the
// write's verdict can wake it. It slept until its own timeout.
TEST(PeerGone, FailureFoundByAWriteEndsABlockedReadWithNoAssistTicking)
{
    ts_server *srv = StartServer(TS_TLS);
    ASSERT_NE(srv, nullptr);
    tickless_pool_options o;
    tickless_pool_options_defaults(&o);
    o.threads = 0;
    tickless_pool *idle_pool = nullptr;
    ASSERT_EQ(tickless_pool_new(&o, &idle_pool), 0);
    tickless_conn *c = NewClientOn(idle_pool, TS_TLS, ts_server_port(srv));
    ASSERT_NE(c, nullptr);
    // Polling the socket itself, the caller needs no assist for this.
    ASSERT_EQ(tickless_conn_handshake(c, 10000), 0);

    AssistWakesCallers sleep_not_poll;
    std::future<int> blocked = ReadInBackground(c, 10000);
    ts_sleep_ms(200); // the reader sleeps
    ts_server_abort_connections(srv); // RST
    ts_sleep_ms(100);
    std::vector<char> out(64 << 10, 'x');
    size_t n = 0;
    int wrc = tickless_conn_write(c, out.data(), out.size(), &n, 5000);
    uint64_t t0 = ts_now_ns();
    int rc = blocked.get();
    double ms = (ts_now_ns() - t0) / 1e6;
    EXPECT_EQ(wrc, TICKLESS_ERR_PEER) << tickless_err_name(wrc);
    EXPECT_EQ(rc, TICKLESS_ERR_PEER) << tickless_err_name(rc);
    EXPECT_LT(ms, 2000.0) << "the reader slept until its own timeout";
    tickless_conn_close(c);
    EXPECT_EQ(tickless_pool_free(idle_pool), 0);
    ts_server_stop(srv);
}

// A DTLS peer that never answers: the verdict when the application's own
// call is the one that gives up (DtlsPeerGone: when the assist's tick
// does): OpenSSL checks the DTLS timer inside SSL_do_handshake() and
// SSL_read() as well, so when the assist is late (here: an
// application-driven pool that nobody runs) the last retransmission and the
// "read timeout expired" come from the application's call. It is the same
// event and must read the same: TICKLESS_ERR_PEER, not TICKLESS_ERR_SSL.
TEST(PeerGone, DtlsSilentPeerGivingUpInTheApplicationsCallIsPeerToo)
{
    SilentUdpPeer silent;
    tickless_pool *idle_pool = NewPool(0);
    ASSERT_NE(idle_pool, nullptr);
    tickless_conn *c = silent.NewDtlsClient(idle_pool);
    ASSERT_NE(c, nullptr);
    // Each call waits 30 ms, then tries once more: the 20 ms timer is due
    // by then, so every call retransmits, until OpenSSL gives up.
    int rc = TICKLESS_ERR_TIMEOUT, calls = 0;
    while (rc == TICKLESS_ERR_TIMEOUT && calls++ < 200)
        rc = tickless_conn_handshake(c, 30);
    EXPECT_EQ(rc, TICKLESS_ERR_PEER) << tickless_err_name(rc) << " after "
                                     << calls << " calls";
    tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
    ASSERT_EQ(tickless_conn_error(c, &info), 0);
    EXPECT_EQ(info.code, TICKLESS_ERR_PEER);
    EXPECT_NE(std::string(info.message).find("timeout"), std::string::npos)
        << info.message;
    tickless_conn_close(c);
    EXPECT_EQ(tickless_pool_free(idle_pool), 0);
}
