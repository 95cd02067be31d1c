// An application-driven pool (threads == 0) run by the application from
// its own epoll loop, which runs the pool only when the pool's descriptor
// is readable, so that every deadline, socket readiness and wake-up must
// show there (and nothing else may, or the loop spins). (The run call
// itself: PoolAppDrivenRun.)
#include "harness.h"

#include <chrono>
#include <iostream>
#include <thread>
#include <vector>

namespace {

// Polls |done| every millisecond for up to |ms|: whether it came true.
template <typename Pred> bool Eventually(Pred done, int ms = 5000)
{
    for (int waited = 0; !done(); waited++) {
        if (waited >= ms)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

} // namespace

class PoolAppDriven : public testing::TestWithParam<ts_proto> {};

TEST_P(PoolAppDriven, EchoWhileTheApplicationLoopRunsThePool)
{
    AssistWakesCallers loop_ticks; // what the loop does for blocked callers
    const ts_proto proto = GetParam();
    const size_t total = 256 << 10;
    const size_t chunk = 16 << 10; // ping-pong: DTLS has no flow control

    SKIP_UNLESS_AVAILABLE(proto);
    ServerPtr srv(StartServer(proto));
    ASSERT_NE(srv, nullptr);
    tickless_pool *pool = NewPool(0);
    ASSERT_NE(pool, nullptr);
    AppPoolLoop loop; // runs the pool only when its descriptor says so
    ASSERT_TRUE(loop.Start(pool));

    tickless_conn *c = NewClientOn(pool, proto, ts_server_port(srv.get()));
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(tickless_conn_handshake(c, kEchoTimeoutMs), 0);
    for (size_t off = 0; off < total; off += chunk)
        ASSERT_TRUE(EchoIntact(c, off, chunk));

    // Over loopback a DTLS/TLS caller often finds its echo already in the
    // socket and never sleeps, so the exchanges above may need no tick at
    // all. One that must: a reader asleep before the request goes out can
    // only be woken by the pool noticing the socket, i.e. by the loop.
    uint64_t ticked0 = loop.ticked();
    std::vector<uint8_t> in(chunk), out(chunk);
    ts_fill_pattern(out.data(), chunk, total);
    int read_rc = -100;
    double read_ms = 0;
    std::thread reader([&] {
        uint64_t t0 = ts_now_ns();
        read_rc = ReadExactly(c, in.data(), chunk, kEchoTimeoutMs);
        read_ms = MsSince(t0);
    });
    ts_sleep_ms(100); // the reader is asleep by now
    size_t n = 0;
    EXPECT_EQ(tickless_conn_write(c, out.data(), chunk, &n, kEchoTimeoutMs), 0);
    reader.join();
    ASSERT_EQ(read_rc, 0) << tickless_err_name(read_rc);
    EXPECT_EQ(ts_check_pattern(in.data(), chunk, total), chunk);
    EXPECT_LT(read_ms, kStallMs) << "the reader slept through its echo";
    EXPECT_EQ(ts_server_bytes_received(srv.get()), total + chunk);

    // The tick wakes the reader before tickless_pool_run() returns and the
    // loop counts it: give the loop a moment to finish its iteration.
    EXPECT_TRUE(Eventually([&] { return loop.ticked() > ticked0; }))
        << "the application's loop woke the blocked reader";

    struct tickless_pool_stats st = PoolStats(pool);
    EXPECT_EQ(st.threads, 0u);
    EXPECT_EQ(st.connections, 1u);
    EXPECT_GT(st.ticks, 0u);
    EXPECT_EQ(st.cpu_ns, 0u) << "no threads of its own";

    // Idle with the echo done: the descriptor must not stay readable, or
    // the application's loop spins. Over one second, a live connection
    // needs a few ticks at most (ACKs, a keep-alive); a spin makes
    // hundreds of thousands.
    uint64_t runs0 = loop.runs();
    ts_sleep_ms(1000);
    uint64_t idle_runs = loop.runs() - runs0;
    std::cout << "[ idle     ] " << idle_runs << " loop wake-ups in 1 s idle\n";
    EXPECT_LT(idle_runs, 200u) << "the pool descriptor stays readable";

    tickless_conn_close(c);
    EXPECT_EQ(PoolStats(pool).connections, 0u);
    loop.Stop();
    EXPECT_EQ(loop.errors(), 0);
    EXPECT_EQ(tickless_pool_free(pool), 0);
}

INSTANTIATE_TEST_SUITE_P(Protos, PoolAppDriven, EveryProto(), ProtoParamName);
