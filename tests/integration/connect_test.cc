// tickless_connect() makes a handshaken connection from a host name, over
// real sockets, in every assist mode and protocol. What must hold:
//  - "localhost" as many machines resolve it (::1 first, then 127.0.0.1:
//    the resolver hook gives it both here, whatever /etc/hosts says)
//    reaches a server bound to IPv4 only; IPv6-only and dual-stack
//    servers are reached too (peers that can bind them).
//  - A first address that drops everything (a socket that reads and never
//    answers) is overtaken within the Happy Eyeballs delay plus one
//    handshake, not after its own timeout.
//  - Wrong name for the certificate, unknown name, refused TCP, silent
//    UDP: each its own error, within the timeout, and no descriptor left.
//  - Socket and allocation failures unwind cleanly.
//  - Real peers: gnutls-serv (DTLS, TLS), openssl s_server, aioquic.
#include "harness.h"
#include "peer_process.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/x509_vfy.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

extern "C" {
#include "core/alloc.h"
#include "core/connect.h"
#include "core/sysfail.h"
}

namespace {

const int kTimeoutMs = 10000;

// The sockets this process has open: what a connection that leaked would
// leave. Other descriptors come and go for reasons of their own (a thread
// makes its self-poll wake-up eventfd on its first blocked call, and keeps
// it until it exits).
int CountSockets()
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d == nullptr)
        return -1;
    while (struct dirent *e = readdir(d)) {
        char path[300], target[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(path, target, sizeof(target) - 1);
        if (len > 0) {
            target[len] = '\0';
            n += strncmp(target, "socket:", 7) == 0;
        }
    }
    closedir(d);
    return n;
}

// Waits up to 2 s for the socket count to come back to |before|: a pool's
// assist may still hold a closed attempt for the tick it is in, and frees
// its SSL object (closing the socket) when that tick ends. A leak never
// comes back. Returns the last count, which may also be lower: a socket
// of an earlier test, already closing, may go meanwhile.
int SocketsSettleAt(int before)
{
    int n = CountSockets();
    for (int i = 0; i < 200 * TimeScale() && n > before; i++) {
        ts_sleep_ms(10);
        n = CountSockets();
    }
    return n;
}

// Gives |host| the addresses |addrs| ("::1,127.0.0.1") for as long as it
// lives.
struct ResolveAs {
    ResolveAs(const char *host, const char *addrs)
    {
        tl_connect_set_resolve_override(host, addrs);
    }
    ~ResolveAs() { tl_connect_set_resolve_override(nullptr, nullptr); }
};

int FastDtlsTimer(SSL *ssl, void *)
{
    ts_dtls_fast_timer(ssl);
    return 1;
}

// Options for the in-process servers: their ALPN, fast DTLS retries, and
// the error record.
tickless_connect_options Options(tickless_error_info *err)
{
    tickless_connect_options o;
    tickless_connect_options_defaults(&o);
    o.alpn = TS_ALPN;
    o.ssl_setup = FastDtlsTimer;
    o.error = err;
    return o;
}

struct Ctx {
    explicit Ctx(ts_proto p) : ctx(ts_client_ctx(p)) {}
    ~Ctx() { SSL_CTX_free(ctx); }
    SSL_CTX *ctx;
};

// One line echoed by |c|'s server.
void ExpectEcho(tickless_conn *c)
{
    const char msg[] = "ping\n";
    char buf[5];
    size_t n = 0;
    ASSERT_EQ(tickless_conn_write(c, msg, 5, &n, kTimeoutMs), 0);
    int rc = ReadExactly(c, buf, sizeof(buf), kTimeoutMs);
    ASSERT_EQ(rc, 0) << tickless_err_name(rc);
    EXPECT_EQ(std::string(buf, sizeof(buf)), "ping\n");
}

