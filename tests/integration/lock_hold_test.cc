// An application that holds a connection through tickless_conn_lock() for a
// long time must not stall the other connections of its pool: the one pool
// thread defers the held connection instead of waiting for its mutex, and
// picks it up again on tickless_conn_unlock().
#include "harness.h"

#include <atomic>
#include <future>
#include <thread>

class LockHeld : public testing::TestWithParam<Variant> {};

TEST_P(LockHeld, OtherConnectionsOfThePoolKeepGoing)
{
    const Variant v = GetParam();
    SKIP_UNLESS_AVAILABLE(v.proto);
    ts_server *srv = StartServer(v.proto);
    ASSERT_NE(srv, nullptr);
    tickless_pool_options o;
    tickless_pool_options_defaults(&o);
    o.threads = 1; // one thread: waiting for the held mutex would stall all
    tickless_pool *pool = nullptr;
    if (v.mode == Mode::Pool1) {
        ASSERT_EQ(tickless_pool_new(&o, &pool), 0);
    }
    tickless_pool *p = pool != nullptr ? pool : PoolFor(v.mode);
    tickless_conn *held = NewClientOn(p, v.proto, ts_server_port(srv));
    tickless_conn *other = NewClientOn(p, v.proto, ts_server_port(srv));
    ASSERT_NE(held, nullptr);
    ASSERT_NE(other, nullptr);
    ASSERT_EQ(tickless_conn_handshake(held, 10000), 0);
    ASSERT_EQ(tickless_conn_handshake(other, 10000), 0);

    // Every caller below sleeps until the pool thread wakes it: a caller
    // that polled its own socket would get its bytes with the pool stalled.
    AssistWakesCallers assist_wakes_callers;
    // A reader asleep on |held|, for which the pool watches its socket.
    auto held_reader = std::async(std::launch::async, [held] {
        return ReadPattern(held, 0, 1000, 10000);
    });
    ts_sleep_ms(100); // to let it fall asleep; if late, it reads later

    SSL *ssl = tickless_conn_lock(held);
    ASSERT_NE(ssl, nullptr);
    // Written through the lock, so that the echo comes back while |held|
    // is held: readiness the pool sees at once.
    uint8_t msg[1000];
    size_t written = 0;
    ts_fill_pattern(msg, sizeof(msg), 0);
    EXPECT_EQ(SSL_write_ex(ssl, msg, sizeof(msg), &written), 1);
    EXPECT_EQ(written, sizeof(msg));

    // Two seconds (scaled) of echoes on the other connection meanwhile. A
    // pool thread that waited for the held mutex would stall the first of
    // them until the unlock, for nearly the whole hold.
    const double hold_ms = 2000.0 * TimeScale();
    uint64_t t_end = ts_now_ns() + (uint64_t)(hold_ms * 1e6);
    uint64_t off = 0;
    double worst_ms = 0;
    int echoes = 0;
    while (ts_now_ns() < t_end) {
        uint64_t t0 = ts_now_ns();
        ASSERT_EQ(WritePattern(other, off, 512, 10000), 0);
        ASSERT_EQ(ReadPattern(other, off, 512, 10000), 0);
        double ms = (ts_now_ns() - t0) / 1e6;
        worst_ms = ms > worst_ms ? ms : worst_ms;
        off += 512;
        echoes++;
    }
    tickless_conn_unlock(held);
    EXPECT_GT(echoes, 10);
    EXPECT_LT(worst_ms, hold_ms / 2)
        << "an echo waited for the held connection (held " << hold_ms
        << " ms)";

    // The held connection was deferred, not forgotten: its reader gets
    // the echo.
    EXPECT_EQ(held_reader.get(), 0);
    EXPECT_EQ(WritePattern(held, 1000, 1000, 10000), 0);
    EXPECT_EQ(ReadPattern(held, 1000, 1000, 10000), 0);
    tickless_conn_close(held);
    tickless_conn_close(other);
    if (pool != nullptr) {
        EXPECT_EQ(tickless_pool_free(pool), 0);
    }
    ts_server_stop(srv);
}

// Pool1 (a pool of its own, one thread) and AppDriven (the harness's
// application-driven pool, one shard run by one loop).
INSTANTIATE_TEST_SUITE_P(
    OneThread, LockHeld,
    testing::ValuesIn(VariantList({ Mode::Pool1, Mode::AppDriven })),
    VariantName);
