// Smoke tests of the test support library itself, using plain OpenSSL calls
// (blocking sockets, no tickless): if these fail, tickless tests built on the
// support library would fail for reasons that are not tickless's.
#include <gtest/gtest.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "ts_support.h"

namespace {

struct CtxFree {
    void operator()(SSL_CTX *c) const { SSL_CTX_free(c); }
};
struct SslFree {
    void operator()(SSL *s) const { SSL_free(s); }
};
struct ServerStop {
    void operator()(ts_server *s) const { ts_server_stop(s); }
};
struct RelayStop {
    void operator()(ts_relay *r) const { ts_relay_stop(r); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;
using ServerPtr = std::unique_ptr<ts_server, ServerStop>;
using RelayPtr = std::unique_ptr<ts_relay, RelayStop>;

std::string ssl_errors()
{
    std::string out;
    unsigned long e;
    char buf[256];

    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        out += buf;
        out += "; ";
    }
    return out;
}

ServerPtr start_server(enum ts_proto p, int sink = 0, uint64_t idle_ms = 0,
                       int fast_dtls_timer = 0)
{
    ts_server_options o{};
    ts_server *s = nullptr;

    o.proto = p;
    o.sink = sink;
    o.idle_timeout_ms = idle_ms;
    o.fast_dtls_timer = fast_dtls_timer;
    if (ts_server_start(&o, &s) != 0)
        return nullptr;
    return ServerPtr(s);
}

// A connected, handshaken client (blocking), or null with a test failure.
SslPtr connect_client(SSL_CTX *ctx, enum ts_proto p, uint16_t port)
{
    SslPtr ssl(ts_client_new(ctx, p, port));

    EXPECT_NE(ssl, nullptr) << ssl_errors();
    if (!ssl)
        return nullptr;
    int rc = SSL_connect(ssl.get());
    EXPECT_EQ(rc, 1) << "SSL_get_error " << SSL_get_error(ssl.get(), rc)
                     << " " << ssl_errors();
    if (rc != 1)
        return nullptr;
    EXPECT_EQ(SSL_get_verify_result(ssl.get()), X509_V_OK);
    return ssl;
}

// Writes |total| pattern bytes in |chunk|-sized pieces starting at stream
// offset |base|, reading each piece back before the next: DTLS records come
// back one for one, and no direction's buffers ever fill up.
void echo_pattern(SSL *ssl, size_t total, size_t chunk, uint64_t base = 0)
{
    std::vector<uint8_t> out(chunk), in(chunk);

    for (size_t off = 0; off < total; off += chunk) {
        size_t n = std::min(chunk, total - off), got = 0, w = 0;

        ts_fill_pattern(out.data(), n, base + off);
        ASSERT_EQ(SSL_write_ex(ssl, out.data(), n, &w), 1) << ssl_errors();
        ASSERT_EQ(w, n);
        while (got < n) {
            size_t r = 0;

            ASSERT_EQ(SSL_read_ex(ssl, in.data() + got, n - got, &r), 1)
                << "at " << off + got << ": " << ssl_errors();
            got += r;
        }
        ASSERT_EQ(ts_check_pattern(in.data(), n, base + off), n)
            << "mismatch in chunk at " << off;
    }
}

// Starts a graceful close as each protocol does it and waits for the
// server's answer: its FIN (QUIC) or close_notify (TLS, DTLS). For QUIC,
// returns with our CONNECTION_CLOSE queued: finish with quic_finish().
void close_start(SSL *ssl, enum ts_proto p)
{
    uint8_t b;
    size_t r;

#if TS_HAVE_QUIC
    if (p == TS_QUIC) {
        // Conclude our stream; the server concludes its own after echoing.
        ASSERT_EQ(SSL_stream_conclude(ssl, 0), 1);
        EXPECT_EQ(SSL_read_ex(ssl, &b, 1, &r), 0);
        EXPECT_EQ(SSL_get_error(ssl, 0), SSL_ERROR_ZERO_RETURN);
        // Nonblocking from here: a blocking shutdown sits out the closing
        // period (3 PTO, ~80 ms on loopback) for each connection in turn.
        ASSERT_EQ(SSL_set_blocking_mode(ssl, 0), 1);
        SSL_SHUTDOWN_EX_ARGS args{};
        (void)SSL_shutdown_ex(ssl, 0, &args, sizeof(args));
        return;
    }
#endif
    (void)p;
    int rc = SSL_shutdown(ssl);
    EXPECT_GE(rc, 0);
    if (rc == 0) {
        EXPECT_EQ(SSL_read_ex(ssl, &b, 1, &r), 0);
        EXPECT_EQ(SSL_get_error(ssl, 0), SSL_ERROR_ZERO_RETURN);
    }
}

// QUIC: turns the connections' event loops until all have terminated.
void quic_finish(const std::vector<SSL *> &ssls)
{
#if TS_HAVE_QUIC
    uint64_t deadline = ts_now_ns() + 10000000000ull;
    size_t done = 0;

    while (done < ssls.size() && ts_now_ns() < deadline) {
        SSL_SHUTDOWN_EX_ARGS args{};

        done = 0;
        for (SSL *s : ssls)
            done += SSL_shutdown_ex(s, 0, &args, sizeof(args)) == 1;
        if (done < ssls.size())
            ts_sleep_ms(1);
    }
    EXPECT_EQ(done, ssls.size()) << "QUIC connections still closing";
#else
    (void)ssls;
#endif
}

void close_client(SSL *ssl, enum ts_proto p)
{
    close_start(ssl, p);
    if (p == TS_QUIC)
        quic_finish({ssl});
}

// A macro, not a function: GTEST_SKIP() returns from the enclosing function.
#define SKIP_WITHOUT_QUIC(p)                                                   \
    do {                                                                       \
        if ((p) == TS_QUIC && !ts_have_quic())                                 \
            GTEST_SKIP() << "no QUIC server support in this OpenSSL";          \
    } while (0)

TEST(TsUtil, PatternIsPositionDependent)
{
    std::vector<uint8_t> a(1000), b(1000);

    ts_fill_pattern(a.data(), a.size(), 12345);
    EXPECT_EQ(ts_check_pattern(a.data(), a.size(), 12345), a.size());
    // Any slice checks on its own at its own offset.
    EXPECT_EQ(ts_check_pattern(a.data() + 7, 100, 12345 + 7), 100u);
    // Shifted by a byte, or by 256, it does not.
    EXPECT_LT(ts_check_pattern(a.data(), a.size(), 12346), a.size());
    EXPECT_LT(ts_check_pattern(a.data(), a.size(), 12345 + 256), a.size());
    // The first wrong byte is reported.
    b = a;
    b[500] ^= 1;
    EXPECT_EQ(ts_check_pattern(b.data(), b.size(), 12345), 500u);
}

TEST(TsUtil, ClockAndSleep)
{
    uint64_t t0 = ts_now_ns();

    ts_sleep_ms(20);
    uint64_t dt = ts_now_ns() - t0;
    EXPECT_GE(dt, 20000000u);
    EXPECT_LT(dt, 2000000000u);
}

class Proto : public ::testing::TestWithParam<enum ts_proto> {};

std::string proto_name(const ::testing::TestParamInfo<enum ts_proto> &i)
{
    return ts_proto_name(i.param);
}

INSTANTIATE_TEST_SUITE_P(All, Proto,
                         ::testing::Values(TS_QUIC, TS_DTLS, TS_TLS),
                         proto_name);

TEST_P(Proto, ContextsAndUnavailableQuic)
{
    CtxPtr s(ts_server_ctx(GetParam())), c(ts_client_ctx(GetParam()));

    if (GetParam() == TS_QUIC && !ts_have_quic()) {
        EXPECT_EQ(s, nullptr);
        EXPECT_EQ(c, nullptr);
        ts_server_options o{};
        ts_server *srv = nullptr;
        o.proto = TS_QUIC;
        EXPECT_EQ(ts_server_start(&o, &srv), -1);
        EXPECT_EQ(srv, nullptr);
        return;
    }
    EXPECT_NE(s, nullptr);
    EXPECT_NE(c, nullptr);
}

TEST_P(Proto, EchoFewKilobytes)
{
    SKIP_WITHOUT_QUIC(GetParam());
    ServerPtr srv = start_server(GetParam());
    ASSERT_NE(srv, nullptr);
    CtxPtr ctx(ts_client_ctx(GetParam()));
    SslPtr ssl = connect_client(ctx.get(), GetParam(), ts_server_port(srv.get()));
    ASSERT_NE(ssl, nullptr);

    echo_pattern(ssl.get(), 64 * 1024, 1200);
    echo_pattern(ssl.get(), 48 * 1024, 16384, 64 * 1024); // full records
    close_client(ssl.get(), GetParam());
    EXPECT_EQ(ts_server_bytes_received(srv.get()), 112u * 1024);
    EXPECT_EQ(ts_server_connections_accepted(srv.get()), 1u);
    EXPECT_EQ(ts_server_handshakes_completed(srv.get()), 1);
}

TEST_P(Proto, EchoThroughRelay)
{
    SKIP_WITHOUT_QUIC(GetParam());
    if (GetParam() == TS_TLS)
        GTEST_SKIP() << "the relay is UDP only";
    ServerPtr srv = start_server(GetParam());
    ASSERT_NE(srv, nullptr);
    ts_relay_options ro{};
    ro.seed = 1;
    ro.delay_ms = 2;
    ro.jitter_ms = 1;
    ts_relay *r = nullptr;
    ASSERT_EQ(ts_relay_start(ts_server_port(srv.get()), &ro, &r), 0);
    RelayPtr relay(r);
    CtxPtr ctx(ts_client_ctx(GetParam()));
    SslPtr ssl = connect_client(ctx.get(), GetParam(), ts_relay_port(r));
    ASSERT_NE(ssl, nullptr);

    echo_pattern(ssl.get(), 32 * 1024, 1000);
    close_client(ssl.get(), GetParam());
    EXPECT_GT(ts_relay_forwarded(r), 64u);
    EXPECT_EQ(ts_relay_dropped(r), 0u);
}

TEST_P(Proto, ManyConcurrentClients)
{
    SKIP_WITHOUT_QUIC(GetParam());
    const int n = GetParam() == TS_QUIC ? 200 : 40;
    ServerPtr srv = start_server(GetParam());
    ASSERT_NE(srv, nullptr);
    CtxPtr ctx(ts_client_ctx(GetParam()));
    std::vector<SslPtr> clients;

    for (int i = 0; i < n; i++) {
        clients.push_back(
            connect_client(ctx.get(), GetParam(), ts_server_port(srv.get())));
        ASSERT_NE(clients.back(), nullptr) << "client " << i;
    }
    EXPECT_EQ(ts_server_connections_open(srv.get()), n);
    for (int i = 0; i < n; i++)
        echo_pattern(clients[i].get(), 2000, 1000, (uint64_t)i * 2000);
    std::vector<SSL *> raw;
    for (int i = 0; i < n; i++) {
        close_start(clients[i].get(), GetParam());
        raw.push_back(clients[i].get());
    }
    if (GetParam() == TS_QUIC)
        quic_finish(raw);
    // The server frees each connection once the client has closed it.
    for (int i = 0; i < 5000 && ts_server_connections_open(srv.get()) > 0; i++)
        ts_sleep_ms(1);
    EXPECT_EQ(ts_server_connections_open(srv.get()), 0);
    EXPECT_EQ(ts_server_handshakes_completed(srv.get()), n);
    EXPECT_EQ(ts_server_bytes_received(srv.get()), (uint64_t)n * 2000);
}

TEST_P(Proto, SinkCountsBytes)
{
    SKIP_WITHOUT_QUIC(GetParam());
    ServerPtr srv = start_server(GetParam(), 1);
    ASSERT_NE(srv, nullptr);
    CtxPtr ctx(ts_client_ctx(GetParam()));
    SslPtr ssl = connect_client(ctx.get(), GetParam(), ts_server_port(srv.get()));
    ASSERT_NE(ssl, nullptr);
    std::vector<uint8_t> buf(1000);
    const int records = 200;

    for (int i = 0; i < records; i++) {
        size_t w;
        ts_fill_pattern(buf.data(), buf.size(), (uint64_t)i * buf.size());
        ASSERT_EQ(SSL_write_ex(ssl.get(), buf.data(), buf.size(), &w), 1);
        // DTLS has no flow control: a datagram the server's socket buffer
        // has no room for is gone. Keep at most 20 records in flight, by
        // what the server counted, not by time (a sanitizer-slowed server
        // on a loaded machine fell 8 records behind a 1 ms pause).
        if (GetParam() == TS_DTLS && i + 1 > 20) {
            ASSERT_EQ(ts_server_wait_bytes_received(
                          srv.get(), (uint64_t)(i + 1 - 20) * buf.size(),
                          10000),
                      0);
        }
    }
    // Plain OpenSSL sends only while it is called: keep the client's event
    // loop turning until the server has it all (tickless does this itself).
    uint64_t deadline = ts_now_ns() + 10000000000ull;
    while (ts_server_bytes_received(srv.get()) < records * buf.size() &&
           ts_now_ns() < deadline) {
#if TS_HAVE_QUIC
        if (GetParam() == TS_QUIC)
            (void)SSL_handle_events(ssl.get());
#endif
        ts_sleep_ms(1);
    }
    EXPECT_EQ(ts_server_bytes_received(srv.get()), records * buf.size());
}

TEST_P(Proto, AbortDropsConnectionsAndServesNewOnes)
{
    SKIP_WITHOUT_QUIC(GetParam());
    ServerPtr srv = start_server(GetParam(), 0, 2000);
    ASSERT_NE(srv, nullptr);
    CtxPtr ctx(ts_client_ctx(GetParam()));
    uint16_t port = ts_server_port(srv.get());
    SslPtr ssl = connect_client(ctx.get(), GetParam(), port);
    ASSERT_NE(ssl, nullptr);
    echo_pattern(ssl.get(), 4000, 1000);

    ts_server_abort_connections(srv.get());
    EXPECT_EQ(ts_server_connections_open(srv.get()), 0);

    if (GetParam() == TS_TLS) {
        // The RST makes the next read fail at once.
        uint8_t b;
        size_t r;
        EXPECT_EQ(SSL_read_ex(ssl.get(), &b, 1, &r), 0);
        EXPECT_EQ(SSL_get_error(ssl.get(), 0), SSL_ERROR_SYSCALL);
    } else if (GetParam() == TS_QUIC) {
        // Nothing was sent: the client only learns by its idle timeout.
        uint8_t b = 0;
        size_t r;
        uint64_t t0 = ts_now_ns();
        (void)t0;
        ASSERT_EQ(SSL_write_ex(ssl.get(), &b, 1, &r), 1);
        EXPECT_EQ(SSL_read_ex(ssl.get(), &b, 1, &r), 0);
#if TS_HAVE_QUIC
        double secs = (double)(ts_now_ns() - t0) / 1e9;
        SSL_CONN_CLOSE_INFO info{};
        ASSERT_EQ(SSL_get_conn_close_info(ssl.get(), &info, sizeof(info)), 1);
        RecordProperty("quic_abort_detect_s", std::to_string(secs));
        std::printf("QUIC client saw the abort after %.3f s: flags %#x, "
                    "error %llu, reason '%.*s'\n",
                    secs, (unsigned)info.flags,
                    (unsigned long long)info.error_code, (int)info.reason_len,
                    info.reason ? info.reason : "");
        // Local + transport: our own idle timeout, not a peer's close.
        EXPECT_TRUE(info.flags & SSL_CONN_CLOSE_FLAG_LOCAL);
        EXPECT_GE(secs, 1.5);
#endif
    } else {
        // DTLS: the record goes nowhere and nothing comes back. Show that
        // the socket stays silent for a while (no alert, no ICMP error).
        uint8_t b = 0;
        size_t w;
        ASSERT_EQ(SSL_write_ex(ssl.get(), &b, 1, &w), 1);
        struct timeval tv = {0, 300000};
        BIO_ctrl(SSL_get_rbio(ssl.get()), BIO_CTRL_DGRAM_SET_RECV_TIMEOUT, 0,
                 &tv);
        size_t r;
        EXPECT_EQ(SSL_read_ex(ssl.get(), &b, 1, &r), 0);
        EXPECT_EQ(SSL_get_error(ssl.get(), 0), SSL_ERROR_WANT_READ)
            << ssl_errors();
    }
    ssl.reset();

    // The same port serves new clients.
    SslPtr again = connect_client(ctx.get(), GetParam(), port);
    ASSERT_NE(again, nullptr);
    echo_pattern(again.get(), 4000, 1000);
    close_client(again.get(), GetParam());
    EXPECT_EQ(ts_server_connections_accepted(srv.get()), 2u);
}

// A server started on the port of one just stopped (a restart) binds it at
// once and serves, even while a client of the old one is still connected
// (TLS: the old connection's socket lingers in FIN_WAIT on that port; DTLS:
// its per-client sockets were bound to it); a port held by a socket
// without SO_REUSEADDR is refused.
TEST_P(Proto, RestartsOnTheSamePortRightAfterStop)
{
    SKIP_WITHOUT_QUIC(GetParam());
    const enum ts_proto p = GetParam();
    ts_server_options o{};
    ts_server *srv = nullptr;
    o.proto = p;
    ASSERT_EQ(ts_server_start(&o, &srv), 0);
    const uint16_t port = ts_server_port(srv);
    CtxPtr ctx(ts_client_ctx(p));
    std::vector<SslPtr> old;

    for (int round = 0; round < 3; round++) {
        SslPtr ssl = connect_client(ctx.get(), p, port);
        ASSERT_NE(ssl, nullptr) << "round " << round;
        echo_pattern(ssl.get(), 4000, 1000);
        old.push_back(std::move(ssl)); // left open across the restart
        ts_server_stop(srv);
        srv = nullptr;
        o.port = port;
        ASSERT_EQ(ts_server_start(&o, &srv), 0) << "round " << round;
        EXPECT_EQ(ts_server_port(srv), port);
    }
    SslPtr ssl = connect_client(ctx.get(), p, port);
    ASSERT_NE(ssl, nullptr);
    echo_pattern(ssl.get(), 4000, 1000);
    close_client(ssl.get(), p);
    ts_server_stop(srv);

    // Held by a socket of ours without SO_REUSEADDR: the start fails.
    uint16_t held_port = 0;
    int held = ts_net_bind(p == TS_TLS ? SOCK_STREAM : SOCK_DGRAM, 0, 0,
                           &held_port);
    ASSERT_GE(held, 0);
    o.port = held_port;
    srv = nullptr;
    EXPECT_EQ(ts_server_start(&o, &srv), -1);
    EXPECT_EQ(srv, nullptr);
    close(held);
}

// A server of ours on an ephemeral UDP port has it to itself. Linux lets a
// bind to port 0 with SO_REUSEADDR set land on a port that another
// SO_REUSEADDR socket holds (of 900 such sockets about 14 share one), and
// then a second test's server, in another process, takes datagrams meant
// for the first: a ClientHello goes to the wrong server, or a port that
// was closed on purpose draws no ICMP port unreachable. ts_net_bind()
// asks for the port first and sets SO_REUSEADDR after.
TEST(TsNet, EphemeralPortWithReuseAddrIsNeverShared)
{
    const int kForeign = 500, kOurs = 500;
    struct rlimit rl;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < kForeign + kOurs + 100) {
        rl.rlim_cur = rl.rlim_max;
        ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
        ASSERT_GE(rl.rlim_cur, (rlim_t)(kForeign + kOurs + 100));
    }
    std::vector<int> fds;
    std::set<uint16_t> foreign, ours;
    int shared = 0;

