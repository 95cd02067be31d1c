// Many application threads, many connections, one small pool: 8 threads
// do blocking request/response rounds on 200 connections that a pool of 2
// threads ticks, and every echo must come back intact and in time (a
// missed wake-up shows as a stall, see kStallMs).
#include "harness.h"

#include <atomic>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

class PoolWorkers : public testing::TestWithParam<ts_proto> {};

// 8 application threads each own 25 connections (200 in all, to one echo
// server) and do blocking request/response rounds on them; one pool of 2
// threads ticks all 200.
TEST_P(PoolWorkers, EightThreadsShareTwoHundredConnectionsOnTwoPoolThreads)
{
    const ts_proto proto = GetParam();
    const unsigned kThreads = 8;
    const size_t kPerThread = 25;
    const unsigned kRounds = 6;
    const size_t kRequest = 512;

    SKIP_UNLESS_AVAILABLE(proto);
    RaiseFdLimit();
    ServerPtr srv(StartServer(proto));
    ASSERT_NE(srv, nullptr);
    const uint16_t port = ts_server_port(srv.get());
    tickless_pool *pool = NewPool(2);
    ASSERT_NE(pool, nullptr);

    std::vector<tickless_conn *> conns(kThreads * kPerThread, nullptr);
    std::atomic<uint64_t> checked{ 0 }, failures{ 0 };
    std::atomic<uint64_t> slowest_hs_us{ 0 }, slowest_echo_us{ 0 };
    auto note_time = [](std::atomic<uint64_t> &slowest, double ms) {
        uint64_t us = (uint64_t)(ms * 1000), cur = slowest.load();
        while (us > cur && !slowest.compare_exchange_weak(cur, us)) {
        }
    };
    std::mutex err_mu;
    std::string first_error;
    auto note = [&](const std::string &what) {
        failures.fetch_add(1);
        std::lock_guard<std::mutex> lock(err_mu);
        if (first_error.empty())
            first_error = what;
    };

    uint64_t t0 = ts_now_ns();
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < kThreads; t++) {
        threads.emplace_back([&, t] {
            tickless_conn **mine = &conns[t * kPerThread];

            for (size_t i = 0; i < kPerThread; i++) {
                // The fast DTLS timer: a handshake datagram that the test
                // server drops while it hands a new client its own socket
                // is resent in 50 ms, not 1 s.
                mine[i] = NewClientOn(pool, proto, port, ts_dtls_fast_timer);
                if (mine[i] == nullptr) {
                    note("NewClientOn failed");
                    continue;
                }
                uint64_t t0 = ts_now_ns();
                int rc = tickless_conn_handshake(mine[i], kEchoTimeoutMs);
                double ms = MsSince(t0);
                note_time(slowest_hs_us, ms);
                if (rc != 0 || ms >= kStallMs) {
                    std::ostringstream os;
                    os << "thread " << t << " conn " << i << " handshake: "
                       << tickless_err_name(rc) << " after " << ms << " ms";
                    note(os.str());
                }
            }
            for (unsigned r = 0; r < kRounds; r++) {
                for (size_t i = 0; i < kPerThread; i++) {
                    if (mine[i] == nullptr)
                        continue;
                    EchoResult e = EchoChecked(mine[i], (uint64_t)r * kRequest,
                                               kRequest);
                    note_time(slowest_echo_us, e.ms);
                    if (e.ok()) {
                        checked.fetch_add(1);
                        continue;
                    }
                    std::ostringstream os;
                    os << "thread " << t << " conn " << i << " round " << r
                       << ": " << e.Describe();
                    note(os.str());
                }
            }
        });
    }
    for (auto &t : threads)
        t.join();
    double secs = MsSince(t0) / 1000;

    struct tickless_pool_stats st = PoolStats(pool);
    std::cout << "[ workers  ] " << checked.load() << " echoes checked in "
              << secs << " s (slowest handshake "
              << slowest_hs_us.load() / 1000 << " ms, slowest echo "
              << slowest_echo_us.load() / 1000 << " ms); pool ticks "
              << st.ticks << ", cpu " << st.cpu_ns / 1000000 << " ms\n";
    EXPECT_EQ(failures.load(), 0u) << "first: " << first_error;
    EXPECT_EQ(checked.load(), (uint64_t)kThreads * kPerThread * kRounds);
    EXPECT_EQ(st.connections, (uint64_t)kThreads * kPerThread);
    EXPECT_EQ(st.threads, 2u);
    // Blocked callers poll their own sockets (self_poll.h): the pool's
    // threads tick timers and whatever arrives while nobody waits, which
    // for DTLS/TLS over loopback, handshakes done by their callers, may be
    // nothing at all. QUIC always has timers (ACKs, loss detection).
    if (GetParam() == TS_QUIC) {
        EXPECT_GT(st.ticks, 0u);
    }

    for (tickless_conn *c : conns)
        tickless_conn_close(c);
    EXPECT_EQ(PoolStats(pool).connections, 0u);
    EXPECT_EQ(tickless_pool_free(pool), 0);
}

INSTANTIATE_TEST_SUITE_P(Protos, PoolWorkers,
                         testing::Values(TS_QUIC, TS_DTLS, TS_TLS),
                         ProtoParamName);
