// No OpenSSL call that tickless makes, on any thread, may raise SIGPIPE in
// the application: failure 2 of the interleaving review. An application-
// driven pool runs the assist's work (a DTLS/TLS handshake carried on in
// the background) on the application's own thread, inside
// tickless_pool_run(); a TLS server whose client sent its ClientHello and
// went away then writes its reply, and an alert, into a reset socket.
#include "harness.h"
#include "tls_peer.h"

extern "C" {
#include "ts_net.h"
}

#include <csignal>
#include <memory>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

// One server connection whose client says hello and leaves; the handshake
// goes on inside tickless_pool_run() on this thread. Returns normally
// unless something killed the process.
void ServeAClientThatLeaves(tickless_pool *pool, SSL_CTX *server_ctx,
                            SSL_CTX *client_ctx)
{
    uint16_t port = 0;
    int lfd = ts_net_bind(SOCK_STREAM, 0, 0, &port);
    if (lfd < 0 || listen(lfd, 1) != 0)
        _exit(10);
    int cfd = ts_net_connect(SOCK_STREAM, port);
    int sfd = accept(lfd, nullptr, nullptr);
    close(lfd);
    if (cfd < 0 || sfd < 0)
        _exit(11);

    SSL *server = SSL_new(server_ctx);
    SSL_set_fd(server, sfd);
    SSL_set_accept_state(server);
    tickless_conn *c = nullptr;
    if (tickless_conn_new(server, pool, &c) != 0)
        _exit(12);
    // Started, not waited for: the pool carries it on.
    if (tickless_conn_handshake(c, 0) != TICKLESS_ERR_TIMEOUT)
        _exit(13);

    // The client's ClientHello, then it is gone.
    SSL *client = SSL_new(client_ctx);
    SSL_set_fd(client, cfd);
    SSL_set_connect_state(client);
    ts_net_set_nonblock(cfd, 1);
    (void)SSL_do_handshake(client); // sends it; the reply is not waited for
    SSL_free(client);
    close(cfd);

    // The application's loop: the handshake's reply and the alert that
    // follows the client's disappearance are written here.
    for (int i = 0; i < 20; i++)
        (void)tickless_pool_run(pool, 10);
    tickless_conn_close(c);
    close(sfd);
}

} // namespace

// In a child process (a death test) with SIGPIPE's default action, which
// kills: the child must exit normally.
TEST(SigPipe, ApplicationDrivenPoolServingALeavingTlsClient)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            signal(SIGPIPE, SIG_DFL);
            tickless_pool_options o;
            tickless_pool_options_defaults(&o);
            o.threads = 0;
            tickless_pool *pool = nullptr;
            if (tickless_pool_new(&o, &pool) != 0)
                _exit(2);
            SSL_CTX *sctx = ts_server_ctx(TS_TLS);
            SSL_CTX *cctx = ts_client_ctx(TS_TLS);
            // Each round is one chance for the reset to arrive before a
            // write: the review saw it every time; ten make sure.
            for (int round = 0; round < 10; round++)
                ServeAClientThatLeaves(pool, sctx, cctx);
            SSL_CTX_free(sctx);
            SSL_CTX_free(cctx);
            _exit(tickless_pool_free(pool) == 0 ? 0 : 3);
        },
        testing::ExitedWithCode(0), "");
}

// tickless_conn_lock() hands write bytes a timed-out write left with
// OpenSSL (see the header's "Writes") to the socket first: into a socket
// the peer has since reset, that write must not raise SIGPIPE either.
TEST(SigPipe, LockAfterATimedOutWriteToAVanishedPeer)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            signal(SIGPIPE, SIG_DFL);
            auto peer = std::make_unique<TlsPeer>();
            peer->Send("hi"); // read below, with the session tickets
            tickless_conn *c = NewClient(Mode::Dedicated, TS_TLS,
                                         peer->port(), SmallSendBuffer);
            char hi[2];
            size_t n = 0;
            if (c == nullptr || tickless_conn_handshake(c, 10000) != 0
                || tickless_conn_read(c, hi, sizeof(hi), &n, 10000) != 0)
                _exit(2);
            std::vector<uint8_t> data(1 << 20, 'x');
            if (tickless_conn_write(c, data.data(), data.size(), &n, 200)
                != TICKLESS_ERR_TIMEOUT)
                _exit(3); // the peer does not read: it must time out
            peer.reset(); // gone, its unread bytes reset the connection
            ts_sleep_ms(100);
            for (int i = 0; i < 3; i++) {
                if (tickless_conn_lock(c) != nullptr)
                    tickless_conn_unlock(c);
            }
            tickless_conn_close(c);
            _exit(0);
        },
        testing::ExitedWithCode(0), "");
}