    // Sockets as another program's server would bind them: SO_REUSEADDR
    // first, then port 0.
    for (int i = 0; i < kForeign; i++) {
        int one = 1, fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ASSERT_GE(fd, 0);
        fds.push_back(fd);
        struct sockaddr_in sin {};
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)),
                  0);
        ASSERT_EQ(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
        foreign.insert(ts_net_local_port(fd));
    }
    for (int i = 0; i < kOurs; i++) {
        uint16_t port = 0;
        int fd = ts_net_bind(SOCK_DGRAM, 0, TS_NET_REUSEADDR, &port);
        ASSERT_GE(fd, 0);
        fds.push_back(fd);
        if (foreign.count(port) != 0 || !ours.insert(port).second)
            shared++;
    }
    EXPECT_EQ(shared, 0) << "ports of ours that another socket held";

    // And the port stays open to the per-client sockets a DTLS server binds
    // to it (SO_REUSEADDR on both).
    uint16_t first = *ours.begin(), again = 0;
    int fd = ts_net_bind(SOCK_DGRAM, first, TS_NET_REUSEADDR, &again);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(again, first);
    if (fd >= 0)
        close(fd);
    for (int f : fds)
        close(f);
}

// A port handed to a peer process that binds it itself (ts_net_free_port())
// lies outside the range our UDP clients take their ports from in turn:
// a test that opens thousands of clients walks through that range, and
// would otherwise take the port between our look and the peer's bind (the
// peer then never listens). Both sides checked: clients stay in theirs,
// and a free port is free on IPv4 and IPv6 alike.
TEST(TsNet, FreePortsAreOutsideTheClientsRange)
{
    int srv = -1;
    uint16_t srv_port = 0;
    srv = ts_net_bind(SOCK_DGRAM, 0, 0, &srv_port);
    ASSERT_GE(srv, 0);
    for (int i = 0; i < 200; i++) {
        int c = ts_net_connect(SOCK_DGRAM, srv_port);
        ASSERT_GE(c, 0);
        uint16_t p = ts_net_local_port(c);
        EXPECT_GE(p, TS_NET_CLIENT_PORT_FIRST);
        EXPECT_LT(p, TS_NET_CLIENT_PORT_END);
        close(c);
    }
    close(srv);
    for (int i = 0; i < 200; i++) {
        uint16_t p = ts_net_free_port(SOCK_DGRAM);
        ASSERT_NE(p, 0);
        EXPECT_TRUE(p < TS_NET_CLIENT_PORT_FIRST || p >= TS_NET_CLIENT_PORT_END)
            << p;
        int v4 = ts_net_bind_on(TS_NET_V4, SOCK_DGRAM, p, 0, nullptr);
        int v6 = ts_net_bind_on(TS_NET_V6, SOCK_DGRAM, p, 0, nullptr);
        EXPECT_GE(v4, 0) << p;
        EXPECT_GE(v6, 0) << p;
        if (v4 >= 0)
            close(v4);
        if (v6 >= 0)
            close(v6);
    }
}

