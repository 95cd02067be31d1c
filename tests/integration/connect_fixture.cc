// See connect_fixture.h.
#include "connect_fixture.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace {

int FastDtlsTimer(SSL *ssl, void *)
{
    ts_dtls_fast_timer(ssl);
    return 1;
}

} // namespace

namespace {

// Calls fn(fd, name) for each of this process's descriptors but sockets
// bound to local port |port|. -1 if they cannot be read, else 0.
template <typename F> int ForEachFdExceptPort(uint16_t port, F fn)
{
    return ForEachEntry("/proc/self/fd", [&](const char *name, int self) {
        int fd = std::atoi(name);
        if (fd == self)
            return;
        ts_sockaddr a;
        socklen_t len = sizeof(a);
        if (getsockname(fd, &a.sa, &len) == 0
            && (a.sa.sa_family == AF_INET || a.sa.sa_family == AF_INET6)
            && ts_net_local_port(fd) == port)
            return; // the server's, or the hole beside it
        fn(fd, name);
    });
}

} // namespace

int CountFdsExceptPort(uint16_t port)
{
    int n = 0;
    if (ForEachFdExceptPort(port, [&](int, const char *) { n++; }) != 0)
        return -1;
    return n;
}

std::string DescribeFdsExceptPort(uint16_t port)
{
    std::string out;
    (void)ForEachFdExceptPort(port, [&](int fd, const char *name) {
        char path[300], target[128];
        snprintf(path, sizeof(path), "/proc/self/fd/%s", name);
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        out += std::string(" ") + name + "=" + target;
        if (ts_net_local_port(fd) != 0)
            out += "(port " + std::to_string(ts_net_local_port(fd)) + ")";
    });
    return out;
}

tickless_connect_options ConnectOptions(tickless_error_info *err)
{
    tickless_connect_options o;
    tickless_connect_options_defaults(&o);
    o.alpn = TS_ALPN;
    o.ssl_setup = FastDtlsTimer;
    o.error = err;
    return o;
}

void ExpectEcho(tickless_conn *c)
{
    const char msg[] = "ping\n";
    char buf[5];
    size_t n = 0;
    ASSERT_EQ(tickless_conn_write(c, msg, 5, &n, kConnectTimeoutMs), 0);
    int rc = ReadExactly(c, buf, sizeof(buf), kConnectTimeoutMs);
    ASSERT_EQ(rc, 0) << tickless_err_name(rc);
    EXPECT_EQ(std::string(buf, sizeof(buf)), "ping\n");
}

void WarmUp(tickless_pool *pool, ts_proto p)
{
    ts_server *srv = StartServer(p);
    ASSERT_NE(srv, nullptr);
    ClientCtx ctx(p);
    tickless_connect_options o = ConnectOptions(nullptr);
    std::string port = PortOf(srv);
    tickless_conn *c = nullptr;
    // Both families, as the tests will: a refused ::1 attempt included.
    {
        ResolveAs as("localhost", "::1,127.0.0.1");
        ASSERT_EQ(tickless_connect(ctx.ctx, "localhost", port.c_str(), &o,
                                   pool, &c, kConnectTimeoutMs),
                  0);
    }
    // A read that waits (the server sends nothing unasked): this thread's
    // self-poll wake-up descriptor is made on its first wait, and stays
    // until the thread ends. Without the wait it was made, or not, inside
    // a test's own reads, and counted as a leak one run in three.
    char b;
    size_t n = 0;
    EXPECT_EQ(tickless_conn_read(c, &b, 1, &n, 20), TICKLESS_ERR_TIMEOUT);
    tickless_conn_close(c);
    ts_server_stop(srv);
}

ts_server *StartServerOn(ts_proto proto, int bind_to)
{
    ts_server_options o = {};

    o.proto = proto;
    o.bind_to = bind_to;
    return StartServerWith(o);
}

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

std::string PortOf(ts_server *srv)
{
    return std::to_string(ts_server_port(srv));
}

void ConnectFixture::SetUp()
{
    SKIP_UNLESS_AVAILABLE(GetParam().proto);
    ctx_ = ts_client_ctx(Proto());
    ASSERT_NE(ctx_, nullptr);
    o_ = ConnectOptions(&err_);
}

void ConnectFixture::TearDown()
{
    SSL_CTX_free(ctx_);
}

int ConnectFixture::ConnectTo(const char *host, const std::string &port,
                              tickless_conn **c, int timeout_ms)
{
    return tickless_connect(ctx_, host, port.c_str(), &o_, Pool(), c,
                            timeout_ms);
}
