// DTLS against stacks tickless did not write: OpenSSL's command-line peers
// (whichever OpenSSL this build runs on: 3.0 on the host, 3.5 in the root)
// and GnuTLS's (gnutls-bin). Both directions, 1 MiB each way, every byte
// checked, in every assist mode:
//  - a tickless client against `openssl s_server -dtls` and
//    `gnutls-serv --udp --echo`;
//  - a tickless server (the application listens with DTLSv1_listen and
//    hands the connection to tickless, the pattern docs/guide.md shows)
//    against `openssl s_client -dtls` and `gnutls-cli --udp`.
//
// DTLS does not retransmit application data, and the command-line peers
// read and write as fast as they can: data is exchanged in 1 KiB steps,
// each one acknowledged before the next, so no socket buffer overflows on
// loopback and a lost byte is a real failure.
#include "harness.h"
#include "peer_process.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "ts_net.h"
}

namespace {

const size_t kChunk = 1024;
const size_t kTotal = 1 << 20;
const int kStepMs = 10000; // per 1 KiB step: generous, it takes a millisecond

// 1023 letters and digits and a newline: GnuTLS's echo and the
// command-line tools are line-oriented, and gnutls-serv takes lines that
// start with "**" for commands. Different for every step.
std::string Line(size_t step)
{
    static const char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::string s(kChunk, ' ');
    for (size_t i = 0; i + 1 < kChunk; i++)
        s[i] = kAlphabet[(step * 7 + i * 13) % (sizeof(kAlphabet) - 1)];
    s[kChunk - 1] = '\n';
    return s;
}

// Connects a tickless DTLS client to a peer that may still be starting:
// until it listens, the ClientHello meets ICMP port unreachable and the
// handshake fails at once, so it is simply retried.
tickless_conn *ConnectWhenListening(Mode mode, uint16_t port)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        tickless_conn *c = NewClient(mode, TS_DTLS, port, ts_dtls_fast_timer);
        if (c == nullptr)
            return nullptr;
        int rc = tickless_conn_handshake(c, 2000);
        if (rc == 0)
            return c;
        tickless_conn_close(c);
        ts_sleep_ms(50);
    }
    return nullptr;
}

class DtlsInterop : public testing::TestWithParam<Mode> {};

// ---- a tickless client ----------------------------------------------------

TEST_P(DtlsInterop, ClientAgainstOpensslServer)
{
    NEED_PEER(MissingProgram("openssl", "openssl"));
    PemFiles pem;
    ASSERT_TRUE(pem.Make());
    uint16_t port = FreeUdpPort();
    ASSERT_NE(port, 0);
    PeerProcess srv;
    // -quiet: stdout carries only the data received (and no command
    // letters are read from stdin); -naccept 1: one connection, then exit.
    ASSERT_TRUE(srv.Start({ "openssl", "s_server", "-dtls", "-accept",
                            std::to_string(port), "-cert", pem.cert, "-key",
                            pem.key, "-quiet", "-naccept", "1" },
                          pem.dir))
        << srv.Error();
    tickless_conn *c = ConnectWhenListening(GetParam(), port);
    ASSERT_NE(c, nullptr) << "no handshake with s_server: " << srv.LogTail();

    std::vector<char> got(kChunk);
    // Client to server: what tickless writes comes out of s_server's stdout.
    for (size_t off = 0; off < kTotal; off += kChunk) {
        std::string line = Line(off / kChunk);
        size_t n = 0;
        ASSERT_EQ(tickless_conn_write(c, line.data(), kChunk, &n, kStepMs), 0);
        ASSERT_EQ(srv.Read(got.data(), kChunk, kStepMs), kChunk)
            << "s_server printed less at offset " << off << ": "
            << srv.LogTail();
        ASSERT_EQ(std::memcmp(got.data(), line.data(), kChunk), 0)
            << "at offset " << off;
    }
    // Server to client: what s_server reads on stdin reaches tickless.
    for (size_t off = 0; off < kTotal; off += kChunk) {
        std::string line = Line(off / kChunk + 7);
        ASSERT_TRUE(srv.Write(line.data(), kChunk)) << srv.LogTail();
        int rc = ReadExactly(c, got.data(), kChunk, kStepMs);
        ASSERT_EQ(rc, 0) << tickless_err_name(rc) << " at offset " << off;
        ASSERT_EQ(std::memcmp(got.data(), line.data(), kChunk), 0)
            << "at offset " << off;
    }
    EXPECT_EQ(tickless_conn_shutdown(c, kStepMs), 0);
    tickless_conn_close(c);
}

