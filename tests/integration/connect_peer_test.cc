// tickless_connect() to servers tickless did not write, each bound as it
// binds by default or as told (IPv4 only, IPv6 only, dual stack), reached
// through "localhost" resolved ::1 first: gnutls-serv (DTLS, TLS),
// openssl s_server (DTLS, TLS) and aioquic (QUIC). Each connection then
// sends a line, echoed back or read by the peer.
#include "connect_fixture.h"
#include "peer_process.h"

#include <cstring>
#include <string>
#include <vector>

namespace {

// Connects |ctx| to localhost:|port| (resolved ::1 then 127.0.0.1), trying
// again while the peer is still starting. 0 or the last error.
int ConnectWhenListening(SSL_CTX *ctx, uint16_t port, const char *alpn,
                         tickless_conn **c, tickless_error_info *err)
{
    tickless_connect_options o = ConnectOptions(err);
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
    ClientCtx ctx(k.proto);
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
        ASSERT_EQ(tickless_conn_write(c, "ping\n", 5, &n, kConnectTimeoutMs), 0);
        ASSERT_EQ(srv.Read(got, 5, kConnectTimeoutMs), 5u) << srv.LogTail();
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
