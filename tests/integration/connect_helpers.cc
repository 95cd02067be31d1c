#include "connect_helpers.h"

#include <string>

extern "C" {
#include "core/connect.h"
}

ResolveAs::ResolveAs(const char *host, const char *addrs)
{
    tl_connect_set_resolve_override(host, addrs);
}

ResolveAs::~ResolveAs()
{
    tl_connect_set_resolve_override(nullptr, nullptr);
}

namespace {

int FastDtlsTimer(SSL *ssl, void *)
{
    ts_dtls_fast_timer(ssl);
    return 1;
}

} // namespace

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
    std::string port = std::to_string(ts_server_port(srv));
    tickless_conn *c = nullptr;
    // Both families, as the tests will: a refused ::1 attempt included.
    tl_connect_set_resolve_override("localhost", "::1,127.0.0.1");
    ASSERT_EQ(tickless_connect(ctx.ctx, "localhost", port.c_str(), &o,
                               pool, &c, kConnectTimeoutMs),
              0);
    tl_connect_set_resolve_override(nullptr, nullptr);
    tickless_conn_close(c);
    ts_server_stop(srv);
}
