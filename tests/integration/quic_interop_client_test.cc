// tickless as a QUIC client against servers built on aioquic, a QUIC stack
// that shares no code with OpenSSL (Debian's python3-aioquic), in every
// assist mode:
//  - tests/interop/aioquic_echo_server.py, ALPN "echo": 1 MiB each way on
//    the default stream, written and read at once, every byte checked, then
//    our FIN answered by the server's; and 32 streams of 1 MiB at once on
//    one connection (the streams API), each written whole, concluded and
//    its echo read to the server's FIN;
//  - aioquic's own example server, http3_server.py (python-aioquic-doc),
//    over hq-interop (HTTP/0.9: "GET /path\r\n" on a bidirectional stream,
//    the body back, then FIN): a 1 MiB response on the default stream,
//    then four at once on four streams of one connection (the streams
//    API), served by tests/interop/hq_pattern_app.py and checked byte for
//    byte. (The example's own demo application: QuicInteropHttp3Demo.)
// The certificate is the process's generated one (ts_certs), which the
// tickless client verifies for "localhost".
#include "aioquic_http3_server.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

namespace {

const size_t kTotal = 1 << 20;

const char kEcho[] = "\x04"
                     "echo";

class QuicInteropClient : public testing::TestWithParam<Mode> {
protected:
    void SetUp() override
    {
        SKIP_UNLESS_AVAILABLE(TS_QUIC);
        ASSERT_TRUE(pem_.Make());
    }

    // Starts tests/interop/aioquic_echo_server.py (srv_) and returns a
    // client of it in the test's mode, handshaken; nullptr, with a test
    // failure added, if either fails.
    tickless_conn *ConnectToEchoServer()
    {
        if (!srv_.Start({ "python3", "-B",
                          InteropScript("aioquic_echo_server.py"), pem_.cert,
                          pem_.key },
                        pem_.dir)) {
            ADD_FAILURE() << srv_.Error();
            return nullptr;
        }
        std::string port;
        if (!srv_.ReadLine(&port, 20000)) {
            ADD_FAILURE() << "the server did not say its port: "
                          << srv_.LogTail();
            return nullptr;
        }
        tickless_conn *c = NewClient(GetParam(), TS_QUIC,
                                     (uint16_t)std::atoi(port.c_str()),
                                     Alpn(kEcho));
        if (c == nullptr)
            return nullptr;
        int rc = tickless_conn_handshake(c, 10000);
        if (rc == 0)
            return c;
        ADD_FAILURE() << tickless_err_name(rc) << ": " << srv_.LogTail();
        tickless_conn_close(c);
        return nullptr;
    }

