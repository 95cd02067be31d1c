// A handshake the application starts and then leaves alone completes in
// the background: the application calls tickless_conn_handshake(c, 0)
// (one attempt, its first flight leaves) and goes off to compute; the
// assist reads the peer's answers and sends the next flights by itself.
// For QUIC that is OpenSSL's event handling; for DTLS and TLS tickless
// carries the handshake on in its tick. Every mode, every protocol.
#include "harness.h"

class BackgroundHandshake : public testing::TestWithParam<Variant> {};

TEST_P(BackgroundHandshake, CompletesWhileTheApplicationComputes)
{
    const Variant v = GetParam();
    SKIP_UNLESS_AVAILABLE(v.proto);
    ts_server *srv = StartServer(v.proto);
    ASSERT_NE(srv, nullptr);
    tickless_conn *c = NewClient(v.mode, v.proto, ts_server_port(srv));
    ASSERT_NE(c, nullptr);

    int rc = tickless_conn_handshake(c, 0);
    ASSERT_TRUE(rc == TICKLESS_ERR_TIMEOUT || rc == 0) << tickless_err_name(rc);

    // The application computes: no call into the connection at all.
    bool done = false;
    for (int i = 0; i < 100 * TimeScale() && !done; i++) {
        ts_sleep_ms(50);
        SSL *ssl = tickless_conn_lock(c);
        ASSERT_NE(ssl, nullptr);
        done = SSL_is_init_finished(ssl);
        tickless_conn_unlock(c);
    }
    EXPECT_TRUE(done) << "the handshake waited for the application";

    // And the connection is ready to use at once.
    EXPECT_EQ(tickless_conn_handshake(c, 0), 0);
    EXPECT_EQ(WritePattern(c, 0, 1000, 10000), 0);
    EXPECT_EQ(ReadPattern(c, 0, 1000, 10000), 0);
    tickless_conn_close(c);
    ts_server_stop(srv);
}

INSTANTIATE_TEST_SUITE_P(AllModes, BackgroundHandshake, AllVariants(),
                         VariantName);
