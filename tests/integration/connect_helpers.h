// Shared by the tests of tickless_connect() (connect_test.cc and its
// neighbours connect_alloc_fail_test.cc, connect_args_test.cc and
// connect_peer_test.cc): the options that reach the in-process servers, a
// resolver answer of the test's choosing, and the echo every connection
// is checked with.
#ifndef TICKLESS_TESTS_CONNECT_HELPERS_H
#define TICKLESS_TESTS_CONNECT_HELPERS_H

#include "harness.h"

// Per connect, and per call of the echo.
constexpr int kConnectTimeoutMs = 10000;

// Gives |host| the addresses |addrs| ("::1,127.0.0.1") for as long as it
// lives, whatever /etc/hosts says.
struct ResolveAs {
    ResolveAs(const char *host, const char *addrs);
    ~ResolveAs();
    ResolveAs(const ResolveAs &) = delete;
    ResolveAs &operator=(const ResolveAs &) = delete;
};

// Options for the in-process servers: their ALPN, fast DTLS retries, and
// the error record |err| (may be null).
tickless_connect_options ConnectOptions(tickless_error_info *err);

// A client context of a protocol, freed when it goes out of scope.
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

#endif