TEST(TsRelay, LossyQuicStillDeliversEverything)
{
    if (!ts_have_quic())
        GTEST_SKIP() << "no QUIC server support in this OpenSSL";
    ServerPtr srv = start_server(TS_QUIC);
    ASSERT_NE(srv, nullptr);
    ts_relay_options ro{};
    ro.seed = 42;
    ro.loss = 0.05;
    ro.duplicate = 0.02;
    ro.reorder = 0.05;
    ro.delay_ms = 1;
    ro.jitter_ms = 2;
    ts_relay *r = nullptr;
    ASSERT_EQ(ts_relay_start(ts_server_port(srv.get()), &ro, &r), 0);
    RelayPtr relay(r);
    CtxPtr ctx(ts_client_ctx(TS_QUIC));
    SslPtr ssl = connect_client(ctx.get(), TS_QUIC, ts_relay_port(r));
    ASSERT_NE(ssl, nullptr);

    echo_pattern(ssl.get(), 256 * 1024, 8192);
    close_client(ssl.get(), TS_QUIC);
    EXPECT_GT(ts_relay_dropped(r), 0u);
}

TEST(TsServer, QuicServerIdleTimeoutIsNegotiated)
{
    if (!ts_have_quic())
        GTEST_SKIP() << "no QUIC server support in this OpenSSL";
#if TS_HAVE_QUIC
    ServerPtr srv = start_server(TS_QUIC, 0, 1500);
    ASSERT_NE(srv, nullptr);
    CtxPtr ctx(ts_client_ctx(TS_QUIC));
    SslPtr ssl = connect_client(ctx.get(), TS_QUIC, ts_server_port(srv.get()));
    ASSERT_NE(ssl, nullptr);
    uint64_t peer = 0, actual = 0;
    ASSERT_EQ(SSL_get_value_uint(ssl.get(), SSL_VALUE_CLASS_FEATURE_PEER_REQUEST,
                                 SSL_VALUE_QUIC_IDLE_TIMEOUT, &peer), 1);
    ASSERT_EQ(SSL_get_value_uint(ssl.get(), SSL_VALUE_CLASS_FEATURE_NEGOTIATED,
                                 SSL_VALUE_QUIC_IDLE_TIMEOUT, &actual), 1);
    EXPECT_EQ(peer, 1500u);
    EXPECT_EQ(actual, 1500u); // the client's default (30 s) is longer
    echo_pattern(ssl.get(), 1000, 1000);
    close_client(ssl.get(), TS_QUIC);
#endif
}

