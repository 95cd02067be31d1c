// tickless as a QUIC server against clients tickless did not write:
//  - OpenSSL's own `openssl s_client -quic` (3.5), data through its stdin,
//    the echo checked on its stdout;
//  - aioquic, a QUIC stack that shares no code with OpenSSL
//    (tests/interop/aioquic_echo_client.py): three clients at once, 1 MiB
//    each, every byte checked by the client.
// The server is an echo server with ALPN "echo" and address validation on
// (a Retry before each handshake), as a real server runs; each client uses
// one bidirectional stream. Which server is under test is a parameter
// (ServerKind): the two ways tickless serves QUIC, in this process, and
// the example server of examples/ run as a user would.
#include "harness.h"
#include "peer_process.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "ts_net.h"
#if TS_HAVE_ECHO_SERVICE
#include "echo_service.h"
#endif
}

namespace {

const char kAlpnWire[] = "\x04"
                         "echo";

// How the echo server under test is run.
//  - Listener: a tickless_listener made here whose accepted connections
//    are served with tickless_conn_read/write on the client's stream (the
//    connection's default stream), by blocking worker threads.
//  - Service: examples/echo_service.c, the example server's own code, in
//    this process: its workers accept the streams of every connection
//    (tickless_listener_accept_stream) and echo them.
//  - Example: the example server program (TICKLESS_INTEROP_EXAMPLE_SERVER,
//    set by tests/CMakeLists.txt), started with kExampleArgs; its assist
//    is its own (a pool of 2).
// The first two are ticked in |mode|.
struct ServerKind {
    const char *name;
    enum How { kListener, kService, kExample } how;
    Mode mode;
};

void PrintTo(const ServerKind &k, std::ostream *os)
{
    *os << k.name;
}

// The example's command line after its path: "{cert}", "{key}", "{port}"
// are filled in. It must stop, with exit status 0, when its stdin ends.
const char *const kExampleArgs[] = { "{cert}", "{key}", "{port}", "8" };

class EchoServer {
public:
    virtual ~EchoServer() = default;
    // Starts the server and waits until it accepts; false with a reason.
    virtual bool Start(const PemFiles &pem, std::string *why) = 0;
    // Stops it; adds a test failure if it did not stop cleanly.
    virtual void Stop() = 0;
    // What the server knows of the connections it served, for messages.
    virtual std::string Report() = 0;
    // Its counts, if it has them (an example program does not): clients
    // accepted, streams echoed to the client's FIN and finished, bytes
    // echoed.
    virtual bool Counts(uint64_t *accepted, uint64_t *finished,
                        uint64_t *echoed)
    {
        (void)accepted, (void)finished, (void)echoed;
        return false;
    }
    uint16_t port() const { return port_; }

protected:
    uint16_t port_ = 0;
};

#if TS_HAVE_QUIC
int SelectEcho(SSL *, const unsigned char **out, unsigned char *outlen,
               const unsigned char *in, unsigned int inlen, void *)
{
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, (const unsigned char *)kAlpnWire,
                              sizeof(kAlpnWire) - 1, in, inlen)
        != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}
#endif

// A QUIC listener on 127.0.0.1 (*port set) with the test certificate and
// ALPN "echo", validating addresses (Retry) as SSL_new_listener() does by
// default; nullptr on failure.
SSL *NewEchoListener(uint16_t *port)
{
#if TS_HAVE_QUIC
    SSL_CTX *ctx = SSL_CTX_new(OSSL_QUIC_server_method());
    int fd = ts_net_bind(SOCK_DGRAM, 0, 0, port);
    SSL *lst = nullptr;
    if (ctx != nullptr && SSL_CTX_use_certificate(ctx, ts_cert_get0()) == 1
        && SSL_CTX_use_PrivateKey(ctx, ts_key_get0()) == 1 && fd >= 0
        && ts_net_set_nonblock(fd, 1) == 0) {
        SSL_CTX_set_alpn_select_cb(ctx, SelectEcho, nullptr);
        lst = SSL_new_listener(ctx, 0);
    }
    SSL_CTX_free(ctx);
    if (lst == nullptr) {
        if (fd >= 0)
            close(fd);
        return nullptr;
    }
    BIO *bio = BIO_new_dgram(fd, BIO_CLOSE);
    SSL_set_bio(lst, bio, bio);
    return lst;
#else
    (void)port;
    return nullptr;
#endif
}

class ListenerEchoServer : public EchoServer {
public:
    explicit ListenerEchoServer(Mode mode) : mode_(mode) {}
    ~ListenerEchoServer() override { Shut(); }