// One connect and close on |pool| against a server of its own, so that
// what tickless makes once per thread or pool (a caller's wake-up
// descriptor, pool threads) exists before a test counts descriptors.
void WarmUp(tickless_pool *pool, ts_proto p)
{
    ts_server *srv = StartServer(p);
    ASSERT_NE(srv, nullptr);
    Ctx ctx(p);
    tickless_connect_options o = Options(nullptr);
    std::string port = std::to_string(ts_server_port(srv));
    tickless_conn *c = nullptr;
    // Both families, as the tests will: a refused ::1 attempt included.
    tl_connect_set_resolve_override("localhost", "::1,127.0.0.1");
    ASSERT_EQ(tickless_connect(ctx.ctx, "localhost", port.c_str(), &o,
                               pool, &c, kTimeoutMs),
              0);
    tl_connect_set_resolve_override(nullptr, nullptr);
    tickless_conn_close(c);
    ts_server_stop(srv);
}

// A socket on [::1]:|port| that takes everything and answers nothing:
// UDP reads and drops; TCP listens (the kernel completes the three-way
// handshake) and never accepts. -1 on failure.
int SilentV6(int type, uint16_t port)
{
    int fd = socket(AF_INET6, type | SOCK_CLOEXEC, 0), one = 1;
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_addr = in6addr_loopback;
    sin6.sin6_port = htons(port);
    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, reinterpret_cast<sockaddr *>(&sin6), sizeof(sin6)) != 0
        || (type == SOCK_STREAM && listen(fd, 16) != 0)) {
        close(fd);
        return -1;
    }
    return fd;
}

// Each test connects with a client context of its protocol and Options()
// (err_ receives the error record), on the mode's pool.
class Connect : public testing::TestWithParam<Variant> {
protected:
    void SetUp() override
    {
        SKIP_UNLESS_AVAILABLE(GetParam().proto);
        ctx_ = ts_client_ctx(Proto());
        ASSERT_NE(ctx_, nullptr);
        o_ = Options(&err_);
    }
    void TearDown() override { SSL_CTX_free(ctx_); }
    tickless_pool *Pool() { return PoolFor(GetParam().mode); }
    ts_proto Proto() { return GetParam().proto; }

    // tickless_connect() to |host|:|port|.
    int ConnectTo(const char *host, const std::string &port,
                  tickless_conn **c, int timeout_ms = kTimeoutMs)
    {
        return tickless_connect(ctx_, host, port.c_str(), &o_, Pool(), c,
                                timeout_ms);
    }

    SSL_CTX *ctx_ = nullptr;
    tickless_error_info err_ = TICKLESS_ERROR_INFO_INIT;
    tickless_connect_options o_;
};

std::string PortOf(ts_server *srv)
{
    return std::to_string(ts_server_port(srv));
}

// The common /etc/hosts: localhost is ::1 first. A server bound to
// 127.0.0.1 only must still be reached.
TEST_P(Connect, LocalhostReachesIpv4OnlyServer)
{
    ts_server *srv = StartServer(Proto());
    ASSERT_NE(srv, nullptr);
    ResolveAs as("localhost", "::1,127.0.0.1");
    tickless_conn *c = nullptr;
    int rc = ConnectTo("localhost", PortOf(srv), &c);
    ASSERT_EQ(rc, 0) << tickless_err_name(rc) << ": " << err_.message;
    EXPECT_EQ(err_.code, 0);
    ExpectEcho(c);
    tickless_conn_close(c);
    ts_server_stop(srv);
}

// And with the machine's own resolver, and an IP literal.
TEST_P(Connect, RealResolverAndLiteral)
{
    ts_server *srv = StartServer(Proto());
    ASSERT_NE(srv, nullptr);
    for (const char *host : { "localhost", "127.0.0.1" }) {
        tickless_conn *c = nullptr;
        int rc = ConnectTo(host, PortOf(srv), &c);
        ASSERT_EQ(rc, 0) << host << ": " << tickless_err_name(rc) << ": "
                         << err_.message;
        ExpectEcho(c);
        tickless_conn_close(c);
    }
    ts_server_stop(srv);
}

