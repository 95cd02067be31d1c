// A zero-length datagram from the server's address, during the handshake
// and under a blocked read: DTLS drops invalid records silently, so the
// connection must go on. (OpenSSL reports such a datagram as
// SSL_ERROR_SYSCALL with nothing queued; tickless took that for the peer's
// end of stream and failed the connection. Found by fuzz_dtls_datagrams.)
#include "harness.h"

#include <thread>

namespace {

const int kCallTimeoutMs = 20000;

class EmptyDatagram : public testing::TestWithParam<Mode> {};

TEST_P(EmptyDatagram, DoesNotEndADtlsConnection)
{
    ts_server *srv = StartServer(TS_DTLS);
    ASSERT_NE(srv, nullptr);
    ts_relay *relay = nullptr;
    ASSERT_EQ(ts_relay_start(ts_server_port(srv), nullptr, &relay), 0);
    tickless_conn *c = NewClient(GetParam(), TS_DTLS, ts_relay_port(relay),
                                 [](SSL *s) { ts_dtls_fast_timer(s); });
    ASSERT_NE(c, nullptr);
    // The ClientHello goes out; the relay now knows the client. (Rarely,
    // on a slow build, the assist completes the handshake before this call
    // takes its last look: then only the blocked read below sees empties.)
    int rc = tickless_conn_handshake(c, 0);
    ASSERT_TRUE(rc == TICKLESS_ERR_TIMEOUT || rc == 0) << tickless_err_name(rc);
    for (int i = 0; i < 200 && ts_relay_inject(relay, 0, 0, "", 0) != 0; i++)
        ts_sleep_ms(10);
    ASSERT_EQ(tickless_conn_handshake(c, kCallTimeoutMs), 0);

    std::thread empties([relay] {
        ts_sleep_ms(100); // the reader below is blocked by now
        EXPECT_EQ(ts_relay_inject(relay, 0, 0, "", 0), 0);
    });
    char buf[16];
    size_t n = 0;
    EXPECT_EQ(tickless_conn_read(c, buf, sizeof(buf), &n, 300),
              TICKLESS_ERR_TIMEOUT);
    empties.join();
    for (uint64_t off = 0; off < 4096; off += 512) {
        ASSERT_EQ(WritePattern(c, off, 512, kCallTimeoutMs), 0);
        ASSERT_EQ(ReadPattern(c, off, 512, kCallTimeoutMs), 0);
    }
    tickless_conn_close(c);
    ts_relay_stop(relay);
    ts_server_stop(srv);
}

INSTANTIATE_TEST_SUITE_P(AllModes, EmptyDatagram, EveryMode(), ModeParamName);

} // namespace