    bool Start(const PemFiles &, std::string *why) override
    {
        SSL *lst = NewEchoListener(&port_);
        if (lst == nullptr) {
            *why = "cannot make a QUIC listener";
            return false;
        }
        int rc = tickless_listener_new(lst, PoolFor(mode_), &l_);
        if (rc != 0) {
            SSL_free(lst);
            *why = std::string("tickless_listener_new: ") + tickless_err_name(rc);
            return false;
        }
        for (int i = 0; i < 4; i++)
            workers_.emplace_back([this] { Work(); });
        return true;
    }

    void Stop() override { Shut(); }

    std::string Report() override
    {
        return "listener: " + std::to_string(accepted_.load()) + " accepted, "
               + std::to_string(finished_.load()) + " finished, "
               + std::to_string(echoed_.load()) + " bytes echoed";
    }

    bool Counts(uint64_t *accepted, uint64_t *finished,
                uint64_t *echoed) override
    {
        *accepted = accepted_.load();
        *finished = finished_.load();
        *echoed = echoed_.load();
        return true;
    }

private:
    // A worker: accept, echo until the client's FIN, finish the stream
    // (tickless_conn_shutdown sends our FIN, then CONNECTION_CLOSE).
    void Work()
    {
        std::vector<char> buf(16384);
        tickless_conn *c = nullptr;
        while (tickless_listener_accept(l_, &c, TICKLESS_FOREVER) == 0) {
            accepted_++;
            int rc = tickless_conn_handshake(c, 10000);
            while (rc == 0) {
                size_t n = 0, w = 0;
                rc = tickless_conn_read(c, buf.data(), buf.size(), &n, 30000);
                if (rc == 0)
                    rc = tickless_conn_write(c, buf.data(), n, &w, 30000);
                echoed_ += w;
            }
            if (rc == TICKLESS_ERR_EOF
                && tickless_conn_shutdown(c, 5000) == 0)
                finished_++;
            tickless_conn_close(c);
        }
    }

    void Shut()
    {
        if (l_ == nullptr)
            return;
        tickless_listener_close(l_); // wakes the workers' accepts and reads
        for (std::thread &t : workers_)
            t.join();
        workers_.clear();
        tickless_listener_free(l_);
        l_ = nullptr;
    }

    Mode mode_;
    tickless_listener *l_ = nullptr;
    std::vector<std::thread> workers_;
    std::atomic<uint64_t> accepted_{ 0 };
    std::atomic<uint64_t> finished_{ 0 };
    std::atomic<uint64_t> echoed_{ 0 };
};

#if TS_HAVE_ECHO_SERVICE
class ServiceEchoServer : public EchoServer {
public:
    explicit ServiceEchoServer(Mode mode) : mode_(mode) {}
    ~ServiceEchoServer() override { Stop(); }

    bool Start(const PemFiles &, std::string *why) override
    {
        SSL *lst = NewEchoListener(&port_);
        if (lst == nullptr) {
            *why = "cannot make a QUIC listener";
            return false;
        }
        int rc = echo_service_start(lst, PoolFor(mode_), 4,
                                    ECHO_SERVICE_STALL_MS, &svc_);
        if (rc != 0)
            *why = std::string("echo_service_start: ") + tickless_err_name(rc);
        return rc == 0;
    }

    void Stop() override
    {
        if (svc_ != nullptr)
            echo_service_stop(svc_);
        svc_ = nullptr;
    }

    std::string Report() override
    {
        uint64_t a = 0, f = 0, e = 0;
        Counts(&a, &f, &e);
        return "echo_service: " + std::to_string(a) + " streams accepted, "
               + std::to_string(f) + " streams finished, " + std::to_string(e)
               + " bytes echoed";
    }

    bool Counts(uint64_t *accepted, uint64_t *finished,
                uint64_t *echoed) override
    {
        echo_service_stats st = {};
        if (svc_ != nullptr)
            echo_service_get_stats(svc_, &st);
        *accepted = st.accepted; // each client sends on one stream
        *finished = st.streams;
        *echoed = st.bytes;
        return true;
    }

private:
    Mode mode_;
    echo_service *svc_ = nullptr;
};
#endif

