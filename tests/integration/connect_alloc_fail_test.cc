// tickless_connect() with every allocation tickless makes during it
// failing in turn, for each protocol, with a dedicated assist and on pools
// (the racing attempts' connections attaching to the pool's shards, and
// the pool's own threads allocating meanwhile, included): NOMEM or
// success, never a leak, no socket left behind, and the pool goes on
// serving.
#include "connect_fixture.h"

#include <string>

extern "C" {
#include "base/alloc.h"
}

namespace {

class ConnectAllocFail : public testing::TestWithParam<Mode> {};

TEST_P(ConnectAllocFail, EveryAllocationInTurn)
{
    tickless_pool *pool = PoolFor(GetParam());
    for (ts_proto p : AvailableProtos()) {
        SCOPED_TRACE(ts_proto_name(p));
        // Counted around the server too: it keeps a socket per client.
        WarmUp(pool, p);
        int fds = CountSockets();
        ts_server *srv = StartServer(p);
        ASSERT_NE(srv, nullptr);
        ResolveAs as("localhost", "::1,127.0.0.1");
        ClientCtx ctx(p);
        std::string port = PortOf(srv);
        unsigned long k;
        for (k = 1;; k++) {
            tickless_error_info err = TICKLESS_ERROR_INFO_INIT;
            tickless_connect_options o = ConnectOptions(&err);
            tickless_conn *c = nullptr;
            tl_alloc_fail_after(k);
            int rc = tickless_connect(ctx.ctx, "localhost", port.c_str(), &o,
                                      pool, &c, kConnectTimeoutMs);
            tl_alloc_fail_after(0);
            if (rc == 0) {
                ExpectEcho(c); // the assist still serves
                tickless_conn_close(c);
                break;
            }
            EXPECT_EQ(rc, TICKLESS_ERR_NOMEM)
                << "at " << k << ": " << tickless_err_name(rc) << ": "
                << err.message;
            EXPECT_EQ(c, nullptr);
            ASSERT_LT(k, 1000u);
        }
        EXPECT_GT(k, 1u) << "no allocation was failed";
        ts_server_stop(srv);
        EXPECT_LE(SocketsSettleAt(fds), fds);
    }
}

INSTANTIATE_TEST_SUITE_P(Assists, ConnectAllocFail,
                         testing::Values(Mode::Dedicated, Mode::Pool1,
                                         Mode::Pool2),
                         ModeParamName);

} // namespace
