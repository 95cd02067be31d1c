// The example QUIC echo server's service (examples/echo_service.c): a
// tickless listener and a few blocking workers, ticked in each mode,
// against 50 tickless clients that each echo 4 streams at once, and
// against 200 clients beside a slow one, every byte checked; and its
// workers ending cleanly when it stops under load. (Against aioquic
// clients: EchoServiceInterop.)
#include "harness.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace {

class EchoService : public testing::TestWithParam<Mode> {
protected:
    void SetUp() override { SKIP_UNLESS_AVAILABLE(TS_QUIC); }
};

#if TS_HAVE_ECHO_SERVICE
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
    uint16_t port = 0;
    echo_service *svc = StartEchoService(GetParam(), 8, &port);
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
    EXPECT_EQ(st.accepted, (uint64_t)(kClients * kStreams));
    EXPECT_EQ(st.streams, (uint64_t)(kClients * kStreams));
    EXPECT_EQ(st.resets, 0u);
    echo_service_stop(svc);
}

// Writes |kStreams| streams of |len| bytes on |c| at once, then reads
// every echo back; how many came back exact.
int EchoStreamsAtOnce(tickless_conn *c, int nstreams, size_t len,
                      uint64_t off)
{
    std::vector<tickless_stream *> s(nstreams, nullptr);
    std::vector<uint8_t> buf(len);
    int ok = 0;
    for (int k = 0; k < nstreams; k++) {
        size_t n = 0;
        ts_fill_pattern(buf.data(), len, off + k * len);
        if (tickless_stream_open(c, 0, &s[k], 30000) != 0
            || tickless_stream_write(s[k], buf.data(), len, &n, 30000) != 0
            || tickless_stream_conclude(s[k]) != 0)
            continue;
    }
    for (int k = 0; k < nstreams; k++) {
        size_t n = 0;
        if (s[k] != nullptr && ReadExactly(s[k], buf.data(), len, 60000) == 0
            && ts_check_pattern(buf.data(), len, off + k * len) == len
            && tickless_stream_read(s[k], buf.data(), 1, &n, 30000)
                   == TICKLESS_ERR_EOF)
            ok++;
        tickless_stream_close(s[k]);
    }
    return ok;
}

// 4 workers, 200 connections of 4 streams at once, and among them a slow
// client whose 4 streams send 2 MiB each and never read their echo. Its
// streams come first and may each hold a worker until the service gives up
// on them (its stall timeout, 2 s here): a blocking worker is the client's
// for that long. The others wait, are never lost, and are echoed exact.
TEST_P(EchoService, FourWorkersServeTwoHundredClientsBesideASlowOne)
{
    uint16_t port = 0;
    echo_service *svc = StartEchoService(GetParam(), 4, &port, 2000);
    ASSERT_NE(svc, nullptr);
    const int kThreads = 20, kConnsEach = 10, kStreams = 4;
    const size_t kLen = 8000;

    tickless_conn *slow = NewClient(GetParam(), TS_QUIC, port);
    ASSERT_NE(slow, nullptr);
    std::vector<std::thread> slow_writers;
    std::vector<uint8_t> big(2u << 20);
    for (int k = 0; k < kStreams; k++)
        slow_writers.emplace_back([&] {
            tickless_stream *s = nullptr;
            size_t n = 0;
            if (tickless_stream_open(slow, 0, &s, 30000) != 0)
                return;
            (void)tickless_stream_write(s, big.data(), big.size(), &n, 60000);
            tickless_stream_close(s);
        });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));

    std::atomic<int> echoed{0};
    std::vector<std::thread> clients;
    for (int t = 0; t < kThreads; t++)
        clients.emplace_back([&, t] {
            std::vector<tickless_conn *> conns;
            for (int i = 0; i < kConnsEach; i++) {
                tickless_conn *c = NewClient(GetParam(), TS_QUIC, port);
                if (c != nullptr)
                    conns.push_back(c);
            }
            for (size_t i = 0; i < conns.size(); i++)
                echoed += EchoStreamsAtOnce(
                    conns[i], kStreams, kLen,
                    (uint64_t)(t * kConnsEach + (int)i) * kStreams * kLen);
            for (tickless_conn *c : conns)
                tickless_conn_close(c);
        });
    for (auto &t : clients)
        t.join();
    EXPECT_EQ(echoed.load(), kThreads * kConnsEach * kStreams);
    tickless_conn_close(slow); // its writers return TICKLESS_ERR_CLOSED
    for (auto &t : slow_writers)
        t.join();
    echo_service_stop(svc);
}

// Stopping the service while clients are mid-stream: every worker returns
// (stop would hang otherwise), and each client promptly sees its
// connection end with an error, never a hang or a wrong byte.
TEST_P(EchoService, StopsUnderLoad)
{
    uint16_t port = 0;
    echo_service *svc = StartEchoService(GetParam(), 4, &port);
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
}

#else

TEST_P(EchoService, NeedsQuicServer)
{
    GTEST_SKIP() << "the echo service needs OpenSSL >= 3.5 (QUIC listener)";
}

#endif

INSTANTIATE_TEST_SUITE_P(Clients, EchoService, EveryMode(), ModeParamName);