class ExampleEchoServer : public EchoServer {
public:
    bool Start(const PemFiles &pem, std::string *why) override
    {
        // The port is named on its command line, so it can only be one
        // that was free a moment ago: if another process took it since,
        // the example fails to bind and exits, and another port is tried.
        for (int attempt = 0; attempt < 5; attempt++) {
            port_ = FreeUdpPort();
            std::vector<std::string> argv = { ExamplePath() };
            for (std::string a : kExampleArgs) {
                Fill(&a, "{cert}", pem.cert);
                Fill(&a, "{key}", pem.key);
                Fill(&a, "{port}", std::to_string(port_));
                argv.push_back(a);
            }
            proc_ = std::make_unique<PeerProcess>();
            if (!proc_->Start(argv, pem.dir, false)) {
                *why = proc_->Error();
                return false;
            }
            if (Answers()) {
                started_ = true;
                return true;
            }
            if (proc_->Running()) {
                *why = "the example runs but no QUIC handshake succeeds: "
                       + proc_->LogTail();
                return false;
            }
        }
        *why = "the example exited at start each time: " + proc_->LogTail();
        return false;
    }

    void Stop() override
    {
        if (proc_ == nullptr)
            return;
        if (!started_) {
            proc_->Stop();
            return;
        }
        proc_->CloseStdin();
        int status = proc_->Wait(15000);
        EXPECT_EQ(status, 0) << "the example did not stop cleanly when its "
                                "stdin ended: "
                             << proc_->LogTail();
        proc_->Stop();
        proc_.reset();
    }

    std::string Report() override
    {
        return proc_ != nullptr ? "example's log: " + proc_->LogTail() : "";
    }

private:
    static std::string ExamplePath()
    {
#ifdef TICKLESS_INTEROP_EXAMPLE_SERVER
        return TICKLESS_INTEROP_EXAMPLE_SERVER;
#else
        return "(no example server in this build)";
#endif
    }

    static void Fill(std::string *s, const std::string &key,
                     const std::string &value)
    {
        size_t at = s->find(key);
        if (at != std::string::npos)
            s->replace(at, key.size(), value);
    }

    // Whether a tickless client completes a handshake with the example
    // within 5 s (it may still be starting), while it runs.
    bool Answers()
    {
        uint64_t end = ts_now_ns() + 5000000000u;
        while (ts_now_ns() < end && proc_->Running()) {
            tickless_conn *c = NewClient(Mode::Dedicated, TS_QUIC, port_,
                                         [](SSL *ssl) {
                                             SSL_set_alpn_protos(
                                                 ssl,
                                                 (const unsigned char *)kAlpnWire,
                                                 sizeof(kAlpnWire) - 1);
                                         });
            if (c == nullptr)
                return false;
            int rc = tickless_conn_handshake(c, 1000);
            if (rc == 0)
                (void)tickless_conn_shutdown(c, 2000);
            tickless_conn_close(c);
            if (rc == 0)
                return true;
            ts_sleep_ms(50);
        }
        return false;
    }

    std::unique_ptr<PeerProcess> proc_;
    bool started_ = false;
};

class QuicInteropServer : public testing::TestWithParam<ServerKind> {
protected:
    void SetUp() override
    {
        SKIP_UNLESS_AVAILABLE(TS_QUIC);
        ASSERT_TRUE(pem_.Make());
        switch (GetParam().how) {
        case ServerKind::kListener:
            server_ = std::make_unique<ListenerEchoServer>(GetParam().mode);
            break;
        case ServerKind::kService:
#if TS_HAVE_ECHO_SERVICE
            server_ = std::make_unique<ServiceEchoServer>(GetParam().mode);
#endif
            break;
        case ServerKind::kExample:
            server_ = std::make_unique<ExampleEchoServer>();
            break;
        }
        ASSERT_NE(server_, nullptr);
        std::string why;
        ASSERT_TRUE(server_->Start(pem_, &why)) << why;
    }

    void TearDown() override
    {
        if (server_ != nullptr)
            server_->Stop();
    }

    // Checks the server's counts, if it keeps them. A worker counts after
    // its call returns, which can be after the client got the bytes: the
    // counts are given 10 s to reach what the clients saw.
    void ExpectCounts(uint64_t accepted, uint64_t finished, uint64_t echoed)
    {
        uint64_t a = 0, f = 0, e = 0;
        uint64_t end = ts_now_ns() + 10000000000u;
        while (server_->Counts(&a, &f, &e)
               && (a < accepted || f < finished || e < echoed)
               && ts_now_ns() < end)
            ts_sleep_ms(20);
        if (!server_->Counts(&a, &f, &e))
            return; // an example program: its clients checked everything
        EXPECT_EQ(a, accepted) << server_->Report();
        EXPECT_EQ(f, finished) << server_->Report();
        EXPECT_EQ(e, echoed) << server_->Report();
    }

    PemFiles pem_;
    std::unique_ptr<EchoServer> server_;
};

