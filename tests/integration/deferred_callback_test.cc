// An application callback that puts the handshake off, to be called again
// later: a certificate callback returning -1 (SSL_ERROR_WANT_X509_LOOKUP),
// a client-hello callback returning SSL_CLIENT_HELLO_RETRY
// (SSL_ERROR_WANT_CLIENT_HELLO_CB), a verify callback calling
// SSL_set_retry_verify() (SSL_ERROR_WANT_RETRY_VERIFY). None of them is a
// failure: a call with timeout 0 returns TICKLESS_ERR_TIMEOUT and
// leaves the connection intact, a blocking handshake calls OpenSSL again
// until the callback is ready, and a handshake the application started
// gets past it with nobody calling. Before, each was made a sticky
// TICKLESS_ERR_SSL.
// TLS over real TCP, both ends tickless connections.
#include "harness.h"

extern "C" {
#include "ts_net.h"
}

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

namespace {

const int kTimeoutMs = 10000;
const int kDefers = 3; // times each callback says "not yet"

enum class Deferral { CertCb, ClientHelloCb, RetryVerify };

std::atomic<int> g_calls;

int CertCb(SSL *, void *)
{
    return g_calls++ < kDefers ? -1 : 1;
}

int ClientHelloCb(SSL *, int *, void *)
{
    return g_calls++ < kDefers ? SSL_CLIENT_HELLO_RETRY
                               : SSL_CLIENT_HELLO_SUCCESS;
}

int VerifyCb(int ok, X509_STORE_CTX *ctx)
{
    SSL *ssl = static_cast<SSL *>(
        X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
    if (ssl != nullptr && g_calls++ < kDefers)
        return SSL_set_retry_verify(ssl);
    return ok;
}

std::string Name(Deferral d)
{
    static const char *const kNames[] = { "CertCb", "ClientHelloCb",
                                          "RetryVerify" };
    return kNames[static_cast<int>(d)];
}

std::string DeferralName(const testing::TestParamInfo<Deferral> &info)
{
    return Name(info.param);
}

// How gtest prints the parameter: by name.
void PrintTo(Deferral d, std::ostream *os)
{
    *os << Name(d);
}

// A tickless TLS server connection on the accepted socket |fd|.
tickless_conn *NewServer(int fd, Deferral d)
{
    SSL_CTX *ctx = ts_server_ctx(TS_TLS);
    if (ctx == nullptr)
        return nullptr;
    if (d == Deferral::CertCb)
        SSL_CTX_set_cert_cb(ctx, CertCb, nullptr);
    if (d == Deferral::ClientHelloCb)
        SSL_CTX_set_client_hello_cb(ctx, ClientHelloCb, nullptr);
    SSL *ssl = SSL_new(ctx);
    SSL_CTX_free(ctx);
    if (ssl == nullptr)
        return nullptr;
    BIO *bio = BIO_new_socket(fd, BIO_CLOSE);
    if (bio == nullptr) {
        SSL_free(ssl);
        return nullptr;
    }
    SSL_set_bio(ssl, bio, bio);
    SSL_set_accept_state(ssl);
    tickless_conn *c = nullptr;
    if (tickless_conn_new(ssl, nullptr, &c) != 0) {
        SSL_free(ssl);
        return nullptr;
    }
    return c;
}

} // namespace

class DeferredCallback : public testing::TestWithParam<Deferral> {
  protected:
    tickless_conn *client = nullptr;
    tickless_conn *server = nullptr;

    // A TLS client and server over TCP, the callback of GetParam() set.
    void Connect()
    {
        const Deferral d = GetParam();
        g_calls = 0;
        uint16_t port = 0;
        int lfd = ts_net_bind(SOCK_STREAM, 0, TS_NET_REUSEADDR, &port);
        ASSERT_GE(lfd, 0);
        client = NewClientOn(nullptr, TS_TLS, port, [d](SSL *ssl) {
            if (d == Deferral::RetryVerify)
                SSL_set_verify(ssl, SSL_VERIFY_PEER, VerifyCb);
        });
        ASSERT_NE(client, nullptr);
        int fd = accept(lfd, nullptr, nullptr);
        close(lfd);
        ASSERT_GE(fd, 0);
        server = NewServer(fd, d);
        ASSERT_NE(server, nullptr);
    }

