// tickless_listener_new_dtls() against clients tickless did not write
// (`openssl s_client -dtls`, `gnutls-cli --udp`), in every assist mode:
// many at once, some of them through 20 % loss during their handshake; and
// on IPv4 and IPv6 through one dual-stack socket.
//
// The server here is what a user writes: a few accept workers, each
// finishing a client's handshake and handing it to an echo thread.
#include "harness.h"
#include "peer_process.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "ts_relay.h"
}

namespace {

const size_t kLine = 1024;

// A line of letters and digits ending in a newline (the command-line
// peers are line-oriented), different for every client and step.
std::string Line(int client, int step)
{
    static const char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::string s(kLine, ' ');
    for (size_t i = 0; i + 1 < kLine; i++)
        s[i] = kAlphabet[(client * 31 + step * 7 + i * 13)
                         % (sizeof(kAlphabet) - 1)];
    s[kLine - 1] = '\n';
    return s;
}

bool HaveIpv6Loopback()
{
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 sin6 = {};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_addr = in6addr_loopback;
    bool ok = fd >= 0
              && bind(fd, reinterpret_cast<struct sockaddr *>(&sin6),
                      sizeof(sin6))
                     == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

// The server: |workers| threads accept, finish each handshake and give the
// connection to an echo thread of its own.
class EchoServer {
public:
    EchoServer(tickless_listener *l, int workers) : l_(l)
    {
        for (int i = 0; i < workers; i++)
            workers_.emplace_back([this] { Accept(); });
    }
    ~EchoServer() { Stop(); }
    int Handshaken() const { return handshaken_.load(); }
    // Connections accepted, whether or not their handshake completed.
    int Accepted() const { return accepted_.load(); }
    uint64_t Echoed() const { return echoed_.load(); }
    // Closes the listener (the accepts return), then every connection.
    void Stop()
    {
        if (l_ == nullptr)
            return;
        tickless_listener_close(l_);
        for (auto &t : workers_)
            t.join();
        {
            std::lock_guard<std::mutex> lock(mu_);
            for (tickless_conn *c : conns_)
                tickless_conn_close(c); // wakes its echo thread
        }
        for (auto &t : echoes_)
            t.join();
        tickless_listener_free(l_);
        l_ = nullptr;
    }

private:
    void Accept()
    {
        tickless_conn *c = nullptr;
        while (tickless_listener_accept(l_, &c, TICKLESS_FOREVER) == 0) {
            accepted_++;
            int rc = tickless_conn_handshake(c, 60000);
            std::lock_guard<std::mutex> lock(mu_);
            conns_.push_back(c);
            if (rc != 0)
                continue; // closed with the others
            handshaken_++;
            echoes_.emplace_back([this, c] { Echo(c); });
        }
    }
    void Echo(tickless_conn *c)
    {
        char buf[4096];
        size_t n = 0, w = 0;
        while (tickless_conn_read(c, buf, sizeof(buf), &n, 120000) == 0
               && tickless_conn_write(c, buf, n, &w, 10000) == 0)
            echoed_ += n;
    }

    tickless_listener *l_;
    std::vector<std::thread> workers_;
    std::mutex mu_;
    std::vector<tickless_conn *> conns_;   // guarded by mu_
    std::vector<std::thread> echoes_;      // guarded by mu_
    std::atomic<int> handshaken_{0};
    std::atomic<int> accepted_{0};
    std::atomic<uint64_t> echoed_{0};
};

// A command-line client of |host|:|port|: openssl s_client or gnutls-cli.
std::unique_ptr<PeerProcess> StartClient(bool gnutls, const std::string &host,
                                         uint16_t port, const PemFiles &pem,
                                         int index)
{
    auto p = std::make_unique<PeerProcess>();
    std::vector<std::string> argv;
    if (gnutls)
        argv = { "gnutls-cli", "--udp", "--insecure",
                 "--logfile=" + pem.dir + "/gnutls-" + std::to_string(index),
                 "-p", std::to_string(port), host };
    else
        argv = { "openssl", "s_client", "-dtls", "-connect",
                 (host.find(':') != std::string::npos ? "[" + host + "]"
                                                       : host)
                     + ":" + std::to_string(port),
                 "-quiet", "-nocommands" };
    EXPECT_TRUE(p->Start(argv, pem.dir)) << p->Error();
    return p;
}

// Sends |steps| lines through each client and checks each echo. A client
// whose handshake ended under loss may still be waiting to learn that the
// server got its last flight (the server's answer was lost): it sends the
// flight again only when its retransmission timer fires, which doubles up
// to 60 s. The first echo may wait for that.
void ExpectEchoes(std::vector<std::unique_ptr<PeerProcess>> &clients,
                  int steps)
{
    std::vector<char> got(kLine);
    uint64_t slowest_ns = 0;
    for (int step = 0; step < steps; step++)
        for (size_t i = 0; i < clients.size(); i++) {
            std::string line = Line((int)i, step);
            uint64_t t0 = ts_now_ns();
            ASSERT_TRUE(clients[i]->Write(line.data(), kLine))
                << "client " << i << " is gone: " << clients[i]->LogTail();
            ASSERT_EQ(clients[i]->Read(got.data(), kLine,
                                       step == 0 ? 70000 : 20000),
                      kLine)
                << "client " << i << " step " << step << ": "
                << clients[i]->LogTail();
            slowest_ns = std::max(slowest_ns, ts_now_ns() - t0);
            ASSERT_EQ(std::memcmp(got.data(), line.data(), kLine), 0)
                << "client " << i << " step " << step;
        }
    std::cout << "slowest echo: " << slowest_ns / 1000000 << " ms\n";
}

// Waits until |server| has finished |n| handshakes, at most |ms|.
bool WaitForHandshakes(const EchoServer &server, int n, int ms)
{
    uint64_t end = ts_now_ns() + (uint64_t)(ms * TimeScale()) * 1000000u;
    while (server.Handshaken() < n && ts_now_ns() < end)
        ts_sleep_ms(20);
    return server.Handshaken() >= n;
}

class DtlsListenerInterop : public testing::TestWithParam<Mode> {
protected:
    // Makes pem_ (for the clients' logs), then a listener of |family| in
    // the test's mode, on port_, served by |workers| accept workers; nullptr,
    // with a test failure added, on failure.
    std::unique_ptr<EchoServer> Serve(int family, int workers)
    {
        if (!pem_.Make()) {
            ADD_FAILURE() << "cannot write the PEM files";
            return nullptr;
        }
        tickless_listener *l = NewDtlsListener(GetParam(), family, &port_);
        if (l == nullptr)
            return nullptr;
        return std::make_unique<EchoServer>(l, workers);
    }

    PemFiles pem_;
    uint16_t port_ = 0;
};

} // namespace

// 25 `openssl s_client -dtls` and 25 `gnutls-cli --udp` at once against 4
// accept workers; 6 of them (GnuTLS ones) reach the server through a relay
// that drops 20 % of the datagrams each way until every handshake is done,
// or for 20 s at most (DTLS does not retransmit application data, only the
// handshake). Then every client's lines come back exact. The cap: a
// GnuTLS client gives up after 60 s and, by its log, discards the
// server's repeated flight rather than answering it with its own, so
// under 20 % loss on a loaded machine one of six once lost every
// retransmission of its last flight (a whole suite run beside other
// builds). 20 s
// still take each lossy handshake through several rounds of loss.
TEST_P(DtlsListenerInterop, FiftyOpensslAndGnutlsClientsSomeThroughLoss)
{
    NEED_PEER(MissingProgram("openssl", "openssl"));
    NEED_PEER(MissingProgram("gnutls-cli", "gnutls-bin"));
    std::unique_ptr<EchoServer> server = Serve(AF_INET, 4);
    ASSERT_NE(server, nullptr);
    ts_relay_options ro = SeededRelay(20);
    ro.loss = 0.20;
    ts_relay *relay = nullptr;
    ASSERT_EQ(ts_relay_start(port_, &ro, &relay), 0);

    // The lossy ones are GnuTLS clients (the odd ones of the first 12). An
    // `openssl s_client` 3.0 client through the same loss sometimes never
    // sent its first line, its handshake done on both sides by then and
    // the loss over: not understood yet (docs/reliability.md).
    const int kClients = 50, kLossyBelow = 12;
    std::vector<std::unique_ptr<PeerProcess>> clients;
    for (int i = 0; i < kClients; i++) {
        bool lossy = i % 2 == 1 && i < kLossyBelow;
        clients.push_back(StartClient(i % 2 == 1, "127.0.0.1",
                                      lossy ? ts_relay_port(relay) : port_,
                                      pem_, i));
    }
    (void)WaitForHandshakes(*server, kClients, 20000);
    ts_relay_set_loss(relay, 0);
    EXPECT_TRUE(WaitForHandshakes(*server, kClients, 70000))
        << server->Handshaken() << " of " << kClients << " handshakes";
    ExpectEchoes(clients, 4);
    EXPECT_EQ(server->Accepted(), kClients) << "connections accepted";
    // The server counts a line once its write has returned, which can be
    // just after its client has read the line back (one line short, once
    // in a CI dry run).
    const uint64_t all = (uint64_t)kClients * 4 * kLine;
    for (int i = 0; i < 500 && server->Echoed() < all; i++)
        ts_sleep_ms(10);
    EXPECT_EQ(server->Echoed(), all);
    for (auto &c : clients)
        c->Stop();
    server->Stop();
    ts_relay_stop(relay);
}

// One dual-stack socket (:: with IPV6_V6ONLY off) serves a client of
// 127.0.0.1 and one of ::1: each accepted connection's socket is of the
// listener's family, connected to the client's (v4-mapped) address.
TEST_P(DtlsListenerInterop, DualStackServesIpv4AndIpv6Clients)
{
    NEED_PEER(MissingProgram("openssl", "openssl"));
    if (!HaveIpv6Loopback())
        GTEST_SKIP() << "this host has no IPv6 loopback";
    std::unique_ptr<EchoServer> server = Serve(AF_INET6, 2);
    ASSERT_NE(server, nullptr);
    std::vector<std::unique_ptr<PeerProcess>> clients;
    clients.push_back(StartClient(false, "127.0.0.1", port_, pem_, 0));
    clients.push_back(StartClient(false, "::1", port_, pem_, 1));
    EXPECT_TRUE(WaitForHandshakes(*server, 2, 30000));
    ExpectEchoes(clients, 3);
    for (auto &c : clients)
        c->Stop();
    server->Stop();
}

INSTANTIATE_TEST_SUITE_P(AllModes, DtlsListenerInterop, EveryMode(),
                         ModeParamName);
