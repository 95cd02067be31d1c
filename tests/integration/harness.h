// Shared pieces of the integration suite: which assist mode and protocol a
// test runs in, and how a tickless client connection is made against the
// in-process servers of tests/support.
#ifndef TICKLESS_TESTS_HARNESS_H
#define TICKLESS_TESTS_HARNESS_H

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

extern "C" {
#include "core/self_poll.h"
#include "tickless/tickless.h"
#include "ts_certs.h"
#include "ts_relay.h"
#include "ts_server.h"
#include "ts_util.h"
}

// Who ticks the connection; every TEST_P runs in each mode unchanged.
//  - Dedicated: pool == NULL, one assist thread per connection.
//  - Pool1, Pool2: a process-wide pool with 1 or 2 assist threads.
//  - AppDriven: a process-wide pool with no threads (threads == 0), run by a
//    harness thread standing in for the application's own event loop: it
//    poll()s tickless_pool_fd() and calls tickless_pool_run(pool, 0).
// The pools are made on first use and freed after the last test (a global
// test environment), which checks that tickless_pool_free() returns 0: every
// test must close the connections it made.
enum class Mode { Dedicated, Pool1, Pool2, AppDriven };

struct Variant {
    Mode mode;
    ts_proto proto;
};

std::string VariantName(const testing::TestParamInfo<Variant> &info);
const char *ProtoName(ts_proto p);

const char *ModeName(Mode m);

// How gtest prints a parameter (ctest's listing shows it): by name, not as
// the bytes of an "8-byte object".
inline void PrintTo(Mode m, std::ostream *os) { *os << ModeName(m); }
inline void PrintTo(const Variant &v, std::ostream *os)
{
    *os << ModeName(v.mode) << "_" << ProtoName(v.proto);
}

// Every {mode} x {QUIC, DTLS, TLS} combination, named like "Pool2_QUIC".
testing::internal::ParamGenerator<Variant> AllVariants();

// True when this OpenSSL can run |p| both as client and in-process server.
bool ProtoAvailable(ts_proto p);

#define SKIP_UNLESS_AVAILABLE(proto)                                          \
    do {                                                                      \
        if (!ProtoAvailable(proto))                                           \
            GTEST_SKIP() << "QUIC needs OpenSSL >= 3.5 (listener API); "     \
                            "this build has "                                 \
                         << OpenSSL_version(OPENSSL_VERSION);                 \
    } while (0)

// Hook run on the client SSL before tickless takes it (idle timeout, DTLS
// timer, ...).
using SslTweak = std::function<void(SSL *)>;

// The pool connections of |mode| attach to: nullptr for Mode::Dedicated,
// else the process-wide pool of that mode, created on first use (and, for
// AppDriven, its driver thread started). Any thread.
tickless_pool *PoolFor(Mode mode);

// Makes a client SSL for |proto| to 127.0.0.1:|port| and wraps it in a
// tickless connection on |pool| (nullptr: a dedicated assist thread). Fails
// the test (ADD_FAILURE) and returns nullptr on error. Any thread.
tickless_conn *NewClientOn(tickless_pool *pool, ts_proto proto, uint16_t port,
                           const SslTweak &tweak = nullptr);

// NewClientOn(PoolFor(mode), ...).
tickless_conn *NewClient(Mode mode, ts_proto proto, uint16_t port,
                         const SslTweak &tweak = nullptr);

// Starts a server; fails the test on error.
ts_server *StartServer(ts_proto proto, bool sink = false,
                       uint64_t idle_timeout_ms = 0);

// The opening of most connection tests: starts a |proto| server, connects a
// |mode| client to it (NewClient(), with |tweak|) and completes the
// handshake within 10 s. Returns the client and sets *srv; the test closes
// the client, then stops the server. On failure it adds a test failure
// naming the step and returns nullptr with *srv == nullptr, having closed
// what it opened: a leftover connection would fail the pools' end-of-run
// check too, blaming no test. It does not skip (GTEST_SKIP() returns from
// the function it is in only): say SKIP_UNLESS_AVAILABLE(proto) first.
// Any thread.
tickless_conn *StartServerAndConnect(Mode mode, ts_proto proto,
                                     ts_server **srv,
                                     const SslTweak &tweak = nullptr);

#if TS_HAVE_QUIC
// A QUIC listener (SSL_new_listener(), no address validation) on a
// nonblocking UDP socket of 127.0.0.1 with the test certificate; *port is
// set. nullptr on failure, with nothing left open.
SSL *NewQuicListenerSsl(uint16_t *port);
#endif

// Writes all of |len| pattern bytes starting at stream offset |offset|.
int WritePattern(tickless_conn *c, uint64_t offset, size_t len,
                 int timeout_ms = 30000);

// Reads exactly |len| bytes and checks they are the pattern at |offset|.
// Returns 0, or the tickless error; adds a test failure on a mismatch.
int ReadPattern(tickless_conn *c, uint64_t offset, size_t len,
                int timeout_ms = 30000);

// The factor for wall-clock bounds that tests assert ("close wakes the
// readers within 2 s"): TICKLESS_TEST_TIME_SCALE, a number >= 1, default 1.
// The bounds are written for a plain build; scripts/valgrind sets it, as
// Valgrind runs a program 20 to 100 times slower, on one CPU. A bound
// scaled up still catches what it is there for: a missed wake-up waits for
// ever, or for a timeout far longer than the scaled bound.
double TimeScale();

// While alive, every blocked caller sleeps until the assist wakes it
// instead of polling its socket itself (src/core/self_poll.h): for tests
// whose point is what the assist does, which a caller polling for itself
// would do in its place and so hide.
struct AssistWakesCallers {
    AssistWakesCallers() { tl_self_poll_set_enabled(0); }
    ~AssistWakesCallers() { tl_self_poll_set_enabled(1); }
    AssistWakesCallers(const AssistWakesCallers &) = delete;
    AssistWakesCallers &operator=(const AssistWakesCallers &) = delete;
};

#endif
