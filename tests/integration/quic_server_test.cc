// tickless as a QUIC server: a tickless_listener whose accepted connections
// are served by plain blocking worker threads, against tickless clients.
#include "harness.h"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "ts_net.h"
}

namespace {

class QuicServer : public PoolThreadsTest {
protected:

#if TS_HAVE_QUIC
    // A listener on pool_; port_ is its port.
    tickless_listener *Listen() { return NewQuicListener(pool_, &port_); }

    // A dedicated client of |l| (on port_), handshaken, and the connection
    // accepted for it; false, with a test failure added, on failure.
    bool ConnectAndAccept(tickless_listener *l, tickless_conn **client,
                          tickless_conn **served)
    {
        *served = nullptr;
        *client = NewClient(Mode::Dedicated, TS_QUIC, port_);
        if (*client == nullptr)
            return false;
        std::thread hs([client] {
            EXPECT_EQ(tickless_conn_handshake(*client, 10000), 0);
        });
        EXPECT_EQ(tickless_listener_accept(l, served, 10000), 0);
        hs.join();
        return *served != nullptr;
    }

    uint16_t port_ = 0;
#endif
};

} // namespace

#if TS_HAVE_QUIC

// Eight clients, four threads blocked in accept: every connection reaches
// exactly one of them and every byte comes back intact.
TEST_P(QuicServer, WorkerThreadsAcceptAndEcho)
{
    tickless_listener *l = Listen();
    ASSERT_NE(l, nullptr);

    const int kClients = 8, kWorkers = 4;
    std::atomic<int> accepted{0};
    std::vector<std::thread> workers;
    for (int i = 0; i < kWorkers; i++)
        workers.emplace_back([&] {
            AcceptUntilClosed(l, [&](tickless_conn *c) {
                accepted++;
                EchoUntilEof(c);
            });
        });

    uint64_t t0 = ts_now_ns();
    EXPECT_EQ(RunQuicClients(port_, kClients,
                             [](tickless_conn *c, int i) {
                                 return EchoPattern(c, i,
                                                    100000 + 1000 * (size_t)i);
                             }),
              kClients);
    StopServing(l, &workers);
    // Each connection reached exactly one worker: no more accepts than
    // clients (a connection handed out twice would be echoed twice).
    EXPECT_EQ(accepted.load(), kClients);
    EXPECT_LT((ts_now_ns() - t0) / 1e9, 20.0 * TimeScale())
        << "a worker slept through data";
}