TEST_P(DtlsInterop, ClientAgainstGnutlsEchoServer)
{
    NEED_PEER(MissingProgram("gnutls-serv", "gnutls-bin"));
    PemFiles pem;
    ASSERT_TRUE(pem.Make());
    uint16_t port = FreeUdpPort();
    ASSERT_NE(port, 0);
    PeerProcess srv;
    ASSERT_TRUE(srv.Start({ "gnutls-serv", "--udp", "--echo", "-p",
                            std::to_string(port), "--x509certfile", pem.cert,
                            "--x509keyfile", pem.key },
                          pem.dir, false)) // it prints all it echoes
        << srv.Error();
    tickless_conn *c = ConnectWhenListening(GetParam(), port);
    ASSERT_NE(c, nullptr) << "no handshake with gnutls-serv: "
                          << srv.LogTail();

    std::vector<char> got(kChunk);
    for (size_t off = 0; off < kTotal; off += kChunk) {
        std::string line = Line(off / kChunk);
        size_t n = 0;
        ASSERT_EQ(tickless_conn_write(c, line.data(), kChunk, &n, kStepMs), 0);
        int rc = ReadExactly(c, got.data(), kChunk, kStepMs);
        ASSERT_EQ(rc, 0) << tickless_err_name(rc) << " at offset " << off
                         << ": " << srv.LogTail();
        ASSERT_EQ(std::memcmp(got.data(), line.data(), kChunk), 0)
            << "at offset " << off;
    }
    EXPECT_EQ(tickless_conn_shutdown(c, kStepMs), 0);
    tickless_conn_close(c);
}

// ---- a tickless server ----------------------------------------------------

// Stateless cookies (RFC 6347 4.2.1): an HMAC of the client's address
// under a key of this process, so that only a client that can receive at
// its address gets a connection.
unsigned char g_cookie_key[32];

int CookieFor(SSL *ssl, unsigned char *out, unsigned int *len)
{
    BIO_ADDR *peer = BIO_ADDR_new();
    unsigned char addr[64];
    size_t alen = 0, mlen = 0;
    int ok = peer != nullptr
             && BIO_dgram_get_peer(SSL_get_rbio(ssl), peer) > 0
             && BIO_ADDR_rawaddress(peer, addr, &alen) && alen + 2 <= 64;

    if (ok) {
        unsigned short port = BIO_ADDR_rawport(peer);
        std::memcpy(addr + alen, &port, 2);
        ok = EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr,
                       g_cookie_key, sizeof(g_cookie_key), addr, alen + 2,
                       out, DTLS1_COOKIE_LENGTH, &mlen)
             != nullptr;
    }
    BIO_ADDR_free(peer);
    *len = (unsigned int)mlen;
    return ok;
}

int GenerateCookie(SSL *ssl, unsigned char *cookie, unsigned int *len)
{
    return CookieFor(ssl, cookie, len);
}

int VerifyCookie(SSL *ssl, const unsigned char *cookie, unsigned int len)
{
    unsigned char want[DTLS1_COOKIE_LENGTH];
    unsigned int wlen = 0;

    return CookieFor(ssl, want, &wlen) && wlen == len
           && CRYPTO_memcmp(want, cookie, len) == 0;
}

// Waits for one client on |listen_fd| (DTLSv1_listen: cookie exchange,
// no state kept before it), moves it to a socket of its own connected to
// the client, and hands it to tickless, which finishes the handshake.
tickless_conn *AcceptOne(SSL_CTX *ctx, int listen_fd, uint16_t port,
                         tickless_pool *pool, int timeout_ms)
{
    SSL *ssl = SSL_new(ctx);
    BIO *bio = BIO_new_dgram(listen_fd, BIO_NOCLOSE);
    BIO_ADDR *peer = BIO_ADDR_new();
    tickless_conn *c = nullptr;
    uint64_t end = ts_now_ns() + (uint64_t)timeout_ms * 1000000u;
    int fd = -1;

    if (ssl == nullptr || bio == nullptr || peer == nullptr) {
        BIO_free(bio);
        goto out;
    }
    SSL_set_bio(ssl, bio, bio);
    for (;;) {
        struct pollfd p = { listen_fd, POLLIN, 0 };
        if (ts_now_ns() >= end)
            goto out;
        if (poll(&p, 1, 100) <= 0)
            continue;
        ERR_clear_error();
        int rc = DTLSv1_listen(ssl, peer); // 1: a hello with a valid cookie
        if (rc > 0)
            break;
        if (rc < 0)
            goto out;
    }
    {
        struct sockaddr_in local = {}, remote = {};
        int one = 1;
        local.sin_family = remote.sin_family = AF_INET;
        local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        local.sin_port = htons(port);
        size_t alen = sizeof(remote.sin_addr);
        if (!BIO_ADDR_rawaddress(peer, &remote.sin_addr, &alen))
            goto out;
        remote.sin_port = BIO_ADDR_rawport(peer);
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0
            || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0
            || bind(fd, (struct sockaddr *)&local, sizeof(local)) != 0
            || connect(fd, (struct sockaddr *)&remote, sizeof(remote)) != 0)
            goto out;
    }
    // The connection's BIO now reads and writes its own socket.
    BIO_set_fd(SSL_get_rbio(ssl), fd, BIO_CLOSE);
    fd = -1;
    (void)BIO_ctrl(SSL_get_rbio(ssl), BIO_CTRL_DGRAM_SET_CONNECTED, 0, peer);
    if (tickless_conn_new(ssl, pool, &c) != 0)
        goto out;
    ssl = nullptr; // tickless owns it now
    if (tickless_conn_handshake(c, timeout_ms) != 0) {
        tickless_conn_close(c);
        c = nullptr;
    }