TEST(TsServer, QuicClientIdleTimeoutHelper)
{
    if (!ts_have_quic())
        GTEST_SKIP() << "no QUIC server support in this OpenSSL";
#if TS_HAVE_QUIC
    ServerPtr srv = start_server(TS_QUIC);
    ASSERT_NE(srv, nullptr);
    CtxPtr ctx(ts_client_ctx(TS_QUIC));
    SslPtr ssl(ts_client_new(ctx.get(), TS_QUIC, ts_server_port(srv.get())));
    ASSERT_NE(ssl, nullptr);
    ts_quic_set_idle_timeout(ssl.get(), 700);
    ASSERT_EQ(SSL_connect(ssl.get()), 1) << ssl_errors();
    uint64_t actual = 0;
    ASSERT_EQ(SSL_get_value_uint(ssl.get(), SSL_VALUE_CLASS_FEATURE_NEGOTIATED,
                                 SSL_VALUE_QUIC_IDLE_TIMEOUT, &actual), 1);
    EXPECT_EQ(actual, 700u);
    close_client(ssl.get(), TS_QUIC);
#endif
}

TEST(TsRelay, DtlsHandshakesThroughHeavyLossWithFastTimers)
{
    ServerPtr srv = start_server(TS_DTLS, 0, 0, 1);
    ASSERT_NE(srv, nullptr);
    ts_relay_options ro{};
    ro.seed = 7;
    ro.loss = 0.3;
    ts_relay *r = nullptr;
    ASSERT_EQ(ts_relay_start(ts_server_port(srv.get()), &ro, &r), 0);
    RelayPtr relay(r);
    CtxPtr ctx(ts_client_ctx(TS_DTLS));

    for (int i = 0; i < 5; i++) {
        SslPtr ssl(ts_client_new(ctx.get(), TS_DTLS, ts_relay_port(r)));
        ASSERT_NE(ssl, nullptr);
        ts_dtls_fast_timer(ssl.get());
        uint64_t t0 = ts_now_ns();
        // Blocking DTLS: the datagram BIO turns the timer into SO_RCVTIMEO;
        // when it fires SSL_connect() returns WANT_READ, having retransmitted.
        int rc;
        while ((rc = SSL_connect(ssl.get())) != 1 &&
               SSL_get_error(ssl.get(), rc) == SSL_ERROR_WANT_READ &&
               ts_now_ns() - t0 < 20000000000ull)
            ;
        ASSERT_EQ(rc, 1) << ssl_errors();
    }
    EXPECT_GT(ts_relay_dropped(r), 0u);
    EXPECT_GE(ts_server_handshakes_completed(srv.get()), 4);
}

