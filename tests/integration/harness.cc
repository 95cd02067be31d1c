#include "harness.h"

#include <vector>

const char *ProtoName(ts_proto p)
{
    switch (p) {
    case TS_QUIC:
        return "QUIC";
    case TS_DTLS:
        return "DTLS";
    case TS_TLS:
        return "TLS";
    }
    return "unknown";
}

static const char *ModeName(Mode m)
{
    switch (m) {
    case Mode::Dedicated:
        return "Dedicated";
    }
    return "unknown";
}

std::string VariantName(const testing::TestParamInfo<Variant> &info)
{
    return std::string(ModeName(info.param.mode)) + "_"
           + ProtoName(info.param.proto);
}

testing::internal::ParamGenerator<Variant> AllVariants()
{
    std::vector<Variant> v;

    for (Mode m : { Mode::Dedicated })
        for (ts_proto p : { TS_QUIC, TS_DTLS, TS_TLS })
            v.push_back(Variant { m, p });
    return testing::ValuesIn(v);
}

bool ProtoAvailable(ts_proto p)
{
    return p != TS_QUIC || ts_have_quic();
}

tickless_conn *NewClient(Mode mode, ts_proto proto, uint16_t port,
                         const SslTweak &tweak)
{
    SSL_CTX *ctx = ts_client_ctx(proto);
    SSL *ssl;
    tickless_conn *c = nullptr;
    int rc;

    (void)mode;
    if (ctx == nullptr) {
        ADD_FAILURE() << "ts_client_ctx failed";
        return nullptr;
    }
    ssl = ts_client_new(ctx, proto, port);
    SSL_CTX_free(ctx); /* the SSL keeps its own reference */
    if (ssl == nullptr) {
        ADD_FAILURE() << "ts_client_new failed";
        return nullptr;
    }
    if (tweak)
        tweak(ssl);
    rc = tickless_conn_new(ssl, nullptr, &c);
    if (rc != 0) {
        ADD_FAILURE() << "tickless_conn_new: " << tickless_err_name(rc);
        SSL_free(ssl);
        return nullptr;
    }
    return c;
}

ts_server *StartServer(ts_proto proto, bool sink, uint64_t idle_timeout_ms)
{
    ts_server_options o = {};
    ts_server *s = nullptr;

    o.proto = proto;
    o.sink = sink ? 1 : 0;
    o.idle_timeout_ms = idle_timeout_ms;
    o.fast_dtls_timer = 1;
    if (ts_server_start(&o, &s) != 0) {
        ADD_FAILURE() << "ts_server_start(" << ProtoName(proto) << ") failed";
        return nullptr;
    }
    return s;
}

int WritePattern(tickless_conn *c, uint64_t offset, size_t len, int timeout_ms)
{
    std::vector<uint8_t> buf(len);
    size_t n = 0;
    int rc;

    ts_fill_pattern(buf.data(), len, offset);
    rc = tickless_conn_write(c, buf.data(), len, &n, timeout_ms);
    if (rc == 0) {
        EXPECT_EQ(n, len);
    }
    return rc;
}

int ReadPattern(tickless_conn *c, uint64_t offset, size_t len, int timeout_ms)
{
    std::vector<uint8_t> buf(len);
    size_t got = 0;

    while (got < len) {
        size_t n = 0;
        int rc = tickless_conn_read(c, buf.data() + got, len - got, &n,
                                    timeout_ms);
        if (rc != 0)
            return rc;
        got += n;
    }
    size_t bad = ts_check_pattern(buf.data(), len, offset);
    EXPECT_EQ(bad, len) << "content differs at stream offset " << offset + bad;
    return 0;
}
