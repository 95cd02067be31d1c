// tickless_connect() with every allocation tickless makes during it (the
// racing attempts' connections included) failing in turn: NOMEM or
// success, never a leak, no socket left behind.
#include "connect_fixture.h"

#include <string>

extern "C" {
#include "core/alloc.h"
}

TEST(ConnectAllocFail, EveryAllocationInTurn)
{
    for (ts_proto p : { TS_QUIC, TS_DTLS, TS_TLS }) {
        if (!ProtoAvailable(p))
            continue;
        // Counted around the server too: it keeps a socket per client.
        WarmUp(nullptr, p);
        int fds = CountSockets();
        ts_server *srv = StartServer(p);
        ASSERT_NE(srv, nullptr);
        ResolveAs as("localhost", "::1,127.0.0.1");
        ClientCtx ctx(p);
        std::string port = std::to_string(ts_server_port(srv));
        for (unsigned long k = 1;; k++) {
            tickless_error_info err = TICKLESS_ERROR_INFO_INIT;
            tickless_connect_options o = ConnectOptions(&err);
            tickless_conn *c = nullptr;
            tl_alloc_fail_after(k);
            int rc = tickless_connect(ctx.ctx, "localhost", port.c_str(), &o,
                                      nullptr, &c, kConnectTimeoutMs);
            tl_alloc_fail_after(0);
            if (rc == 0) {
                tickless_conn_close(c);
                break;
            }
            EXPECT_TRUE(rc == TICKLESS_ERR_NOMEM) << ts_proto_name(p)
                << " at " << k << ": " << tickless_err_name(rc) << ": "
                << err.message;
            EXPECT_EQ(c, nullptr);
            ASSERT_LT(k, 1000u);
        }
        ts_server_stop(srv);
        EXPECT_LE(SocketsSettleAt(fds), fds) << ts_proto_name(p);
    }
}