TEST(TsRelay, BlackholeDropsBothWays)
{
    ServerPtr srv = start_server(TS_DTLS);
    ASSERT_NE(srv, nullptr);
    ts_relay *r = nullptr;
    ASSERT_EQ(ts_relay_start(ts_server_port(srv.get()), nullptr, &r), 0);
    RelayPtr relay(r);
    CtxPtr ctx(ts_client_ctx(TS_DTLS));
    SslPtr ssl = connect_client(ctx.get(), TS_DTLS, ts_relay_port(r));
    ASSERT_NE(ssl, nullptr);
    echo_pattern(ssl.get(), 3000, 1000);

    uint64_t before = ts_relay_dropped(r);
    ts_relay_set_blackhole(r, 1);
    uint8_t b = 7;
    size_t n;
    ASSERT_EQ(SSL_write_ex(ssl.get(), &b, 1, &n), 1);
    // Give the relay time to see (and drop) it, then reopen.
    for (int i = 0; i < 200 && ts_relay_dropped(r) == before; i++)
        ts_sleep_ms(5);
    EXPECT_EQ(ts_relay_dropped(r), before + 1);
    ts_relay_set_blackhole(r, 0);
    echo_pattern(ssl.get(), 3000, 1000, 3000);
    close_client(ssl.get(), TS_DTLS);
}

