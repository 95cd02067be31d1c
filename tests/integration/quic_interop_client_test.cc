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
//    byte; and once the example's own demo application as shipped (its
//    /SIZE padding page).
// The certificate is the process's generated one (ts_certs), which the
// tickless client verifies for "localhost".
#include "harness.h"
#include "peer_process.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

namespace {

const size_t kTotal = 1 << 20;

// ALPN for a client SSL, as a harness tweak: |wire| is in wire format.
SslTweak Alpn(const char *wire)
{
    return [wire](SSL *ssl) {
        SSL_set_alpn_protos(ssl, (const unsigned char *)wire, strlen(wire));
    };
}

const char kEcho[] = "\x04"
                     "echo";
const char kHq[] = "\x0a"
                   "hq-interop";

// Ends the default stream (FIN) and keeps the connection: the escape hatch
// of tickless_conn_lock(): the default stream has no half-close call
// (tickless_stream_conclude() is for streams of the streams API).
bool Conclude(tickless_conn *c)
{
    SSL *ssl = tickless_conn_lock(c);
    if (ssl == nullptr)
        return false;
#if TS_HAVE_QUIC
    int ok = SSL_stream_conclude(ssl, 0);
#else
    int ok = 0; // never reached: without QUIC the tests skip
#endif
    tickless_conn_unlock(c);
    return ok == 1;
}

// Reads until the peer's FIN; returns 0 (with |out| filled) or the error.
int ReadToEof(tickless_conn *c, std::vector<uint8_t> *out, int timeout_ms)
{
    std::vector<uint8_t> buf(65536);
    for (;;) {
        size_t n = 0;
        int rc = tickless_conn_read(c, buf.data(), buf.size(), &n, timeout_ms);
        if (rc == TICKLESS_ERR_EOF)
            return 0;
        if (rc != 0)
            return rc;
        out->insert(out->end(), buf.begin(), buf.begin() + (long)n);
    }
}

std::string AioquicExamples()
{
    const char *dir = std::getenv("TICKLESS_AIOQUIC_EXAMPLES");
    return dir != nullptr && *dir != '\0'
               ? dir
               : "/usr/share/doc/python-aioquic-doc/examples";
}

// Why aioquic's example server cannot run here, or "": aioquic, the
// example (python-aioquic-doc), the module it imports besides aioquic
// (wsproto), and with |demo| those of the demo application it ships
// (starlette, whose templates need jinja2).
std::string MissingHttp3Server(bool demo)
{
    std::string why = MissingPythonModule("aioquic", "python3-aioquic");
    if (why.empty())
        why = MissingFile(AioquicExamples() + "/http3_server.py",
                          "python-aioquic-doc");
    if (why.empty())
        why = MissingPythonModule("wsproto", "python3-wsproto");
    if (why.empty() && demo)
        why = MissingPythonModule("starlette", "python3-starlette");
    if (why.empty() && demo)
        why = MissingPythonModule("jinja2", "python3-jinja2");
    return why;
}

// aioquic's http3_server.py serving the ASGI application |app|, and
// connections to it over hq-interop. It is told its port, which can only
// be one that was free a moment ago: should it have been taken since, the
// server exits and another port is tried. It takes a second or so to start
// (starlette); meanwhile handshakes fail and are retried.
class Http3Server {
public:
    // Starts the server and returns a first connection (handshake done),
    // or nullptr after adding a test failure.
    tickless_conn *Start(Mode mode, const std::string &app)
    {
        mode_ = mode;
        if (!pem_.Make()) {
            ADD_FAILURE() << "cannot write the PEM files";
            return nullptr;
        }
        for (int attempt = 0; attempt < 5; attempt++) {
            port_ = FreeUdpPort();
            proc_.Stop();
            proc_.SetEnv("PYTHONPATH", TICKLESS_INTEROP_DIR); // for our app
            if (!proc_.Start({ "python3", "-B",
                               AioquicExamples() + "/http3_server.py",
                               "--host", "127.0.0.1", "--port",
                               std::to_string(port_), "-c", pem_.cert, "-k",
                               pem_.key, app },
                             pem_.dir, false)) {
                ADD_FAILURE() << proc_.Error();
                return nullptr;
            }
            uint64_t end = ts_now_ns() + 20000000000u;
            while (ts_now_ns() < end && proc_.Running()) {
                tickless_conn *c = Connect(1000);
                if (c != nullptr)
                    return c;
                ts_sleep_ms(50);
            }
            if (proc_.Running())
                break; // it runs, but does not answer
        }
        ADD_FAILURE() << "no hq-interop handshake with http3_server.py: "
                      << proc_.LogTail();
        return nullptr;
    }

    // Another connection to the running server, or nullptr.
    tickless_conn *Connect(int timeout_ms)
    {
        tickless_conn *c = NewClient(mode_, TS_QUIC, port_, Alpn(kHq));
        if (c != nullptr && tickless_conn_handshake(c, timeout_ms) != 0) {
            tickless_conn_close(c);
            c = nullptr;
        }
        return c;
    }