out:
    if (fd >= 0)
        close(fd);
    SSL_free(ssl);
    BIO_ADDR_free(peer);
    return c;
}

// Echoes everything back until the peer closes or the connection ends.
void EchoUntilEnd(tickless_conn *c, std::atomic<uint64_t> *echoed)
{
    char buf[4096];
    for (;;) {
        size_t n = 0, w = 0;
        if (tickless_conn_read(c, buf, sizeof(buf), &n, 60000) != 0)
            return;
        if (tickless_conn_write(c, buf, n, &w, 10000) != 0)
            return;
        *echoed += n;
    }
}

// Starts |program| with |args| ("{port}" and "{dir}" filled in) as a
// client of a tickless server in |mode|, and checks 1 MiB of lines sent
// through the client's stdin come back on its stdout, echoed by tickless.
void RunServerAgainst(Mode mode, const char *program,
                      const std::vector<std::string> &args)
{
    PemFiles pem;
    ASSERT_TRUE(pem.Make());
    ASSERT_EQ(RAND_bytes(g_cookie_key, sizeof(g_cookie_key)), 1);
    SSL_CTX *ctx = ts_server_ctx(TS_DTLS);
    ASSERT_NE(ctx, nullptr);
    SSL_CTX_set_cookie_generate_cb(ctx, GenerateCookie);
    SSL_CTX_set_cookie_verify_cb(ctx, VerifyCookie);
    SSL_CTX_set_options(ctx, SSL_OP_COOKIE_EXCHANGE);
    uint16_t port = 0;
    int listen_fd = ts_net_bind(SOCK_DGRAM, 0, 1, &port);
    ASSERT_GE(listen_fd, 0);

    std::vector<std::string> argv = { program };
    for (const std::string &a : args) {
        std::string arg = a;
        size_t at = arg.find("{port}");
        if (at != std::string::npos)
            arg.replace(at, 6, std::to_string(port));
        at = arg.find("{dir}");
        if (at != std::string::npos)
            arg.replace(at, 5, pem.dir);
        argv.push_back(arg);
    }
    PeerProcess cli;
    ASSERT_TRUE(cli.Start(argv, pem.dir)) << cli.Error();
    tickless_conn *c = AcceptOne(ctx, listen_fd, port, PoolFor(mode), 20000);
    ASSERT_NE(c, nullptr) << "no connection from " << program << ": "
                          << cli.LogTail();
    std::atomic<uint64_t> echoed{ 0 };
    std::thread echo(EchoUntilEnd, c, &echoed);

    std::vector<char> got(kChunk);
    bool ok = true;
    for (size_t off = 0; ok && off < kTotal; off += kChunk) {
        std::string line = Line(off / kChunk);
        ok = cli.Write(line.data(), kChunk);
        EXPECT_TRUE(ok) << program << " is gone: " << cli.LogTail();
        if (!ok)
            break;
        size_t n = cli.Read(got.data(), kChunk, kStepMs);
        EXPECT_EQ(n, kChunk) << program << " printed less at offset " << off
                             << ": " << cli.LogTail();
        ok = n == kChunk && std::memcmp(got.data(), line.data(), kChunk) == 0;
        EXPECT_TRUE(ok) << "echo differs at offset " << off;
    }
    cli.Stop(); // the peer vanishes without close_notify ...
    tickless_conn_close(c); // ... and closing wakes the echo's read
    echo.join();
    if (ok) {
        EXPECT_EQ(echoed.load(), (uint64_t)kTotal);
    }
    close(listen_fd);
    SSL_CTX_free(ctx);
}

TEST_P(DtlsInterop, ServerAgainstOpensslClient)
{
    NEED_PEER(MissingProgram("openssl", "openssl"));
    // -quiet: only the data on stdout, no command letters from stdin.
    RunServerAgainst(GetParam(), "openssl",
                     { "s_client", "-dtls", "-connect", "127.0.0.1:{port}",
                       "-quiet", "-nocommands" });
}

TEST_P(DtlsInterop, ServerAgainstGnutlsClient)
{
    NEED_PEER(MissingProgram("gnutls-cli", "gnutls-bin"));
    // Informational messages go to the log file: stdout carries only data.
    RunServerAgainst(GetParam(), "gnutls-cli",
                     { "--udp", "--insecure", "--logfile={dir}/gnutls-cli.info",
                       "-p", "{port}", "127.0.0.1" });
}

INSTANTIATE_TEST_SUITE_P(AllModes, DtlsInterop,
                         EveryMode(), ModeParamName);

} // namespace