TEST(TsRelay, SeveralClientsAreDistinctPeers)
{
    ServerPtr srv = start_server(TS_DTLS);
    ASSERT_NE(srv, nullptr);
    ts_relay *r = nullptr;
    ASSERT_EQ(ts_relay_start(ts_server_port(srv.get()), nullptr, &r), 0);
    RelayPtr relay(r);
    CtxPtr ctx(ts_client_ctx(TS_DTLS));
    std::vector<SslPtr> c;

    for (int i = 0; i < 5; i++) {
        c.push_back(connect_client(ctx.get(), TS_DTLS, ts_relay_port(r)));
        ASSERT_NE(c.back(), nullptr);
    }
    for (int i = 0; i < 5; i++)
        echo_pattern(c[i].get(), 2000, 1000, (uint64_t)i * 2000);
    EXPECT_EQ(ts_server_connections_open(srv.get()), 5);
    for (auto &s : c)
        close_client(s.get(), TS_DTLS);
}

// Plain UDP through the relay, to see its client table at work: at most
// max_clients at once; a newcomer beyond that is dropped while every slot
// is busy, and takes the slot of the client silent longest once that one
// has been silent for client_idle_ms. The upstream "server" is a bare socket
// the test reads and answers by hand.
// Receives one datagram within |ms|; its byte (and the sender's port), or
// -1.
int recv_byte(int fd, int ms, uint16_t *from_port = nullptr)
{
    struct pollfd p = { fd, POLLIN, 0 };
    struct sockaddr_in a {};
    socklen_t alen = sizeof(a);
    uint8_t b;

    if (poll(&p, 1, ms) != 1)
        return -1;
    if (recvfrom(fd, &b, 1, 0, (struct sockaddr *)&a, &alen) != 1)
        return -1;
    if (from_port != nullptr)
        *from_port = ntohs(a.sin_port);
    return b;
}

