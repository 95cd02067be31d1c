// The example QUIC echo server's service (examples/echo_service.c): a
// tickless listener and a few blocking workers, ticked in each mode,
// against 50 tickless clients that each echo 4 streams at once, and
// against aioquic clients that send on many more streams at once than
// there are workers, every byte checked; and its workers ending cleanly
// when it stops under load.
#include "harness.h"
#include "peer_process.h"

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

// Against peers tickless did not write (aioquic): like the other interop
// suites, not run under ThreadSanitizer (CMakePresets.json), whose threads'
// code paths are EchoService's own.
class EchoServiceInterop : public EchoService {};

std::string EchoModeName(const testing::TestParamInfo<Mode> &info)
{
    return ModeName(info.param);
}

#if TS_HAVE_ECHO_SERVICE
// The service as quic_echo_server runs it, with |workers| workers, on a
// listener with the test certificate, ticked in |mode| (quic_echo_server
// uses a pool of 2). *port is set.
echo_service *StartService(Mode mode, int workers, uint16_t *port,
                           int stall_ms = ECHO_SERVICE_STALL_MS)
{
    SSL *lst = NewQuicListenerSsl(port);
    if (lst == nullptr)
        return nullptr;
    echo_service *svc = nullptr;
    if (echo_service_start(lst, PoolFor(mode), workers, stall_ms, &svc) != 0)
        return nullptr; /* the service took the listener */
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
    uint16_t port = 0;
    echo_service *svc = StartService(GetParam(), 8, &port);
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

// aioquic clients (a QUIC stack that shares no code with OpenSSL) that
// send on many streams at once, each stream to its FIN before reading its
// echo, against fewer workers than streams: no stream may wait on another.
// |resets| streams of each connection are reset by the client half-way.
// The script checks every byte; it gives up after 60 s (a hang). Without
// aioquic it returns at once (NEED_PEER): its tests call it last.
void AioquicManyStreams(Mode mode, int workers, int connections, int streams,
                        size_t bytes, int resets)
{
    NEED_PEER(MissingPythonModule("aioquic", "python3-aioquic"));
    uint16_t port = 0;
    echo_service *svc = StartService(mode, workers, &port);
    ASSERT_NE(svc, nullptr);
    PemFiles pem;
    ASSERT_TRUE(pem.Make());
    PeerProcess cli;
    ASSERT_TRUE(cli.Start({ "python3", "-B",
                            InteropScript("aioquic_echo_client.py"),
                            std::to_string(port), pem.cert, "--bytes",
                            std::to_string(bytes), "--connections",
                            std::to_string(connections), "--streams",
                            std::to_string(streams), "--resets",
                            std::to_string(resets), "--alpn",
                            "tickless-test", "--timeout", "60" },
                          pem.dir))
        << cli.Error();
    std::string line;
    EXPECT_TRUE(cli.ReadLine(&line, 70000));
    EXPECT_EQ(cli.Wait(5000), 0) << cli.LogTail();
    uint64_t want = (uint64_t)connections * (uint64_t)(streams - resets)
                    * bytes;
    EXPECT_EQ(line, "ok: " + std::to_string(want) + " bytes echoed");
    echo_service_stats st;
    uint64_t t0 = ts_now_ns();
    do { // the last FINs may still be on their way to the service
        echo_service_get_stats(svc, &st);
        if (st.streams == (uint64_t)(connections * (streams - resets))
            && st.resets == (uint64_t)(connections * resets))
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    } while (ts_now_ns() - t0 < 10000000000ull);
    EXPECT_EQ(st.accepted, (uint64_t)(connections * streams));
    EXPECT_EQ(st.streams, (uint64_t)(connections * (streams - resets)));
    EXPECT_EQ(st.resets, (uint64_t)(connections * resets));
    echo_service_stop(svc);
}

// One connection, 32 streams of 1 MiB at once, a worker for each. (Seen:
// the service that gave each connection to one worker never answered 4
// streams of 512 KiB: the streams nobody read yet filled the connection's
// flow-control window. Fewer workers than that still stall it: see
// tickless_listener_accept_stream(), "Flow control".)
TEST_P(EchoServiceInterop, AioquicThirtyTwoStreamsAtOnceOnOneConnection)
{
    AioquicManyStreams(GetParam(), 32, 1, 32, 1u << 20, 0);
}

// 64 connections of 8 streams of 64 KiB at once, 2 of each reset
// half-way, 4 workers.
TEST_P(EchoServiceInterop, AioquicSixtyFourConnectionsEightStreamsSomeReset)
{
    AioquicManyStreams(GetParam(), 4, 64, 8, 64u << 10, 2);
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
    echo_service *svc = StartService(GetParam(), 4, &port, 2000);
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
    echo_service *svc = StartService(GetParam(), 4, &port);
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

INSTANTIATE_TEST_SUITE_P(Clients, EchoService,
                         testing::Values(Mode::Dedicated, Mode::Pool1,
                                         Mode::Pool2, Mode::AppDriven),
                         EchoModeName);
#if TS_HAVE_ECHO_SERVICE
INSTANTIATE_TEST_SUITE_P(Clients, EchoServiceInterop,
                         testing::Values(Mode::Dedicated, Mode::Pool1,
                                         Mode::Pool2, Mode::AppDriven),
                         EchoModeName);
#endif
