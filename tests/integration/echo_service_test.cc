// The example QUIC echo server's service (examples/echo_service.c): a
// tickless listener, a pool of 2 assist threads and 8 blocking workers,
// against 50 tickless clients that each echo 4 streams at once, every byte
// checked; and its workers ending cleanly when it stops under load.
#include "harness.h"

#include <sys/socket.h>

#include <atomic>
#include <thread>
#include <vector>

extern "C" {
#include "ts_net.h"
#if TS_HAVE_ECHO_SERVICE
#include "echo_service.h"
#endif
}

namespace {

class EchoService : public testing::TestWithParam<Mode> {
protected:
    void SetUp() override { SKIP_UNLESS_AVAILABLE(TS_QUIC); }
};

std::string EchoModeName(const testing::TestParamInfo<Mode> &info)
{
    return ModeName(info.param);
}

#if TS_HAVE_ECHO_SERVICE
// The service as quic_echo_server runs it: a pool of 2, |workers| workers,
// on a listener with the test certificate. *port is set.
echo_service *StartService(tickless_pool **pool, int workers, uint16_t *port)
{
    tickless_pool_options o;
    tickless_pool_options_defaults(&o);
    o.threads = 2;
    if (tickless_pool_new(&o, pool) != 0)
        return nullptr;
    SSL *lst = NewQuicListenerSsl(port);
    if (lst == nullptr) {
        tickless_pool_free(*pool);
        return nullptr;
    }
    echo_service *svc = nullptr;
    if (echo_service_start(lst, *pool, workers, &svc) != 0) {
        tickless_pool_free(*pool); /* the service took the listener */
        return nullptr;
    }
    return svc;
}

// One stream: |len| pattern bytes at |off| in 4 KiB requests, each echo
// read back and checked, then FIN both ways. 0 or the failing code (-100:
// the echo differed).
int EchoOneStream(tickless_conn *c, uint64_t off, size_t len)
{
    tickless_stream *s = nullptr;
    int rc = tickless_stream_open(c, 0, &s, 30000);
    if (rc != 0)
        return rc;
    std::vector<uint8_t> out(4096), in(4096);
    for (size_t done = 0; rc == 0 && done < len;) {
        size_t chunk = std::min(out.size(), len - done), n = 0;
        ts_fill_pattern(out.data(), chunk, off + done);
        rc = tickless_stream_write(s, out.data(), chunk, &n, 30000);
        if (rc == 0)
            rc = ReadExactly(s, in.data(), chunk, 30000);
        if (rc == 0 && ts_check_pattern(in.data(), chunk, off + done) != chunk)
            rc = -100;
        done += chunk;
    }
    if (rc == 0)
        rc = tickless_stream_conclude(s);
    if (rc == 0) {
        size_t n = 0;
        rc = tickless_stream_read(s, in.data(), 1, &n, 30000);
        rc = rc == TICKLESS_ERR_EOF ? 0 : rc == 0 ? -101 : rc;
    }
    tickless_stream_close(s);
    return rc;
}
#endif

} // namespace

#if TS_HAVE_ECHO_SERVICE

