// What the tickless_connect() suites share (one suite per file:
// connect_*_test.cc): the resolver hooks, the options for the in-process
// servers, a descriptor count that leaves a server's port out (the
// harness has the others), and a fixture that connects in one mode and
// protocol.
#ifndef TICKLESS_TESTS_CONNECT_FIXTURE_H
#define TICKLESS_TESTS_CONNECT_FIXTURE_H

#include "harness.h"

#include <cstdint>
#include <string>

extern "C" {
#include "core/connect.h"
#include "ts_net.h"
}

constexpr int kConnectTimeoutMs = 10000;

// This process's descriptors, leaving out sockets bound to local port
// |port| (an in-process server's listening socket and those it keeps per
// client, for a while after they are gone, and a silent hole beside it):
// what the client side holds, every kind of descriptor.
int CountFdsExceptPort(uint16_t port);
// Those descriptors, each with what it is: for a failure message.
std::string DescribeFdsExceptPort(uint16_t port);

// Gives |host| the addresses |addrs| ("::1,127.0.0.1") for as long as it
// lives.
struct ResolveAs {
    ResolveAs(const char *host, const char *addrs)
    {
        tl_connect_set_resolve_override(host, addrs);
    }
    ~ResolveAs() { tl_connect_set_resolve_override(nullptr, nullptr); }
    ResolveAs(const ResolveAs &) = delete;
    ResolveAs &operator=(const ResolveAs &) = delete;
};

// Options for the in-process servers: their ALPN, fast DTLS retries, and
// the error record |err| (may be nullptr).
tickless_connect_options ConnectOptions(tickless_error_info *err);

// A client context of |p|, freed when it goes out of scope.
struct ClientCtx {
    explicit ClientCtx(ts_proto p) : ctx(ts_client_ctx(p)) {}
    ~ClientCtx() { SSL_CTX_free(ctx); }
    ClientCtx(const ClientCtx &) = delete;
    ClientCtx &operator=(const ClientCtx &) = delete;
    SSL_CTX *ctx;
};

// One line echoed by |c|'s server.
void ExpectEcho(tickless_conn *c);

// One connect and close on |pool| against a server of its own, so that
// what tickless makes once per thread or pool (a caller's wake-up
// descriptor, pool threads) exists before a test counts descriptors.
void WarmUp(tickless_pool *pool, ts_proto p);

// A server of |proto| bound where |bind_to| (an enum ts_net_where) says;
// fails the test and returns nullptr on error.
ts_server *StartServerOn(ts_proto proto, int bind_to);

// A socket on [::1]:|port| that takes everything and answers nothing:
// UDP reads and drops; TCP listens (the kernel completes the three-way
// handshake) and never accepts. -1 on failure.
int SilentV6(int type, uint16_t port);

std::string PortOf(ts_server *srv);

// A TEST_P over AllVariants() (or a subset) that connects with a client
// context of its protocol and ConnectOptions() (err_ receives the error
// record), on the mode's pool.
class ConnectFixture : public testing::TestWithParam<Variant> {
protected:
    void SetUp() override;
    void TearDown() override;
    tickless_pool *Pool() { return PoolFor(GetParam().mode); }
    ts_proto Proto() { return GetParam().proto; }

    // tickless_connect() to |host|:|port|.
    int ConnectTo(const char *host, const std::string &port,
                  tickless_conn **c, int timeout_ms = kConnectTimeoutMs);

    SSL_CTX *ctx_ = nullptr;
    tickless_error_info err_ = TICKLESS_ERROR_INFO_INIT;
    tickless_connect_options o_{};
};

#endif