// ::1 takes everything and answers nothing; 127.0.0.1 is live. The
// connection must come within the attempt delay plus one handshake.
TEST_P(Connect, BlackHoledFirstAddressIsOvertaken)
{
    ts_server *srv = StartServer(Proto());
    ASSERT_NE(srv, nullptr);
    uint16_t p = ts_server_port(srv);
    int hole = SilentV6(Proto() == TS_TLS ? SOCK_STREAM : SOCK_DGRAM, p);
    ASSERT_GE(hole, 0) << "cannot bind [::1]:" << p << ": "
                       << strerror(errno);
    ResolveAs as("localhost", "::1,127.0.0.1");
    tickless_conn *c = nullptr;
    uint64_t t0 = ts_now_ns();
    int rc = ConnectTo("localhost", PortOf(srv), &c);
    double ms = (ts_now_ns() - t0) / 1e6;
    ASSERT_EQ(rc, 0) << tickless_err_name(rc) << ": " << err_.message;
    EXPECT_GE(ms, o_.attempt_delay_ms * 0.9); // ::1 really had its turn
    EXPECT_LT(ms, (o_.attempt_delay_ms + 5000) * TimeScale());
    ExpectEcho(c);
    tickless_conn_close(c);
    close(hole);
    ts_server_stop(srv);
}

// The certificate names localhost and 127.0.0.1, not this.
TEST_P(Connect, WrongHostNameFailsWithVerifyResult)
{
    WarmUp(Pool(), Proto());
    // Counted around the server: it keeps a socket per client a while.
    int fds = CountSockets();
    ts_server *srv = StartServer(Proto());
    ASSERT_NE(srv, nullptr);
    ResolveAs as("wrong.example", "127.0.0.1");
    tickless_conn *c = nullptr;
    int rc = ConnectTo("wrong.example", PortOf(srv), &c);
    EXPECT_EQ(rc, TICKLESS_ERR_SSL) << tickless_err_name(rc);
    EXPECT_EQ(c, nullptr);
    EXPECT_EQ(err_.code, TICKLESS_ERR_SSL);
    EXPECT_EQ(err_.verify_result, X509_V_ERR_HOSTNAME_MISMATCH)
        << err_.message;
    EXPECT_NE(std::strstr(err_.message, "certificate verify failed"), nullptr)
        << err_.message;
    ts_server_stop(srv);
    EXPECT_LE(SocketsSettleAt(fds), fds);
    srv = StartServer(Proto());
    ASSERT_NE(srv, nullptr);

    // Switched off, loudly, it connects.
    o_.insecure_no_verify = 1;
    rc = ConnectTo("wrong.example", PortOf(srv), &c);
    ASSERT_EQ(rc, 0) << tickless_err_name(rc) << ": " << err_.message;
    tickless_conn_close(c);
    ts_server_stop(srv);
}

TEST_P(Connect, UnknownHostIsNotFound)
{
    tickless_conn *c = nullptr;
    WarmUp(Pool(), Proto());
    int fds = CountSockets();
    int rc = ConnectTo("no-such-host.invalid", "443", &c);
    EXPECT_EQ(rc, TICKLESS_ERR_NOT_FOUND) << tickless_err_name(rc);
    EXPECT_EQ(err_.code, TICKLESS_ERR_NOT_FOUND);
    EXPECT_NE(std::strstr(err_.message, "no-such-host.invalid"), nullptr)
        << err_.message;
    EXPECT_LE(SocketsSettleAt(fds), fds);
}

