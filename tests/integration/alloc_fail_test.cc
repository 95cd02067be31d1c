// Allocation failure: every allocation tickless makes while a pool is
// created, a connection attached, handshaken, used, closed and the pool freed
// is made to fail in turn, the way c-ares and curl test themselves. Each
// public call must then return TICKLESS_ERR_NOMEM (or succeed, when the
// failure hit something it can do without), the scenario must unwind cleanly,
// and nothing may leak: the ASan/LSan and TSan builds of the suite run this
// too.
//
// The hook (tl_alloc_fail_after(), src/base/alloc.h) counts tickless's own
// allocations only: OpenSSL's are its business.
#include "harness.h"

extern "C" {
#include "base/alloc.h"
}

#include <cstring>
#include <string>
#include <vector>

namespace {

const int kTimeoutMs = 10000;

enum class Assist { Dedicated, Pool1, Pool2 };

const char *AssistName(Assist a)
{
    switch (a) {
    case Assist::Dedicated:
        return "Dedicated";
    case Assist::Pool1:
        return "Pool1";
    case Assist::Pool2:
        return "Pool2";
    }
    return "?";
}

struct Case {
    Assist assist;
    ts_proto proto;
};

// What one run of the scenario saw: the first call that failed (its name
// and code), or rc == 0 if all succeeded.
struct Outcome {
    std::string call;
    int rc = 0;
};

// Pool (unless dedicated) -> connection -> handshake -> 1 KiB echo ->
// close -> pool free. Stops at the first failure and unwinds.
Outcome RunScenario(const Case &k, uint16_t port)
{
    Outcome out;
    tickless_pool *pool = nullptr;
    tickless_conn *c = nullptr;
    auto failed = [&](const char *call, int rc) {
        if (out.rc == 0) {
            out.call = call;
            out.rc = rc;
        }
    };

    if (k.assist != Assist::Dedicated) {
        tickless_pool_options o;
        tickless_pool_options_defaults(&o);
        o.threads = k.assist == Assist::Pool1 ? 1 : 2;
        int rc = tickless_pool_new(&o, &pool);
        if (rc != 0) {
            failed("tickless_pool_new", rc);
            return out;
        }
    }
    SSL_CTX *ctx = ts_client_ctx(k.proto);
    SSL *ssl = ctx != nullptr ? ts_client_new(ctx, k.proto, port) : nullptr;
    SSL_CTX_free(ctx);
    if (ssl == nullptr) {
        failed("ts_client_new (test setup)", -1000);
    } else {
        int rc = tickless_conn_new(ssl, pool, &c);
        if (rc != 0) {
            SSL_free(ssl); // still ours on failure
            c = nullptr;
            failed("tickless_conn_new", rc);
        }
    }
    if (c != nullptr) {
        int rc = tickless_conn_handshake(c, kTimeoutMs);
        if (rc != 0)
            failed("tickless_conn_handshake", rc);
        if (rc == 0 && (rc = WritePattern(c, 0, 1024, kTimeoutMs)) != 0)
            failed("tickless_conn_write", rc);
        if (rc == 0 && (rc = ReadPattern(c, 0, 1024, kTimeoutMs)) != 0)
            failed("tickless_conn_read", rc);
        tickless_conn_close(c);
    }
    if (pool != nullptr) {
        int rc = tickless_pool_free(pool);
        if (rc != 0)
            failed("tickless_pool_free", rc);
    }
    return out;
}

class AllocFail : public testing::TestWithParam<Case> {};

TEST_P(AllocFail, EveryAllocationFailingInTurnEndsCleanly)
{
    const Case k = GetParam();
    SKIP_UNLESS_AVAILABLE(k.proto);
    ts_server *srv = StartServer(k.proto);
    ASSERT_NE(srv, nullptr);
    uint16_t port = ts_server_port(srv);

    // A clean run counts the allocation points.
    (void)tl_alloc_fail_after(0);
    Outcome clean = RunScenario(k, port);
    unsigned long points = tl_alloc_fail_after(0);
    ASSERT_EQ(clean.rc, 0) << clean.call << ": "
                           << tickless_err_name(clean.rc);
    ASSERT_GT(points, 0u) << "tickless allocated nothing?";

    unsigned nomem = 0;
    for (unsigned long n = 1; n <= points; n++) {
        (void)tl_alloc_fail_after(n);
        Outcome o = RunScenario(k, port);
        (void)tl_alloc_fail_after(0);
        if (o.rc == TICKLESS_ERR_NOMEM) {
            nomem++;
            continue;
        }
        // Succeeding is allowed only if the failed allocation was not
        // needed; anything else is a wrong error code.
        EXPECT_EQ(o.rc, 0) << "allocation " << n << " of " << points
                           << " failing: " << o.call << " returned "
                           << tickless_err_name(o.rc);
    }
    EXPECT_GT(nomem, 0u) << "no failure was ever reported";
    std::cout << "[ alloc    ] " << points << " allocation points, "
              << nomem << " reported TICKLESS_ERR_NOMEM\n";

    // And after all that, everything still works.
    Outcome after = RunScenario(k, port);
    EXPECT_EQ(after.rc, 0) << after.call << ": "
                           << tickless_err_name(after.rc);
    ts_server_stop(srv);
}

std::vector<Case> AllCases()
{
    std::vector<Case> v;
    for (Assist a : { Assist::Dedicated, Assist::Pool1, Assist::Pool2 })
        for (ts_proto p : { TS_QUIC, TS_DTLS, TS_TLS })
            v.push_back(Case { a, p });
    return v;
}

INSTANTIATE_TEST_SUITE_P(
    All, AllocFail, testing::ValuesIn(AllCases()),
    [](const testing::TestParamInfo<Case> &info) {
        return std::string(AssistName(info.param.assist)) + "_"
               + ProtoName(info.param.proto);
    });

} // namespace
