// Shared pieces of the integration suite: which assist mode and protocol a
// test runs in, and how a tickless client connection is made against the
// in-process servers of tests/support.
#ifndef TICKLESS_TESTS_HARNESS_H
#define TICKLESS_TESTS_HARNESS_H

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>

extern "C" {
#include "tickless/tickless.h"
#include "ts_certs.h"
#include "ts_relay.h"
#include "ts_server.h"
#include "ts_util.h"
}

// Who ticks the connection. The pooled modes join this list when pools
// exist; every TEST_P below then runs in each of them unchanged.
enum class Mode { Dedicated };

struct Variant {
    Mode mode;
    ts_proto proto;
};

std::string VariantName(const testing::TestParamInfo<Variant> &info);
const char *ProtoName(ts_proto p);

// Every {mode} x {QUIC, DTLS, TLS} combination.
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

// Makes a client SSL for |proto| to 127.0.0.1:|port| and wraps it in a
// tickless connection in |mode|. Fails the test (ADD_FAILURE) and returns
// nullptr on error.
tickless_conn *NewClient(Mode mode, ts_proto proto, uint16_t port,
                         const SslTweak &tweak = nullptr);

// Starts a server; fails the test on error.
ts_server *StartServer(ts_proto proto, bool sink = false,
                       uint64_t idle_timeout_ms = 0);

// Writes all of |len| pattern bytes starting at stream offset |offset|.
int WritePattern(tickless_conn *c, uint64_t offset, size_t len,
                 int timeout_ms = 30000);

// Reads exactly |len| bytes and checks they are the pattern at |offset|.
// Returns 0, or the tickless error; adds a test failure on a mismatch.
int ReadPattern(tickless_conn *c, uint64_t offset, size_t len,
                int timeout_ms = 30000);

#endif