    std::string LogTail() const { return proc_.LogTail(); }

private:
    Mode mode_ = Mode::Dedicated;
    PemFiles pem_;
    PeerProcess proc_;
    uint16_t port_ = 0;
};

// GET |path| on |c|'s default stream: the request, our FIN, then the body
// up to the server's FIN into |body|. Returns 0 or the tickless error.
int HqGet(tickless_conn *c, const std::string &path, std::vector<uint8_t> *body)
{
    std::string req = "GET " + path + "\r\n";
    size_t n = 0;
    int rc = tickless_conn_write(c, req.data(), req.size(), &n, 10000);
    if (rc == 0 && !Conclude(c))
        rc = TICKLESS_ERR_SSL;
    if (rc == 0)
        rc = ReadToEof(c, body, 30000);
    return rc;
}

// The same on a new stream of |c| (the streams API).
int HqGetOnStream(tickless_conn *c, const std::string &path,
                  std::vector<uint8_t> *body)
{
    tickless_stream *s = nullptr;
    int rc = tickless_stream_open(c, 0, &s, 10000);
    if (rc != 0)
        return rc;
    std::string req = "GET " + path + "\r\n";
    size_t n = 0;
    rc = tickless_stream_write(s, req.data(), req.size(), &n, 10000);
    if (rc == 0)
        rc = tickless_stream_conclude(s);
    std::vector<uint8_t> buf(65536);
    while (rc == 0) {
        rc = tickless_stream_read(s, buf.data(), buf.size(), &n, 30000);
        if (rc == 0)
            body->insert(body->end(), buf.begin(), buf.begin() + (long)n);
    }
    tickless_stream_close(s);
    return rc == TICKLESS_ERR_EOF ? 0 : rc;
}

// Ends a connection as a client should, once every response is in.
void Finish(tickless_conn *c)
{
    int rc = tickless_conn_shutdown(c, 5000);
    EXPECT_EQ(rc, 0) << tickless_err_name(rc);
    tickless_conn_close(c);
}

class QuicInteropClient : public testing::TestWithParam<Mode> {
protected:
    void SetUp() override
    {
        SKIP_UNLESS_AVAILABLE(TS_QUIC);
        ASSERT_TRUE(pem_.Make());
    }

    PemFiles pem_;
};

TEST_P(QuicInteropClient, AioquicEchoServer)
{
    NEED_PEER(MissingPythonModule("aioquic", "python3-aioquic"));
    PeerProcess srv;
    ASSERT_TRUE(srv.Start({ "python3", "-B",
                            InteropScript("aioquic_echo_server.py"), pem_.cert,
                            pem_.key },
                          pem_.dir))
        << srv.Error();
    std::string port;
    ASSERT_TRUE(srv.ReadLine(&port, 20000))
        << "the server did not say its port: " << srv.LogTail();
    tickless_conn *c = NewClient(GetParam(), TS_QUIC,
                                 (uint16_t)std::atoi(port.c_str()), Alpn(kEcho));
    ASSERT_NE(c, nullptr);
    int rc = tickless_conn_handshake(c, 10000);
    ASSERT_EQ(rc, 0) << tickless_err_name(rc) << ": " << srv.LogTail();

    // Both directions at once: the server echoes as it reads, so our
    // receive window must be drained while we write.
    int wrc = 0;
    std::thread writer([&] { wrc = WritePattern(c, 0, kTotal); });
    rc = ReadPattern(c, 0, kTotal);
    writer.join();
    EXPECT_EQ(wrc, 0) << tickless_err_name(wrc);
    EXPECT_EQ(rc, 0) << tickless_err_name(rc) << ": " << srv.LogTail();
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
// echo without limit (tests/interop/README.md) and goes on reading. Each stream carries the pattern at an
// offset of its own, so echoes crossed between streams would show. One
// deadline, 60 s from the first write, bounds every call: a hang fails
// the test instead of blocking CI.
TEST_P(QuicInteropClient, AioquicEchoServerThirtyTwoStreams)
{
    NEED_PEER(MissingPythonModule("aioquic", "python3-aioquic"));
    const int kStreams = 32;
    PeerProcess srv;
    ASSERT_TRUE(srv.Start({ "python3", "-B",
                            InteropScript("aioquic_echo_server.py"), pem_.cert,
                            pem_.key },
                          pem_.dir))
        << srv.Error();
    std::string port;
    ASSERT_TRUE(srv.ReadLine(&port, 20000))
        << "the server did not say its port: " << srv.LogTail();
    tickless_conn *c = NewClient(GetParam(), TS_QUIC,
                                 (uint16_t)std::atoi(port.c_str()), Alpn(kEcho));
    ASSERT_NE(c, nullptr);
    int rc = tickless_conn_handshake(c, 10000);
    if (rc != 0)
        tickless_conn_close(c);
    ASSERT_EQ(rc, 0) << tickless_err_name(rc) << ": " << srv.LogTail();

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
            ADD_FAILURE() << "the server's log: " << srv.LogTail();
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
    Finish(c);

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
    Finish(c);
}

// The example as shipped, with its demo application: GET /N answers N
// bytes of 'Z' (demo.py's padding page). Length and content checked; one
// mode is enough, the transport is the same as above.
TEST(QuicInteropHttp3Demo, PaddingPage)
{
    SKIP_UNLESS_AVAILABLE(TS_QUIC);
    NEED_PEER(MissingHttp3Server(true));
    Http3Server srv;
    tickless_conn *c = srv.Start(Mode::Dedicated, "demo:app");
    ASSERT_NE(c, nullptr);
    std::vector<uint8_t> body;
    int rc = HqGet(c, "/" + std::to_string(kTotal), &body);
    EXPECT_EQ(rc, 0) << tickless_err_name(rc) << ": " << srv.LogTail();
    EXPECT_EQ(body.size(), kTotal);
    EXPECT_TRUE(body == std::vector<uint8_t>(body.size(), 'Z'))
        << "the body is not all 'Z'";
    Finish(c);
}

INSTANTIATE_TEST_SUITE_P(AllModes, QuicInteropClient,
                         testing::Values(Mode::Dedicated, Mode::Pool1,
                                         Mode::Pool2, Mode::AppDriven),
                         [](const testing::TestParamInfo<Mode> &info) {
                             return std::string(ModeName(info.param));
                         });

} // namespace
