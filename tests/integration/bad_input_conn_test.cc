// Every call on a live connection, given bad input, returns its
// documented error, and so does every call after the handshake failed or
// the connection was shut down: no crash, no hang, no leak. Every mode and
// protocol. (BadInput: the calls without a connection.) The fixture closes
// the connection and stops its server after each test.
#include "harness.h"

class BadInputConn : public VariantTest {};

TEST_P(BadInputConn, CallsOnALiveConnection)
{
    tickless_conn *c = Client();
    ASSERT_NE(c, nullptr);
    char buf[8] = { 0 };
    size_t n = 5;

    EXPECT_EQ(tickless_conn_read(c, buf, 0, &n, 0), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_conn_read(c, nullptr, 8, &n, 0), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_conn_read(c, buf, 8, nullptr, 0), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_conn_write(c, buf, 0, &n, 0), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_conn_write(c, nullptr, 8, &n, 0), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_conn_write(c, buf, 8, nullptr, 0), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_conn_handshake(c, -2), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_conn_read(c, buf, 8, &n, -5), TICKLESS_ERR_INVALID);
    tickless_stats small = {};
    small.size = 1;
    EXPECT_EQ(tickless_conn_stats(c, &small), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_conn_stats(c, nullptr), TICKLESS_ERR_INVALID);

    ASSERT_EQ(tickless_conn_handshake(c, 10000), 0);

    // The SSL object is now tickless's: handing it over again is refused.
    SSL *ssl = tickless_conn_lock(c);
    ASSERT_NE(ssl, nullptr);
    tickless_conn *again = nullptr;
    EXPECT_EQ(tickless_conn_new(ssl, PoolFor(mode()), &again), TICKLESS_ERR_BUSY);
    // Re-entering tickless while holding the lock is refused, not a deadlock.
    EXPECT_EQ(tickless_conn_read(c, buf, 8, &n, 0), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_conn_lock(c), nullptr);
    // tickless_conn_error() too; it used to go on, and release the lock
    // (found by fuzz_api_sequence): the section must still be ours.
    tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
    EXPECT_EQ(tickless_conn_error(c, &info), TICKLESS_ERR_INVALID);
    tickless_stats st = TICKLESS_STATS_INIT;
    EXPECT_EQ(tickless_conn_stats(c, &st), TICKLESS_ERR_INVALID)
        << "the lock section ended early";
    EXPECT_TRUE(SSL_is_init_finished(ssl) || proto() == TS_QUIC);
    tickless_conn_unlock(c);

    // Works normally after the lock section.
    ASSERT_EQ(WritePattern(c, 0, 64), 0);
    ASSERT_EQ(ReadPattern(c, 0, 64), 0);
}

TEST_P(BadInputConn, CallsAfterTheHandshakeFailed)
{
    // Expect a host name the certificate does not carry: verification fails.
    tickless_conn *c =
        Client([](SSL *s) { ts_expect_host(s, "not-this-host.example"); });
    ASSERT_NE(c, nullptr);
    int rc = tickless_conn_handshake(c, 10000);
    EXPECT_EQ(rc, TICKLESS_ERR_SSL) << tickless_err_name(rc);
    tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
    ASSERT_EQ(tickless_conn_error(c, &info), 0);
    EXPECT_EQ(info.code, TICKLESS_ERR_SSL);
    EXPECT_NE(info.openssl_error, 0ul) << info.message;

    char buf[8] = { 0 };
    size_t n;
    EXPECT_EQ(tickless_conn_read(c, buf, 8, &n, 1000), TICKLESS_ERR_SSL);
    EXPECT_EQ(tickless_conn_write(c, buf, 8, &n, 1000), TICKLESS_ERR_SSL);
    EXPECT_EQ(tickless_conn_handshake(c, 1000), TICKLESS_ERR_SSL);
}

TEST_P(BadInputConn, CallsAfterShutdown)
{
    tickless_conn *c = Connect();
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(tickless_conn_shutdown(c, 10000), 0);
    size_t n;
    EXPECT_EQ(tickless_conn_write(c, "x", 1, &n, 1000), TICKLESS_ERR_CLOSED);
}

INSTANTIATE_TEST_SUITE_P(AllModes, BadInputConn, AllVariants(), VariantName);