// Nothing on the port. TCP is refused at once on both addresses; UDP has
// a silent address (a socket that drops everything) and ends in a
// timeout, naming what each address did.
TEST_P(Connect, RefusedOrSilentWithinTimeout)
{
    WarmUp(Pool(), Proto());
    int fds = CountSockets();
    uint16_t p = FreeUdpPort();
    ASSERT_NE(p, 0);
    int hole = -1;
    if (Proto() != TS_TLS) {
        hole = SilentV6(SOCK_DGRAM, p);
        ASSERT_GE(hole, 0);
    }
    ResolveAs as("localhost", "::1,127.0.0.1");
    std::string port = std::to_string(p);
    tickless_conn *c = nullptr;
    uint64_t t0 = ts_now_ns();
    const int timeout = 1500;
    int rc = ConnectTo("localhost", port, &c, timeout);
    double ms = (ts_now_ns() - t0) / 1e6;
    EXPECT_EQ(c, nullptr);
    if (Proto() == TS_TLS) {
        EXPECT_EQ(rc, TICKLESS_ERR_REFUSED) << tickless_err_name(rc);
        EXPECT_EQ(err_.sys_errno, ECONNREFUSED);
        EXPECT_LT(ms, 5000 * TimeScale()); // no connect timeout waited out
    } else {
        EXPECT_EQ(rc, TICKLESS_ERR_TIMEOUT) << tickless_err_name(rc);
        EXPECT_NE(std::string(err_.message).find("[::1]:" + port
                                                  + ": no answer"),
                  std::string::npos)
            << err_.message;
        // Ended by its timeout, not hung (the bound is loose: a loaded
        // machine stretches the candidates' closing).
        EXPECT_LT(ms, (timeout + 5000) * TimeScale());
    }
    EXPECT_EQ(err_.code, rc);
    EXPECT_NE(std::string(err_.message).find("127.0.0.1:" + port),
              std::string::npos)
        << err_.message;
    if (hole >= 0)
        close(hole);
    EXPECT_LE(SocketsSettleAt(fds), fds);
}

// socket() failing for every address, then for the first only.
TEST_P(Connect, SocketFailureUnwinds)
{
    WarmUp(Pool(), Proto());
    int fds = CountSockets();
    ts_server *srv = StartServer(Proto());
    ASSERT_NE(srv, nullptr);
    ResolveAs as("localhost", "::1,127.0.0.1");
    tickless_conn *c = nullptr;
    tl_sysfail_inject(SYSFAIL_SOCKET, EMFILE, 0, 2);
    int rc = ConnectTo("localhost", PortOf(srv), &c);
    tl_sysfail_inject(SYSFAIL_SOCKET, 0, 0, 0);
    EXPECT_EQ(rc, TICKLESS_ERR_SYS) << err_.message;
    EXPECT_EQ(err_.sys_errno, EMFILE);

    tl_sysfail_inject(SYSFAIL_SOCKET, EMFILE, 0, 1);
    rc = ConnectTo("localhost", PortOf(srv), &c);
    tl_sysfail_inject(SYSFAIL_SOCKET, 0, 0, 0);
    ASSERT_EQ(rc, 0) << tickless_err_name(rc) << ": " << err_.message;
    tickless_conn_close(c);
    ts_server_stop(srv);
    EXPECT_LE(SocketsSettleAt(fds), fds);
}

INSTANTIATE_TEST_SUITE_P(All, Connect, AllVariants(), VariantName);

