// The example QUIC echo server's service (examples/echo_service.c) against
// aioquic clients (a QUIC stack that shares no code with OpenSSL) that send
// on many more streams at once than there are workers, every byte checked
// by the client, in each mode. Like the other interop suites, not run under
// ThreadSanitizer (CMakePresets.json), whose threads' code paths are
// EchoService's own.
#include "harness.h"
#include "peer_process.h"

#include <chrono>
#include <string>
#include <thread>

#if TS_HAVE_ECHO_SERVICE

namespace {

class EchoServiceInterop : public testing::TestWithParam<Mode> {
protected:
    void SetUp() override { SKIP_UNLESS_AVAILABLE(TS_QUIC); }
};

// aioquic clients (a QUIC stack that shares no code with OpenSSL) that
// send on many streams at once, each stream to its FIN before reading its
// echo, against fewer workers than streams: no stream may wait on another.
// |resets| streams of each connection are reset by the client half-way.
// The script checks every byte; it gives up after 150 s, a hang. (The
// bound is for hangs, not speed: alone the heaviest case takes 6-7 s,
// 12-25 s beside ctest -j4 on 2 cores, and once took over 60 s beside a
// second ctest run.) Without aioquic it returns at once (NEED_PEER): its
// tests call it last.
void AioquicManyStreams(Mode mode, int workers, int connections, int streams,
                        size_t bytes, int resets)
{
    NEED_PEER(MissingPythonModule("aioquic", "python3-aioquic"));
    uint16_t port = 0;
    echo_service *svc = StartEchoService(mode, workers, &port);
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
                            "tickless-test", "--timeout", "150" },
                          pem.dir))
        << cli.Error();
    std::string line;
    EXPECT_TRUE(cli.ReadLine(&line, 160000));
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

} // namespace

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

INSTANTIATE_TEST_SUITE_P(Clients, EchoServiceInterop, EveryMode(),
                         ModeParamName);

#endif