// Closing the listener closes what it accepted: a server thread blocked in
// read on an accepted connection returns TICKLESS_ERR_CLOSED, and so does
// a blocked accept. Nothing leaks (ASan) and nothing is freed early.
TEST_P(QuicServer, CloseWakesAcceptAndAcceptedConnections)
{
    tickless_listener *l = Listen();
    ASSERT_NE(l, nullptr);

    tickless_conn *client = nullptr, *server = nullptr;
    ASSERT_TRUE(ConnectAndAccept(l, &client, &server));
    ASSERT_EQ(tickless_conn_handshake(server, 10000), 0);
    ASSERT_EQ(WritePattern(client, 0, 1000), 0); // proves the pair works
    char buf[2000];
    size_t n = 0;
    ASSERT_EQ(tickless_conn_read(server, buf, sizeof(buf), &n, 10000), 0);

    int read_rc = 0, accept_rc = 0;
    std::thread reader([&] {
        size_t m = 0;
        read_rc = tickless_conn_read(server, buf, sizeof(buf), &m, 20000);
    });
    std::thread accepter([&] {
        tickless_conn *c = nullptr;
        accept_rc = tickless_listener_accept(l, &c, 20000);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    uint64_t t0 = ts_now_ns();
    tickless_listener_close(l);
    reader.join();
    accepter.join();
    EXPECT_EQ(read_rc, TICKLESS_ERR_CLOSED);
    EXPECT_EQ(accept_rc, TICKLESS_ERR_CLOSED);
    EXPECT_LT((ts_now_ns() - t0) / 1e6, 5000.0 * TimeScale());
    // The handle stays usable after close: accepts say so at once.
    tickless_conn *late = nullptr;
    EXPECT_EQ(tickless_listener_accept(l, &late, TICKLESS_FOREVER),
              TICKLESS_ERR_CLOSED);
    tickless_listener_close(l); // a second close does nothing
    tickless_listener_free(l);
    // Later calls on the accepted connection keep saying so.
    EXPECT_EQ(tickless_conn_write(server, buf, 10, &n, 0), TICKLESS_ERR_CLOSED);
    tickless_conn_close(server); // frees the listener's SSL after it
    tickless_conn_close(client);
}

// Inside tickless_conn_lock() on one accepted connection, the thread may
// close another connection of the same listener, and the listener itself
// (any thread may): both share the locked connection's mutex, and the
// section must go on until tickless_conn_unlock(). Closing the other
// connection used to free it twice (use after free under ASan), and
// closing the listener released the section's lock. Found by
// fuzz_api_sequence.
TEST_P(QuicServer, LockSectionSurvivesClosingItsSiblingAndListener)
{
    tickless_listener *l = Listen();
    ASSERT_NE(l, nullptr);
    tickless_conn *clients[2] = { nullptr, nullptr };
    tickless_conn *served[2] = { nullptr, nullptr };
    for (int i = 0; i < 2; i++)
        ASSERT_TRUE(ConnectAndAccept(l, &clients[i], &served[i]));
    tickless_stats st = TICKLESS_STATS_INIT;
    SSL *ssl = tickless_conn_lock(served[0]);
    ASSERT_NE(ssl, nullptr);
    tickless_conn_close(served[1]);
    EXPECT_EQ(tickless_conn_stats(served[0], &st), TICKLESS_ERR_INVALID)
        << "closing the other connection ended the lock section";
    tickless_listener_close(l);
    EXPECT_EQ(tickless_conn_stats(served[0], &st), TICKLESS_ERR_INVALID)
        << "closing the listener ended the lock section";
    EXPECT_EQ(SSL_is_connection(ssl), 1);
    tickless_conn_unlock(served[0]);
    size_t n = 0;
    EXPECT_EQ(tickless_conn_write(served[0], "x", 1, &n, 0),
              TICKLESS_ERR_CLOSED);
    EXPECT_EQ(tickless_conn_stats(served[0], &st), 0) << "not unlocked";
    tickless_conn_close(served[0]);
    tickless_listener_free(l);
    for (tickless_conn *c : clients)
        tickless_conn_close(c);
}

// The application expects a tickless_conn_lock() section to hold the lock
// from lock to unlock, whatever it calls inside. tickless_listener_close()
// from inside one (on a connection accepted from that listener) used to
// let the lock go while the assist was detached (a thread join, for a
// dedicated one): a thread waiting for the lock got in meanwhile, with the
// section still open. Now the section's lock stays held: the waiting call
// gets in only after tickless_conn_unlock().
static char ThreadState(long tid)
{
    std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)),
                     std::istreambuf_iterator<char>());
    size_t paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size()
               ? stat[paren + 2]
               : '?';
}

