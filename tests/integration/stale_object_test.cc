// A handle used after it was given back, or handed where it does not
// belong, is reported, not followed: a stale pointer in an application
// must not become a use-after-free in the library.
//
// A closed stream or listener and a freed pool are refused with
// TICKLESS_ERR_INVALID and a log line naming the call, for as long as
// their memory waits in the quarantine (src/base/handle.h). Under ASan
// these tests also prove that refusing reads no freed memory. So is a
// handle of the wrong kind, and a QUIC connection accepted from a listener
// handed to tickless_conn_new() (it must come from
// tickless_listener_accept(), on the listener's own assist). (A closed
// connection, in every mode and protocol: StaleHandle.)
#include "harness.h"

#include <atomic>
#include <string>
#include <thread>

namespace {

// Each test collects the log's refusals.
class StaleObject : public testing::Test {
protected:
    RefusalLog log_;
};

TEST_F(StaleObject, PoolUsedAfterFreeIsRefused)
{
    tickless_pool_options o;
    tickless_pool_options_defaults(&o);
    o.threads = 0; // application-driven: every pool call applies
    tickless_pool *pool = nullptr;
    ASSERT_EQ(tickless_pool_new(&o, &pool), 0);
    ASSERT_EQ(tickless_pool_free(pool), 0);

    struct tickless_pool_stats st;
    st.size = sizeof(st);
    EXPECT_EQ(tickless_pool_stats(pool, &st), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_pool_stats_reset(pool), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_pool_fd(pool), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_pool_run(pool, 0), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_pool_free(pool), TICKLESS_ERR_INVALID);
    EXPECT_TRUE(log_.Has("tickless_pool_free", "already closed or freed"));

    // A connection handed to the freed pool is refused, and its SSL object
    // stays the caller's, untouched.
    ts_server *srv = StartServer(TS_DTLS);
    ASSERT_NE(srv, nullptr);
    tickless_conn *c = NewClientOn(nullptr, TS_DTLS, ts_server_port(srv));
    ASSERT_NE(c, nullptr);
    SSL *ssl = tickless_conn_lock(c);
    ASSERT_NE(ssl, nullptr);
    tickless_conn *again = nullptr;
    // Refused for the dead pool before anything else is looked at (the
    // SSL object also belongs to |c|, which would be BUSY).
    EXPECT_EQ(tickless_conn_new(ssl, pool, &again), TICKLESS_ERR_INVALID);
    EXPECT_EQ(again, nullptr);
    EXPECT_TRUE(log_.Has("tickless_conn_new", "pool"));
    tickless_conn_unlock(c);
    EXPECT_EQ(WritePattern(c, 0, 100, 10000), 0);
    EXPECT_EQ(ReadPattern(c, 0, 100, 10000), 0);
    tickless_conn_close(c);
    ts_server_stop(srv);
}

TEST_F(StaleObject, HandleOfTheWrongKindIsRefused)
{
    tickless_pool *pool = nullptr;
    ASSERT_EQ(tickless_pool_new(nullptr, &pool), 0);
    // A pool passed where a connection belongs (a C cast, or a mixed-up
    // void pointer in the application).
    tickless_conn *not_conn = reinterpret_cast<tickless_conn *>(pool);
    char buf[8];
    size_t n = 0;
    EXPECT_EQ(tickless_conn_read(not_conn, buf, sizeof(buf), &n, 0),
              TICKLESS_ERR_INVALID);
    tickless_conn_close(not_conn); // refused: the pool lives on
    EXPECT_TRUE(log_.Has("tickless_conn_read", "given a pool, not a connection"));
    struct tickless_pool_stats st;
    st.size = sizeof(st);
    EXPECT_EQ(tickless_pool_stats(pool, &st), 0);
    EXPECT_EQ(tickless_pool_free(pool), 0);

    // Once freed, it is reported as a closed pool, still not a connection.
    EXPECT_EQ(tickless_conn_handshake(not_conn, 0), TICKLESS_ERR_INVALID);
    EXPECT_TRUE(log_.Has("tickless_conn_handshake", "closed pool"));
}

#if TS_HAVE_QUIC
TEST_F(StaleObject, StreamUsedAfterCloseIsRefused)
{
    SKIP_UNLESS_AVAILABLE(TS_QUIC);
    uint16_t port = 0;
    SSL *lst = NewQuicListenerSsl(&port);
    ASSERT_NE(lst, nullptr);
    tickless_listener *l = nullptr;
    ASSERT_EQ(tickless_listener_new(lst, nullptr, &l), 0);
    std::thread server([l] {
        tickless_conn *sc = nullptr;
        if (tickless_listener_accept(l, &sc, 10000) != 0)
            return;
        // Echoes each stream until the client closes the connection.
        tickless_stream *ss = nullptr;
        char b[64];
        size_t n = 0, w = 0;
        while (tickless_stream_accept(sc, &ss, 10000) == 0) {
            while (tickless_stream_read(ss, b, sizeof(b), &n, 10000) == 0)
                (void)tickless_stream_write(ss, b, n, &w, 10000);
            (void)tickless_stream_conclude(ss);
            tickless_stream_close(ss);
        }
        (void)tickless_conn_shutdown(sc, 2000);
        tickless_conn_close(sc);
    });
    tickless_conn *c = NewClient(Mode::Dedicated, TS_QUIC, port);
    ASSERT_NE(c, nullptr);
    tickless_stream *s = nullptr;
    ASSERT_EQ(tickless_stream_open(c, 0, &s, 10000), 0);
    size_t n = 0;
    char b[4];
    ASSERT_EQ(tickless_stream_write(s, "ping", 4, &n, 10000), 0);
    ASSERT_EQ(tickless_stream_conclude(s), 0);
    ASSERT_EQ(tickless_stream_read(s, b, sizeof(b), &n, 10000), 0);
    tickless_stream_close(s);

    EXPECT_EQ(tickless_stream_read(s, b, sizeof(b), &n, 0),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_stream_write(s, "x", 1, &n, 0), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_stream_conclude(s), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_stream_reset(s, 1), TICKLESS_ERR_INVALID);
    uint64_t code = 7;
    EXPECT_EQ(tickless_stream_peer_error(s, &code), TICKLESS_ERR_INVALID);
    EXPECT_EQ(code, 0u);
    EXPECT_EQ(tickless_stream_id(s), UINT64_MAX);
    tickless_stream_close(s); // a second close: refused
    EXPECT_TRUE(log_.Has("tickless_stream_close", "stream was already closed"));

    // The connection is unharmed by all that.
    tickless_stream *s2 = nullptr;
    ASSERT_EQ(tickless_stream_open(c, 0, &s2, 10000), 0);
    ASSERT_EQ(tickless_stream_write(s2, "pong", 4, &n, 10000), 0);
    ASSERT_EQ(tickless_stream_conclude(s2), 0);
    ASSERT_EQ(tickless_stream_read(s2, b, sizeof(b), &n, 10000), 0);
    EXPECT_EQ(std::string(b, n), std::string("pong").substr(0, n));
    tickless_stream_close(s2);
    (void)tickless_conn_shutdown(c, 2000);
    tickless_conn_close(c);
    server.join();
    tickless_listener_free(l);
    EXPECT_EQ(tickless_listener_accept(l, nullptr, 0), TICKLESS_ERR_INVALID);
    tickless_conn *acc = nullptr;
    EXPECT_EQ(tickless_listener_accept(l, &acc, 0), TICKLESS_ERR_INVALID);
    tickless_stream *acc_s = nullptr;
    EXPECT_EQ(tickless_listener_accept_stream(l, &acc_s, 0),
              TICKLESS_ERR_INVALID);
    tickless_listener_close(l); // refused
    tickless_listener_free(l);  // refused: not a double free
    EXPECT_TRUE(log_.Has("tickless_listener_free", "listener was already"));
}

// A connection accepted from a QUIC listener shares the listener's socket
// and engine: wrapped on its own (on any pool, or a dedicated thread) it
// would be a second reactor on that socket. tickless_conn_new() refuses it;
// such connections come from tickless_listener_accept().
TEST_F(StaleObject, AcceptedQuicConnectionIsNotAConnectionOfItsOwn)
{
    SKIP_UNLESS_AVAILABLE(TS_QUIC);
    uint16_t port = 0;
    SSL *lst = NewQuicListenerSsl(&port);
    ASSERT_NE(lst, nullptr);
    ASSERT_EQ(SSL_listen(lst), 1);
    tickless_conn *client = NewClient(Mode::Dedicated, TS_QUIC, port);
    ASSERT_NE(client, nullptr);
    std::atomic<bool> hs_done{false};
    std::thread hs([client, &hs_done] {
        (void)tickless_conn_handshake(client, 5000);
        hs_done = true;
    });

    // The application's own listener loop: it ticks the listener until a
    // connection arrives and the client's handshake is over.
    SSL *accepted = nullptr;
    uint64_t t0 = ts_now_ns();
    while ((accepted == nullptr || !hs_done)
           && ts_now_ns() - t0 < 10000000000ull) {
        (void)SSL_handle_events(lst);
        if (accepted == nullptr)
            accepted = SSL_accept_connection(lst,
                                             SSL_ACCEPT_CONNECTION_NO_BLOCK);
        ts_sleep_ms(2);
    }
    hs.join();
    ASSERT_NE(accepted, nullptr);
    tickless_pool *pool = PoolFor(Mode::Pool1);
    tickless_conn *c = nullptr;
    EXPECT_EQ(tickless_conn_new(accepted, pool, &c), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_conn_new(accepted, nullptr, &c), TICKLESS_ERR_INVALID);
    EXPECT_EQ(c, nullptr);
    EXPECT_TRUE(log_.Has("tickless_conn_new", "tickless_listener_accept"));
    // Still the caller's: it can be used and freed as before.
    EXPECT_EQ(SSL_is_connection(accepted), 1);
    SSL_free(accepted);
    tickless_conn_close(client);
    SSL_free(lst);
}
#endif

} // namespace
