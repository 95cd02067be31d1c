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
//  - A socket failure unwinds cleanly.
// (Allocation failures: ConnectAllocFail; bad arguments: ConnectArgs;
// peers tickless did not write: ConnectPeer.)
#include "connect_fixture.h"
#include "peer_process.h" // FreeUdpPort()

#include <arpa/inet.h>
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
#include "base/sysfail.h"
}

namespace {

// Each test connects as ConnectFixture does, and may serve its own
// protocol with srv_.
class Connect : public ConnectFixture {
protected:
    void TearDown() override
    {
        if (srv_ != nullptr)
            StopServer();
        ConnectFixture::TearDown();
    }

    // Starts srv_, a server of the test's protocol, stopped after the test
    // unless the test stops it first; false, with a test failure added,
    // if it cannot.
    bool Serve()
    {
        srv_ = StartServer(Proto());
        return srv_ != nullptr;
    }
    std::string ServerPort() const
    {
        return std::to_string(ts_server_port(srv_));
    }
    void StopServer()
    {
        ts_server_stop(srv_);
        srv_ = nullptr;
    }

    // The sockets this process has open once what tickless makes once per
    // thread or pool exists (WarmUp()): what a test that leaks none must
    // come back to.
    int WarmUpAndCountSockets()
    {
        WarmUp(Pool(), Proto());
        return CountSockets();
    }

    ts_server *srv_ = nullptr;
};

// The common /etc/hosts: localhost is ::1 first. A server bound to
// 127.0.0.1 only must still be reached.
TEST_P(Connect, LocalhostReachesIpv4OnlyServer)
{
    ASSERT_TRUE(Serve());
    ResolveAs as("localhost", "::1,127.0.0.1");
    tickless_conn *c = nullptr;
    int rc = ConnectTo("localhost", ServerPort(), &c);
    ASSERT_EQ(rc, 0) << tickless_err_name(rc) << ": " << err_.message;
    EXPECT_EQ(err_.code, 0);
    ExpectEcho(c);
    tickless_conn_close(c);
    StopServer();
}

// And with the machine's own resolver, and an IP literal.
TEST_P(Connect, RealResolverAndLiteral)
{
    ASSERT_TRUE(Serve());
    for (const char *host : { "localhost", "127.0.0.1" }) {
        tickless_conn *c = nullptr;
        int rc = ConnectTo(host, ServerPort(), &c);
        ASSERT_EQ(rc, 0) << host << ": " << tickless_err_name(rc) << ": "
                         << err_.message;
        ExpectEcho(c);
        tickless_conn_close(c);
    }
    StopServer();
}

// ::1 takes everything and answers nothing; 127.0.0.1 is live. The
// connection must come within the attempt delay plus one handshake.
TEST_P(Connect, BlackHoledFirstAddressIsOvertaken)
{
    // The server's ephemeral port on 127.0.0.1 may be taken on ::1 by
    // another test running at the same time (seen once in CI): then
    // another server, on another port.
    int hole = -1;
    for (int tries = 0; tries < 20 && hole < 0; tries++) {
        if (srv_ != nullptr)
            StopServer();
        ASSERT_TRUE(Serve());
        hole = SilentV6(Proto() == TS_TLS ? SOCK_STREAM : SOCK_DGRAM,
                        ts_server_port(srv_));
    }
    ASSERT_GE(hole, 0) << "20 ports taken on [::1]: " << strerror(errno);
    ResolveAs as("localhost", "::1,127.0.0.1");
    tickless_conn *c = nullptr;
    uint64_t t0 = ts_now_ns();
    int rc = ConnectTo("localhost", ServerPort(), &c);
    double ms = (ts_now_ns() - t0) / 1e6;
    ASSERT_EQ(rc, 0) << tickless_err_name(rc) << ": " << err_.message;
    EXPECT_GE(ms, o_.attempt_delay_ms * 0.9); // ::1 really had its turn
    EXPECT_LT(ms, (o_.attempt_delay_ms + 5000) * TimeScale());
    ExpectEcho(c);
    tickless_conn_close(c);
    close(hole);
    StopServer();
}

// The certificate names localhost and 127.0.0.1, not this.
TEST_P(Connect, WrongHostNameFailsWithVerifyResult)
{
    // Counted around the server: it keeps a socket per client a while.
    int fds = WarmUpAndCountSockets();
    ASSERT_TRUE(Serve());
    ResolveAs as("wrong.example", "127.0.0.1");
    tickless_conn *c = nullptr;
    int rc = ConnectTo("wrong.example", ServerPort(), &c);
    EXPECT_EQ(rc, TICKLESS_ERR_SSL) << tickless_err_name(rc);
    EXPECT_EQ(c, nullptr);
    EXPECT_EQ(err_.code, TICKLESS_ERR_SSL);
    EXPECT_EQ(err_.verify_result, X509_V_ERR_HOSTNAME_MISMATCH)
        << err_.message;
    EXPECT_NE(std::strstr(err_.message, "certificate verify failed"), nullptr)
        << err_.message;
    StopServer();
    EXPECT_LE(SocketsSettleAt(fds), fds);
    ASSERT_TRUE(Serve());

    // Switched off, loudly, it connects.
    o_.insecure_no_verify = 1;
    rc = ConnectTo("wrong.example", ServerPort(), &c);
    ASSERT_EQ(rc, 0) << tickless_err_name(rc) << ": " << err_.message;
    tickless_conn_close(c);
    StopServer();
}

TEST_P(Connect, UnknownHostIsNotFound)
{
    tickless_conn *c = nullptr;
    int fds = WarmUpAndCountSockets();
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
    int fds = WarmUpAndCountSockets();
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
    int fds = WarmUpAndCountSockets();
    ASSERT_TRUE(Serve());
    ResolveAs as("localhost", "::1,127.0.0.1");
    tickless_conn *c = nullptr;
    tl_sysfail_inject(SYSFAIL_SOCKET, EMFILE, 0, 2);
    int rc = ConnectTo("localhost", ServerPort(), &c);
    tl_sysfail_inject(SYSFAIL_SOCKET, 0, 0, 0);
    EXPECT_EQ(rc, TICKLESS_ERR_SYS) << err_.message;
    EXPECT_EQ(err_.sys_errno, EMFILE);

    tl_sysfail_inject(SYSFAIL_SOCKET, EMFILE, 0, 1);
    rc = ConnectTo("localhost", ServerPort(), &c);
    tl_sysfail_inject(SYSFAIL_SOCKET, 0, 0, 0);
    ASSERT_EQ(rc, 0) << tickless_err_name(rc) << ": " << err_.message;
    tickless_conn_close(c);
    StopServer();
    EXPECT_LE(SocketsSettleAt(fds), fds);
}

INSTANTIATE_TEST_SUITE_P(All, Connect, AllVariants(), VariantName);

} // namespace