TEST_P(QuicServer, ListenerCloseInsideALockSectionKeepsItsLockHeld)
{
    tickless_listener *l = Listen();
    ASSERT_NE(l, nullptr);
    tickless_conn *client = nullptr, *served = nullptr;
    ASSERT_TRUE(ConnectAndAccept(l, &client, &served));

    SSL *ssl = tickless_conn_lock(served);
    ASSERT_NE(ssl, nullptr);
    // Another thread's call on the connection waits for the lock.
    std::atomic<long> tid{ 0 };
    std::atomic<bool> returned{ false };
    int rc = -100;
    std::thread waiter([&] {
        char b;
        size_t n = 0;
        tid = (long)syscall(SYS_gettid);
        rc = tickless_conn_read(served, &b, 1, &n, 10000);
        returned = true;
    });
    // Parked: asleep in the kernel, on the lock.
    uint64_t give_up = ts_now_ns() + 5000000000ull;
    while ((tid.load() == 0 || ThreadState(tid.load()) != 'S')
           && ts_now_ns() < give_up)
        ts_sleep_ms(1);
    ASSERT_EQ(ThreadState(tid.load()), 'S');

    tickless_listener_close(l);
    // Let a call that got in during the close finish, so that it shows.
    for (int i = 0; i < 100 && !returned.load(); i++)
        ts_sleep_ms(2);
    EXPECT_FALSE(returned.load())
        << "the close let go of the section's lock: another thread's call "
           "ran inside the section";
    EXPECT_EQ(SSL_is_connection(ssl), 1);
    tickless_conn_unlock(served);
    waiter.join();
    EXPECT_EQ(rc, TICKLESS_ERR_CLOSED) << tickless_err_name(rc);
    tickless_conn_close(served);
    tickless_listener_free(l);
    tickless_conn_close(client);
}

TEST_P(QuicServer, BadInput)
{
    tickless_listener *l = reinterpret_cast<tickless_listener *>(1);
    EXPECT_EQ(tickless_listener_new(nullptr, pool_, &l), TICKLESS_ERR_INVALID);
    EXPECT_EQ(l, nullptr);
    uint16_t port = 0;
    SSL *lst = NewQuicListenerSsl(&port);
    ASSERT_NE(lst, nullptr);
    EXPECT_EQ(tickless_listener_new(lst, pool_, nullptr), TICKLESS_ERR_INVALID);
    // A client connection is not a listener, and vice versa.
    SSL_CTX *cctx = ts_client_ctx(TS_QUIC);
    SSL *client = ts_client_new(cctx, TS_QUIC, port);
    SSL_CTX_free(cctx);
    EXPECT_EQ(tickless_listener_new(client, pool_, &l), TICKLESS_ERR_INVALID);
    tickless_conn *c = nullptr;
    EXPECT_EQ(tickless_conn_new(lst, pool_, &c), TICKLESS_ERR_INVALID);
    SSL_free(client);
    ASSERT_EQ(tickless_listener_new(lst, pool_, &l), 0);
    EXPECT_EQ(tickless_listener_accept(nullptr, &c, 0), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_listener_accept(l, nullptr, 0), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_listener_accept(l, &c, -2), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_listener_accept(l, &c, 0), TICKLESS_ERR_TIMEOUT);
    tickless_stream *s = reinterpret_cast<tickless_stream *>(1);
    EXPECT_EQ(tickless_listener_accept_stream(nullptr, &s, 0),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(s, nullptr);
    EXPECT_EQ(tickless_listener_accept_stream(l, nullptr, 0),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_listener_accept_stream(l, &s, -2),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_listener_accept_stream(l, &s, 0), TICKLESS_ERR_TIMEOUT);
    tickless_listener_close(l);
    EXPECT_EQ(tickless_listener_accept_stream(l, &s, 1000),
              TICKLESS_ERR_CLOSED);
    tickless_listener_free(l); // closes too
    tickless_listener_close(nullptr);
    tickless_listener_free(nullptr);
}

#else

TEST_P(QuicServer, ListenerNeedsOpenSsl35)
{
    tickless_listener *l = nullptr;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL *ssl = SSL_new(ctx);
    EXPECT_EQ(tickless_listener_new(ssl, pool_, &l), TICKLESS_ERR_UNSUPPORTED);
    EXPECT_EQ(l, nullptr);
    tickless_stream *s = reinterpret_cast<tickless_stream *>(1);
    EXPECT_EQ(tickless_listener_accept_stream(nullptr, &s, 0),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(s, nullptr);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
}

#endif

INSTANTIATE_TEST_SUITE_P(Assist, QuicServer, testing::Values(0, 2),
                         PoolThreadsName);