// Every allocation tickless makes during a connect (the racing attempts'
// connections included) fails in turn: NOMEM or success, never a leak.
TEST(ConnectAllocFail, EveryAllocationInTurn)
{
    for (ts_proto p : { TS_QUIC, TS_DTLS, TS_TLS }) {
        if (!ProtoAvailable(p))
            continue;
        // Counted around the server too: it keeps a socket per client.
        WarmUp(nullptr, p);
        int fds = CountSockets();
        ts_server *srv = StartServer(p);
        ASSERT_NE(srv, nullptr);
        ResolveAs as("localhost", "::1,127.0.0.1");
        Ctx ctx(p);
        std::string port = std::to_string(ts_server_port(srv));
        for (unsigned long k = 1;; k++) {
            tickless_error_info err = TICKLESS_ERROR_INFO_INIT;
            tickless_connect_options o = Options(&err);
            tickless_conn *c = nullptr;
            tl_alloc_fail_after(k);
            int rc = tickless_connect(ctx.ctx, "localhost", port.c_str(), &o,
                                      nullptr, &c, kTimeoutMs);
            tl_alloc_fail_after(0);
            if (rc == 0) {
                tickless_conn_close(c);
                break;
            }
            EXPECT_TRUE(rc == TICKLESS_ERR_NOMEM) << ts_proto_name(p)
                << " at " << k << ": " << tickless_err_name(rc) << ": "
                << err.message;
            EXPECT_EQ(c, nullptr);
            ASSERT_LT(k, 1000u);
        }
        ts_server_stop(srv);
        EXPECT_LE(SocketsSettleAt(fds), fds) << ts_proto_name(p);
    }
}

