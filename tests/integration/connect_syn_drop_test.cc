// A first address whose SYNs go unanswered: its TCP connect() stays in
// progress (SYN_SENT, retransmitting) rather than completing and then
// falling silent (connect_test.cc's black hole accepts the handshake).
// Happy Eyeballs must start the second address after the attempt delay
// and connect within that plus one handshake, not after the first's
// timeout; alone, the address ends in a timeout that names it. Every
// mode: the second attempt's handshake runs on the mode's assist.
#include "connect_fixture.h"
#include "peer_process.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

namespace {

// A TCP listener on [::1]:|port| that drops every SYN: listen(fd, 0)
// admits one connection to its accept queue, a filler takes it and nobody
// accepts it; with the queue full Linux drops each later SYN
// (tcp_conn_request(): a listen queue overflow), so a client's connect()
// stays in progress.
class SynDroppingV6 {
public:
    // False, with why(), if it cannot be made or does not drop SYNs.
    bool Make(uint16_t port)
    {
        sockaddr_in6 a{};
        a.sin6_family = AF_INET6;
        a.sin6_addr = in6addr_loopback;
        a.sin6_port = htons(port);
        int one = 1;
        listener_ = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listener_ < 0
            || setsockopt(listener_, IPPROTO_IPV6, IPV6_V6ONLY, &one,
                          sizeof(one))
                   != 0
            || bind(listener_, reinterpret_cast<sockaddr *>(&a), sizeof(a))
                   != 0
            || listen(listener_, 0) != 0)
            return Fail("listener");
        filler_ = Dial(a);
        // In the accept queue once the listener polls readable.
        pollfd p = { listener_, POLLIN, 0 };
        if (filler_ < 0 || poll(&p, 1, 5000) != 1)
            return Fail("filling the accept queue");
        // Now a connect() must stay in progress.
        int probe = Dial(a);
        pollfd q = { probe, POLLOUT, 0 };
        int n = probe < 0 ? -1 : poll(&q, 1, 300);
        if (probe >= 0)
            close(probe);
        if (n != 0) {
            why_ = "a connect() to the full listener did not stay in "
                   "progress: SYNs are not dropped here";
            return false;
        }
        return true;
    }
    ~SynDroppingV6()
    {
        if (filler_ >= 0)
            close(filler_);
        if (listener_ >= 0)
            close(listener_);
    }
    const std::string &why() const { return why_; }
    // The errno of the step that failed.
    int error() const { return error_; }

private:
    static int Dial(const sockaddr_in6 &a)
    {
        int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                        0);
        if (fd >= 0
            && connect(fd, reinterpret_cast<const sockaddr *>(&a), sizeof(a))
                   != 0
            && errno != EINPROGRESS) {
            close(fd);
            return -1;
        }
        return fd;
    }
    bool Fail(const char *what)
    {
        error_ = errno;
        why_ = std::string(what) + ": " + strerror(errno);
        return false;
    }

    int listener_ = -1, filler_ = -1, error_ = 0;
    std::string why_;
};

class ConnectSynDrop : public testing::TestWithParam<Mode> {
protected:
    void SetUp() override
    {
        ctx_ = ts_client_ctx(TS_TLS);
        ASSERT_NE(ctx_, nullptr);
        o_ = ConnectOptions(&err_);
    }
    void TearDown() override { SSL_CTX_free(ctx_); }

    int ConnectTo(const std::string &port, tickless_conn **c, int timeout_ms)
    {
        return tickless_connect(ctx_, "localhost", port.c_str(), &o_,
                                PoolFor(GetParam()), c, timeout_ms);
    }

    SSL_CTX *ctx_ = nullptr;
    tickless_error_info err_ = TICKLESS_ERROR_INFO_INIT;
    tickless_connect_options o_{};
};

TEST_P(ConnectSynDrop, StuckFirstAddressIsOvertaken)
{
    WarmUp(PoolFor(GetParam()), TS_TLS);
    ts_server *srv = StartServer(TS_TLS);
    ASSERT_NE(srv, nullptr);
    uint16_t p = ts_server_port(srv);
    const int fds = CountFdsExceptPort(p);
    const std::string before = DescribeFdsExceptPort(p);
    {
        SynDroppingV6 hole;
        ASSERT_TRUE(hole.Make(p)) << hole.why();
        ResolveAs as("localhost", "::1,127.0.0.1");
        tickless_conn *c = nullptr;
        // The first address's own end would be this timeout.
        const int timeout = 30000;
        uint64_t t0 = ts_now_ns();
        int rc = ConnectTo(PortOf(srv), &c, timeout);
        double ms = MsSince(t0);
        ASSERT_EQ(rc, 0) << tickless_err_name(rc) << ": " << err_.message;
        EXPECT_GE(ms, o_.attempt_delay_ms * 0.9); // ::1 really had its turn
        EXPECT_LT(ms, (o_.attempt_delay_ms + 5000) * TimeScale());
        ExpectEcho(c);
        tickless_conn_close(c);
    }
    EXPECT_LE(SettlesAt(fds, [p] { return CountFdsExceptPort(p); }), fds)
        << "before:" << before << "\nafter:" << DescribeFdsExceptPort(p);
    ts_server_stop(srv);
}

// The stuck address alone: a timeout on time that names it, and its
// socket closed.
TEST_P(ConnectSynDrop, StuckAddressAloneTimesOut)
{
    WarmUp(PoolFor(GetParam()), TS_TLS);
    // Any free number, nothing else on [::1]. FreeUdpPort() knows UDP's
    // ports only: a TCP socket of another test may hold the number.
    uint16_t p = 0;
    int fds = -1;
    std::unique_ptr<SynDroppingV6> hole;
    for (int tries = 0; tries < 20 && hole == nullptr; tries++) {
        p = FreeUdpPort();
        ASSERT_NE(p, 0);
        fds = CountFdsExceptPort(p);
        auto h = std::make_unique<SynDroppingV6>();
        if (h->Make(p))
            hole = std::move(h);
        else
            ASSERT_EQ(h->error(), EADDRINUSE) << h->why();
    }
    ASSERT_NE(hole, nullptr) << "20 ports in use over TCP";
    {
        ResolveAs as("localhost", "::1");
        std::string port = std::to_string(p);
        tickless_conn *c = nullptr;
        const int timeout = 1000;
        uint64_t t0 = ts_now_ns();
        int rc = ConnectTo(port, &c, timeout);
        double ms = MsSince(t0);
        EXPECT_EQ(rc, TICKLESS_ERR_TIMEOUT) << tickless_err_name(rc);
        EXPECT_EQ(c, nullptr);
        EXPECT_NE(std::string(err_.message).find("[::1]:" + port
                                                 + ": no answer"),
                  std::string::npos)
            << err_.message;
        EXPECT_GE(ms, timeout * 0.9);
        EXPECT_LT(ms, (timeout + 5000) * TimeScale());
    }
    hole.reset();
    EXPECT_LE(SettlesAt(fds, [p] { return CountFdsExceptPort(p); }), fds);
}

INSTANTIATE_TEST_SUITE_P(AllModes, ConnectSynDrop,
                         EveryMode(), ModeParamName);

} // namespace