    void TearDown() override
    {
        tickless_conn_close(client);
        tickless_conn_close(server);
    }
};

TEST_P(DeferredCallback, HandshakeWaitsForItInsteadOfFailing)
{
    const Deferral d = GetParam();
    ASSERT_NO_FATAL_FAILURE(Connect());

    // The side whose callback defers, and the other, which just waits.
    tickless_conn *deferring = d == Deferral::RetryVerify ? client : server;
    tickless_conn *other = deferring == client ? server : client;
    int other_rc = -100;
    std::thread peer(
        [&] { other_rc = tickless_conn_handshake(other, kTimeoutMs); });

    // Calls with timeout 0 until the callback has said "not yet": each
    // only times out, however often it meets the callback.
    uint64_t give_up = ts_now_ns() + (uint64_t)(kTimeoutMs * 1e6);
    int rc = TICKLESS_ERR_TIMEOUT;
    while (g_calls.load() < 1 && ts_now_ns() < give_up
           && rc == TICKLESS_ERR_TIMEOUT) {
        rc = tickless_conn_handshake(deferring, 0);
        if (rc == TICKLESS_ERR_TIMEOUT)
            ts_sleep_ms(1);
    }
    EXPECT_GE(g_calls.load(), 1) << "the callback was never reached";
    EXPECT_TRUE(rc == TICKLESS_ERR_TIMEOUT || rc == 0)
        << tickless_err_name(rc) << ": a deferral made fatal";
    if (rc == TICKLESS_ERR_TIMEOUT) {
        rc = tickless_conn_handshake(deferring, 0);
        EXPECT_TRUE(rc == TICKLESS_ERR_TIMEOUT || rc == 0)
            << tickless_err_name(rc);
    }

    // A blocking handshake waits for the callback to be ready.
    rc = tickless_conn_handshake(deferring, kTimeoutMs);
    EXPECT_EQ(rc, 0) << tickless_err_name(rc);
    peer.join();
    EXPECT_EQ(other_rc, 0) << tickless_err_name(other_rc);
    EXPECT_GT(g_calls.load(), kDefers);

    // And the connection works.
    size_t n = 0;
    char buf[2] = { 0, 0 };
    if (rc == 0 && other_rc == 0) {
        EXPECT_EQ(tickless_conn_write(client, "hi", 2, &n, kTimeoutMs), 0);
        size_t got = 0;
        (void)ReadExactly(server, buf, 2, kTimeoutMs, &got);
        EXPECT_EQ(std::string(buf, got), "hi");
    }
}

// The deferring side starts its handshake (timeout 0) and never calls
// again: the assist carries the handshake on, past every "not yet", and
// the other side's blocking handshake completes.
TEST_P(DeferredCallback, StartedHandshakeGetsPastItWithNobodyCalling)
{
    ASSERT_NO_FATAL_FAILURE(Connect());
    tickless_conn *deferring =
        GetParam() == Deferral::RetryVerify ? client : server;
    tickless_conn *other = deferring == client ? server : client;
    int other_rc = -100;
    std::thread peer(
        [&] { other_rc = tickless_conn_handshake(other, kTimeoutMs); });
    int rc = tickless_conn_handshake(deferring, 0);
    EXPECT_TRUE(rc == TICKLESS_ERR_TIMEOUT || rc == 0) << tickless_err_name(rc);
    peer.join();
    EXPECT_EQ(other_rc, 0) << tickless_err_name(other_rc)
                           << ": the deferred handshake was left waiting";
    EXPECT_GT(g_calls.load(), kDefers);
    EXPECT_EQ(tickless_conn_handshake(deferring, 0), 0);
}

INSTANTIATE_TEST_SUITE_P(Callbacks, DeferredCallback,
                         testing::Values(Deferral::CertCb,
                                         Deferral::ClientHelloCb,
                                         Deferral::RetryVerify),
                         DeferralName);