// Sends |b| from |fd| (connected to the relay), and has the upstream
// socket answer b + 1 to whichever relay socket it came from. Returns the
// answer the client got, or -1 if the datagram or its answer was lost.
int round_trip(int fd, int up, uint8_t b)
{
    uint16_t via = 0;

    if (send(fd, &b, 1, 0) != 1 || recv_byte(up, 500, &via) != b)
        return -1;
    struct sockaddr_in to {};
    to.sin_family = AF_INET;
    to.sin_port = htons(via);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    uint8_t reply = (uint8_t)(b + 1);
    if (sendto(up, &reply, 1, 0, (struct sockaddr *)&to, sizeof(to)) != 1)
        return -1;
    return recv_byte(fd, 500);
}

TEST(TsRelay, SilentClientsSlotsAreReused)
{
    uint16_t up_port = 0;
    int up = ts_net_bind(SOCK_DGRAM, 0, 0, &up_port);
    ASSERT_GE(up, 0);
    ts_relay_options ro{};
    ro.max_clients = 2;
    ro.client_idle_ms = 1000; // far above any pause between the calls below
    ts_relay *r = nullptr;
    ASSERT_EQ(ts_relay_start(up_port, &ro, &r), 0);
    RelayPtr relay(r);
    int a = ts_net_connect(SOCK_DGRAM, ts_relay_port(r));
    int b = ts_net_connect(SOCK_DGRAM, ts_relay_port(r));
    int c = ts_net_connect(SOCK_DGRAM, ts_relay_port(r));
    ASSERT_GE(a, 0);
    ASSERT_GE(b, 0);
    ASSERT_GE(c, 0);

    EXPECT_EQ(round_trip(a, up, 10), 11);
    EXPECT_EQ(round_trip(b, up, 20), 21);
    // Both slots taken and busy: the third client is dropped.
    uint64_t dropped = ts_relay_dropped(r);
    uint8_t x = 30;
    ASSERT_EQ(send(c, &x, 1, 0), 1);
    EXPECT_EQ(recv_byte(up, 200), -1) << "a third client got through";
    EXPECT_EQ(ts_relay_dropped(r), dropped + 1);
    // Once a is silent long enough (b keeps talking), c takes its slot.
    for (uint64_t t0 = ts_now_ns(); ts_now_ns() - t0 < 1200000000u;) {
        ts_sleep_ms(50);
        ASSERT_EQ(round_trip(b, up, 40), 41);
    }
    EXPECT_EQ(round_trip(c, up, 50), 51);
    EXPECT_EQ(round_trip(b, up, 60), 61) << "b lost its slot instead";
    close(a);
    close(b);
    close(c);
    close(up);
}

TEST(TsCerts, FastDtlsTimerAndIdleTimeoutAreHarmless)
{
    CtxPtr ctx(ts_client_ctx(TS_DTLS));
    SslPtr ssl(SSL_new(ctx.get()));
    ts_dtls_fast_timer(ssl.get());
    ts_quic_set_idle_timeout(ssl.get(), 1000); // not QUIC: no-op
    ts_dtls_fast_timer(nullptr);
    ts_quic_set_idle_timeout(nullptr, 1000);
}

TEST(TsCerts, WritesPemFiles)
{
    std::string dir = ::testing::TempDir();
    std::string c = dir + "ts_cert.pem", k = dir + "ts_key.pem";

    ASSERT_EQ(ts_write_pem_files(c.c_str(), k.c_str()), 0);
    CtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    EXPECT_EQ(SSL_CTX_use_certificate_file(ctx.get(), c.c_str(),
                                           SSL_FILETYPE_PEM), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx.get(), k.c_str(),
                                          SSL_FILETYPE_PEM), 1);
    std::remove(c.c_str());
    std::remove(k.c_str());
}

} // namespace