// s_client sends what it reads on stdin over its QUIC stream and prints
// what comes back. It verifies the server's certificate (-verify_return_error
// fails the handshake otherwise); -quiet -nocommands: only data on stdout,
// and no stdin line is taken for a command.
TEST_P(QuicInteropServer, OpensslClient)
{
    NEED_PEER(MissingProgram("openssl", "openssl"));
    const size_t kTotal = 1 << 20, kChunk = 16384;
    PeerProcess cli;
    ASSERT_TRUE(cli.Start({ "openssl", "s_client", "-quic", "-alpn", "echo",
                            "-connect",
                            "127.0.0.1:" + std::to_string(server_->port()),
                            "-servername", "localhost", "-verify_hostname",
                            "localhost", "-CAfile", pem_.cert,
                            "-verify_return_error", "-quiet", "-nocommands" },
                          pem_.dir))
        << cli.Error();

    // Written from a thread of its own: s_client stops reading its stdin
    // while its stdout is full, so one thread doing both could deadlock.
    std::atomic<bool> written{ false };
    std::thread writer([&] {
        std::vector<uint8_t> buf(kChunk);
        bool ok = true;
        for (size_t off = 0; ok && off < kTotal; off += kChunk) {
            ts_fill_pattern(buf.data(), kChunk, off);
            ok = cli.Write(buf.data(), kChunk);
        }
        written = ok;
    });
    std::vector<uint8_t> got(kTotal);
    size_t n = cli.Read(got.data(), kTotal, 30000);
    if (n != kTotal)
        kill(cli.pid(), SIGKILL); // so that a blocked Write() returns
    writer.join();
    EXPECT_TRUE(written.load()) << "s_client stopped reading: "
                                << cli.LogTail();
    ASSERT_EQ(n, kTotal) << "s_client printed " << n << " bytes: "
                         << cli.LogTail() << "\n" << server_->Report();
    EXPECT_EQ(ts_check_pattern(got.data(), kTotal, 0), kTotal)
        << "the echo differs";
    // -quiet ignores the end of stdin: s_client never ends the stream by
    // itself, so it is stopped; its connection then just goes away.
    cli.Stop();
    ExpectCounts(1, 0, kTotal); // one client; its stream never finished
}

// Three aioquic clients at once, each sending 1 MiB and checking the echo
// byte for byte up to the server's FIN (the script's exit status).
TEST_P(QuicInteropServer, AioquicClients)
{
    NEED_PEER(MissingPythonModule("aioquic", "python3-aioquic"));
    const int kClients = 3; // each costs a second of CPU in Python
    const size_t kBytes = 1 << 20;
    std::vector<std::unique_ptr<PeerProcess>> clients;
    for (int i = 0; i < kClients; i++) {
        clients.push_back(std::make_unique<PeerProcess>());
        ASSERT_TRUE(clients.back()->Start(
            { "python3", "-B", InteropScript("aioquic_echo_client.py"),
              std::to_string(server_->port()), pem_.cert, "--bytes",
              std::to_string(kBytes), "--timeout", "50" },
            pem_.dir))
            << clients.back()->Error();
    }
    // The scripts time themselves out after 50 s: wait a little longer.
    uint64_t end = ts_now_ns() + 60000000000u;
    for (int i = 0; i < kClients; i++) {
        std::string line;
        PeerProcess &cli = *clients[i];
        int left_ms = (int)((end - std::min(end, ts_now_ns())) / 1000000u);
        EXPECT_TRUE(cli.ReadLine(&line, left_ms));
        EXPECT_EQ(cli.Wait(5000), 0)
            << "client " << i << ": " << cli.LogTail() << "\n"
            << server_->Report();
        EXPECT_EQ(line, "ok: " + std::to_string(kBytes) + " bytes echoed");
    }
    ExpectCounts(kClients, kClients, kClients * kBytes);
}

std::vector<ServerKind> Kinds()
{
    std::vector<ServerKind> k = {
        { "ListenerDedicated", ServerKind::kListener, Mode::Dedicated },
    };
#if TS_HAVE_ECHO_SERVICE
    k.push_back({ "ServiceAppDriven", ServerKind::kService, Mode::AppDriven });
#endif
#ifdef TICKLESS_INTEROP_EXAMPLE_SERVER
    k.push_back({ "Example", ServerKind::kExample, Mode::Dedicated });
#endif
    return k;
}

INSTANTIATE_TEST_SUITE_P(Servers, QuicInteropServer, testing::ValuesIn(Kinds()),
                         [](const testing::TestParamInfo<ServerKind> &info) {
                             return std::string(info.param.name);
                         });

} // namespace