TEST_P(EchoService, FiftyClientsFourStreamsEach)
{
    tickless_pool *pool = nullptr;
    uint16_t port = 0;
    echo_service *svc = StartService(&pool, 8, &port);
    ASSERT_NE(svc, nullptr);

    const int kClients = 50, kStreams = 4;
    std::atomic<int> streams_ok{0}, clients_ok{0};
    std::vector<std::thread> clients;
    for (int i = 0; i < kClients; i++)
        clients.emplace_back([&, i] {
            tickless_conn *c = NewClient(GetParam(), TS_QUIC, port);
            if (c == nullptr)
                return;
            int hs = tickless_conn_handshake(c, 30000);
            EXPECT_EQ(hs, 0) << tickless_err_name(hs);
            std::vector<std::thread> streams;
            std::atomic<int> ok{0};
            for (int k = 0; hs == 0 && k < kStreams; k++)
                streams.emplace_back([&, k] {
                    size_t len = 10000 + 1013 * (size_t)(i * kStreams + k);
                    int rc = EchoOneStream(c, 1000000ull * (uint64_t)(i * 8 + k),
                                           len);
                    EXPECT_EQ(rc, 0) << "client " << i << " stream " << k
                                     << ": " << tickless_err_name(rc);
                    if (rc == 0)
                        ok++;
                });
            for (auto &t : streams)
                t.join();
            streams_ok += ok;
            if (ok == kStreams)
                clients_ok++;
            // The closing period is 3 PTOs, and a PTO grows with the RTT
            // samples, which 250 threads under a sanitizer stretch: a
            // generous bound.
            EXPECT_EQ(tickless_conn_shutdown(c, 30000), 0);
            tickless_conn_close(c);
        });
    for (auto &t : clients)
        t.join();
    EXPECT_EQ(clients_ok.load(), kClients);
    EXPECT_EQ(streams_ok.load(), kClients * kStreams);

    // The service saw every connection and stream end cleanly. The last
    // connections' workers may still be seeing the clients' close.
    echo_service_stats st;
    uint64_t t0 = ts_now_ns();
    do {
        echo_service_get_stats(svc, &st);
        if (st.streams == (uint64_t)(kClients * kStreams))
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    } while (ts_now_ns() - t0 < 10000000000ull);
    EXPECT_EQ(st.connections, (uint64_t)kClients);
    EXPECT_EQ(st.streams, (uint64_t)(kClients * kStreams));
    EXPECT_EQ(st.resets, 0u);
    echo_service_stop(svc);
    EXPECT_EQ(tickless_pool_free(pool), 0);
}

// Stopping the service while clients are mid-stream: every worker returns
// (stop would hang otherwise), and each client promptly sees its
// connection end with an error, never a hang or a wrong byte.
TEST_P(EchoService, StopsUnderLoad)
{
    tickless_pool *pool = nullptr;
    uint16_t port = 0;
    echo_service *svc = StartService(&pool, 4, &port);
    ASSERT_NE(svc, nullptr);

    std::atomic<int> started{0};
    std::vector<uint64_t> ended_at(6, 0);
    std::vector<std::thread> clients;
    for (int i = 0; i < 6; i++)
        clients.emplace_back([&, i] {
            tickless_conn *c = NewClient(GetParam(), TS_QUIC, port);
            if (c == nullptr)
                return;
            int rc = tickless_conn_handshake(c, 30000);
            started++;
            uint64_t off = 0;
            while (rc == 0) {
                rc = EchoOneStream(c, off, 20000);
                off += 20000;
            }
            // Ended by the stop, promptly (the server said goodbye: no
            // waiting for the idle timeout), never with a corrupted echo.
            EXPECT_NE(rc, 0);
            EXPECT_NE(rc, -100);
            EXPECT_NE(rc, -101);
            ended_at[i] = ts_now_ns();
            tickless_conn_close(c);
        });
    while (started < 6)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    uint64_t t0 = ts_now_ns();
    echo_service_stop(svc);
    EXPECT_LT((ts_now_ns() - t0) / 1e9, 10.0);
    for (auto &t : clients)
        t.join();
    for (uint64_t end : ended_at)
        EXPECT_LT((end - t0) / 1e9, 5.0); // the idle timeout is 30 s
    EXPECT_EQ(tickless_pool_free(pool), 0);
}

#else

TEST_P(EchoService, NeedsQuicServer)
{
    GTEST_SKIP() << "the echo service needs OpenSSL >= 3.5 (QUIC listener)";
}

#endif

INSTANTIATE_TEST_SUITE_P(Clients, EchoService,
                         testing::Values(Mode::Dedicated, Mode::Pool1,
                                         Mode::Pool2, Mode::AppDriven),
                         EchoModeName);