TEST(ConnectArgs, Invalid)
{
    Ctx ctx(TS_TLS);
    tickless_conn *c = nullptr;
    tickless_connect_options o;
    tickless_connect_options_defaults(&o);
    EXPECT_EQ(tickless_connect(nullptr, "localhost", "1", &o, nullptr, &c, 0),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_connect(ctx.ctx, nullptr, "1", &o, nullptr, &c, 0),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_connect(ctx.ctx, "localhost", "1", &o, nullptr,
                               nullptr, 0),
              TICKLESS_ERR_INVALID);
    for (const char *bad : { "", ",", "a,", ",a", "a,,b" }) {
        o.alpn = bad;
        EXPECT_EQ(tickless_connect(ctx.ctx, "localhost", "1", &o, nullptr, &c,
                                   0),
                  TICKLESS_ERR_INVALID)
            << "alpn '" << bad << "'";
    }
    tickless_connect_options_defaults(&o);
    o.attempt_delay_ms = 1;
    EXPECT_EQ(tickless_connect(ctx.ctx, "localhost", "1", &o, nullptr, &c, 0),
              TICKLESS_ERR_INVALID);
    tickless_connect_options_defaults(&o);
    EXPECT_EQ(tickless_connect(ctx.ctx, "localhost", "no-such-service-x", &o,
                               nullptr, &c, 0),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(c, nullptr);
}

// ---- peers tickless did not write -------------------------------------

// Connects |ctx| to localhost:|port| (resolved ::1 then 127.0.0.1), trying
// again while the peer is still starting. 0 or the last error.
int ConnectWhenListening(SSL_CTX *ctx, uint16_t port, const char *alpn,
                         tickless_conn **c, tickless_error_info *err)
{
    tickless_connect_options o = Options(err);
    o.alpn = alpn;
    std::string ps = std::to_string(port);
    int rc = -1;
    for (int i = 0; i < 100 && rc != 0; i++) {
        rc = tickless_connect(ctx, "localhost", ps.c_str(), &o, nullptr, c,
                              2000);
        if (rc != 0)
            ts_sleep_ms(50);
    }
    return rc;
}

struct PeerCase {
    const char *name;
    ts_proto proto;
    const char *bind; // "v4", "v6", "dual"
};

class ConnectPeer : public testing::TestWithParam<PeerCase> {};

TEST_P(ConnectPeer, Connects)
{
    const PeerCase &k = GetParam();
    SKIP_UNLESS_AVAILABLE(k.proto);
    PemFiles pem;
    ASSERT_TRUE(pem.Make());
    uint16_t port = FreeUdpPort();
    ASSERT_NE(port, 0);
    std::string ps = std::to_string(port);
    std::string addr = std::strcmp(k.bind, "v6") == 0   ? "[::1]:" + ps
                       : std::strcmp(k.bind, "v4") == 0 ? "127.0.0.1:" + ps
                                                        : ps;
    PeerProcess srv;
    bool echo = false;
    const char *alpn = nullptr;
    if (std::strcmp(k.name, "gnutls-serv") == 0) {
        NEED_PEER(MissingProgram("gnutls-serv", "gnutls-bin"));
        // Without an address gnutls-serv binds every family: dual-stack.
        std::vector<std::string> argv = { "gnutls-serv", "--echo", "-p", ps,
                                          "--x509certfile", pem.cert,
                                          "--x509keyfile", pem.key };
        if (k.proto == TS_DTLS)
            argv.insert(argv.begin() + 1, "--udp");
        ASSERT_TRUE(srv.Start(argv, pem.dir, false)) << srv.Error();
        echo = true;
    } else if (std::strcmp(k.name, "openssl") == 0) {
        NEED_PEER(MissingProgram("openssl", "openssl"));
        std::vector<std::string> argv = { "openssl", "s_server", "-accept",
                                          addr, "-cert", pem.cert, "-key",
                                          pem.key, "-quiet", "-naccept", "1" };
        if (k.proto == TS_DTLS)
            argv.insert(argv.begin() + 2, "-dtls");
        ASSERT_TRUE(srv.Start(argv, pem.dir)) << srv.Error();
    } else {
        NEED_PEER(MissingPythonModule("aioquic", "python3-aioquic"));
        std::string host = std::strcmp(k.bind, "v6") == 0   ? "::1"
                           : std::strcmp(k.bind, "v4") == 0 ? "127.0.0.1"
                                                            : "::";
        ASSERT_TRUE(srv.Start({ "python3", "-B",
                                InteropScript("aioquic_echo_server.py"),
                                pem.cert, pem.key, "--host", host, "--port",
                                ps },
                              pem.dir))
            << srv.Error();
        std::string line;
        ASSERT_TRUE(srv.ReadLine(&line, 20000)) << srv.LogTail();
        echo = true;
        alpn = "echo";
    }
    ResolveAs as("localhost", "::1,127.0.0.1");
    Ctx ctx(k.proto);
    tickless_error_info err = TICKLESS_ERROR_INFO_INIT;
    tickless_conn *c = nullptr;
    int rc = ConnectWhenListening(ctx.ctx, port, alpn, &c, &err);
    ASSERT_EQ(rc, 0) << tickless_err_name(rc) << ": " << err.message << "\n"
                     << srv.LogTail();
    if (echo) {
        ExpectEcho(c);
    } else {
        size_t n = 0;
        char got[5];
        ASSERT_EQ(tickless_conn_write(c, "ping\n", 5, &n, kTimeoutMs), 0);
        ASSERT_EQ(srv.Read(got, 5, kTimeoutMs), 5u) << srv.LogTail();
        EXPECT_EQ(std::string(got, 5), "ping\n");
    }
    tickless_conn_shutdown(c, 2000);
    tickless_conn_close(c);
}

const PeerCase kPeers[] = {
    { "gnutls-serv", TS_TLS, "dual" },    { "gnutls-serv", TS_DTLS, "dual" },
    { "openssl", TS_TLS, "v6" },          { "openssl", TS_DTLS, "v6" },
    { "openssl", TS_TLS, "v4" },          { "openssl", TS_DTLS, "v4" },
    { "aioquic", TS_QUIC, "v4" },         { "aioquic", TS_QUIC, "v6" },
    { "aioquic", TS_QUIC, "dual" },
};

INSTANTIATE_TEST_SUITE_P(
    Peers, ConnectPeer, testing::ValuesIn(kPeers),
    [](const testing::TestParamInfo<PeerCase> &info) {
        std::string n = std::string(info.param.name) + "_"
                        + ts_proto_name(info.param.proto) + "_"
                        + info.param.bind;
        for (char &ch : n)
            if (ch == '-')
                ch = '_';
        return n;
    });

} // namespace