    PemFiles pem_;
    PeerProcess srv_;
};

TEST_P(QuicInteropClient, AioquicEchoServer)
{
    NEED_PEER(MissingPythonModule("aioquic", "python3-aioquic"));
    tickless_conn *c = ConnectToEchoServer();
    ASSERT_NE(c, nullptr);
    int rc = 0;

    // Both directions at once: the server echoes as it reads, so our
    // receive window must be drained while we write.
    int wrc = 0;
    std::thread writer([&] { wrc = WritePattern(c, 0, kTotal); });
    rc = ReadPattern(c, 0, kTotal);
    writer.join();
    EXPECT_EQ(wrc, 0) << tickless_err_name(wrc);
    EXPECT_EQ(rc, 0) << tickless_err_name(rc) << ": " << srv_.LogTail();
    // Our FIN ends the server's loop; its FIN must come back.
    EXPECT_TRUE(Conclude(c));
    char extra[16];
    size_t n = 0;
    rc = tickless_conn_read(c, extra, sizeof(extra), &n, 10000);
    EXPECT_EQ(rc, TICKLESS_ERR_EOF) << tickless_err_name(rc) << ", " << n
                                    << " bytes more";
    rc = tickless_conn_shutdown(c, 5000);
    EXPECT_EQ(rc, 0) << tickless_err_name(rc);
    tickless_conn_close(c);
}

// One stream's part in AioquicEchoServerThirtyTwoStreams: what went wrong
// first, if anything, and how much of the echo came back.
struct StreamOutcome {
    const char *step = "";  // the call that failed: "write", ...
    int rc = 0;             // its error
    size_t got = 0;         // echo bytes read before the FIN
    size_t bad_at = SIZE_MAX; // offset of the first wrong echo byte
};

// One connection, 32 streams at once, 1 MiB each way on every one: each
// stream is written whole, concluded, then its echo read to the server's
// FIN, by a thread of its own; all 32 start together, once every stream
// is open, so all are in flight at once and share the connection's flow
// control. Writing a stream whole before reading its echo cannot
// deadlock: while our receive windows are full, the server buffers its
// echo without limit (tests/interop/README.md) and goes on reading. Each
// stream carries the pattern at an offset of its own, so echoes crossed
// between streams would show. One
// deadline, 60 s from the first write, bounds every call: a hang fails
// the test instead of blocking CI.
TEST_P(QuicInteropClient, AioquicEchoServerThirtyTwoStreams)
{
    NEED_PEER(MissingPythonModule("aioquic", "python3-aioquic"));
    const int kStreams = 32;
    tickless_conn *c = ConnectToEchoServer();
    ASSERT_NE(c, nullptr);
    int rc = 0;

    std::vector<tickless_stream *> streams(kStreams, nullptr);
    for (int i = 0; i < kStreams && rc == 0; i++)
        rc = tickless_stream_open(c, 0, &streams[i], 10000);
    EXPECT_EQ(rc, 0) << "open: " << tickless_err_name(rc);

    const double bound_ms = 60000 * TimeScale();
    uint64_t deadline = 0; // set before the threads are let go
    auto left_ms = [&deadline] {
        uint64_t now = ts_now_ns();
        return now >= deadline ? 0 : (int)((deadline - now) / 1000000u) + 1;
    };
    std::promise<void> go;
    std::shared_future<void> started = go.get_future().share();
    std::vector<StreamOutcome> out(kStreams);
    std::vector<std::thread> threads;
    for (int i = 0; i < kStreams && rc == 0; i++)
        threads.emplace_back([&, i] {
            tickless_stream *s = streams[i];
            StreamOutcome &o = out[i];
            uint64_t off = (uint64_t)i * kTotal;
            std::vector<uint8_t> buf(kTotal);
            ts_fill_pattern(buf.data(), kTotal, off);
            started.wait();
            size_t n = 0;
            o.step = "write";
            o.rc = tickless_stream_write(s, buf.data(), kTotal, &n, left_ms());
            if (o.rc == 0) {
                o.step = "conclude";
                o.rc = tickless_stream_conclude(s);
            }
            // The echo, checked as it comes; more than was sent is wrong
            // too, so the read goes on to the FIN.
            while (o.rc == 0) {
                o.step = "read";
                o.rc = tickless_stream_read(s, buf.data(), buf.size(), &n,
                                            left_ms());
                if (o.rc != 0)
                    break;
                size_t ok = ts_check_pattern(buf.data(), n, off + o.got);
                if (ok < n && o.bad_at == SIZE_MAX)
                    o.bad_at = o.got + ok;
                o.got += n;
            }
            if (o.rc == TICKLESS_ERR_EOF)
                o.rc = 0;
        });
    uint64_t t0 = ts_now_ns();
    deadline = t0 + (uint64_t)(bound_ms * 1e6);
    go.set_value();
    for (std::thread &t : threads)
        t.join();
    double ms = MsSince(t0);

    if (rc == 0) {
        for (int i = 0; i < kStreams; i++) {
            const StreamOutcome &o = out[i];
            EXPECT_EQ(o.rc, 0) << "stream " << i << ": " << o.step << ": "
                               << tickless_err_name(o.rc) << " after "
                               << o.got << " echo bytes";
            EXPECT_EQ(o.got, kTotal) << "stream " << i;
            EXPECT_EQ(o.bad_at, SIZE_MAX)
                << "stream " << i << ": the echo differs at " << o.bad_at;
        }
        EXPECT_LT(ms, bound_ms) << "32 x 1 MiB took " << ms << " ms";
        if (HasFailure())
            ADD_FAILURE() << "the server's log: " << srv_.LogTail();
    }
    for (tickless_stream *s : streams)
        tickless_stream_close(s);
    if (rc == 0) {
        rc = tickless_conn_shutdown(c, 5000);
        EXPECT_EQ(rc, 0) << tickless_err_name(rc);
    }
    tickless_conn_close(c);
}

// GET /pattern/1048576 on the default stream; then, on a second
// connection, four GETs at once on four streams of their own (the streams
// API; hq-interop's "multiplexing"), each read by its own thread. Every
// body is checked byte for byte, and their lengths differ, so responses
// crossed between streams would show.
TEST_P(QuicInteropClient, Http3ServerHqInterop)
{
    NEED_PEER(MissingHttp3Server(false));
    Http3Server srv;
    tickless_conn *c = srv.Start(GetParam(), "hq_pattern_app:app");
    ASSERT_NE(c, nullptr);
    std::vector<uint8_t> body;
    int rc = HqGet(c, "/pattern/" + std::to_string(kTotal), &body);
    EXPECT_EQ(rc, 0) << tickless_err_name(rc) << ": " << srv.LogTail();
    EXPECT_EQ(body.size(), kTotal);
    EXPECT_EQ(ts_check_pattern(body.data(), body.size(), 0), body.size())
        << "the body differs";
    ShutdownAndClose(c);

    c = srv.Connect(10000);
    ASSERT_NE(c, nullptr) << srv.LogTail();
    const int kStreams = 4;
    std::vector<std::thread> getters;
    std::vector<std::vector<uint8_t>> bodies(kStreams);
    std::vector<int> rcs(kStreams, 0);
    for (int i = 0; i < kStreams; i++)
        getters.emplace_back([&, i] {
            size_t len = kTotal / 4 + 4099 * (size_t)i;
            rcs[i] = HqGetOnStream(c, "/pattern/" + std::to_string(len),
                                   &bodies[i]);
        });
    for (std::thread &t : getters)
        t.join();
    for (int i = 0; i < kStreams; i++) {
        size_t len = kTotal / 4 + 4099 * (size_t)i;
        EXPECT_EQ(rcs[i], 0) << "stream " << i << ": "
                             << tickless_err_name(rcs[i]) << ": "
                             << srv.LogTail();
        EXPECT_EQ(bodies[i].size(), len) << "stream " << i;
        EXPECT_EQ(ts_check_pattern(bodies[i].data(), bodies[i].size(), 0),
                  bodies[i].size())
            << "stream " << i << ": the body differs";
    }
    ShutdownAndClose(c);
}

INSTANTIATE_TEST_SUITE_P(AllModes, QuicInteropClient, EveryMode(),
                         ModeParamName);

} // namespace
