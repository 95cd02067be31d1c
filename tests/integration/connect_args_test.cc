// tickless_connect() refuses bad arguments with TICKLESS_ERR_INVALID
// before it resolves or connects anything: a missing context, host or
// output, a malformed ALPN list, an attempt delay too short, a service
// name that does not exist.
#include "connect_fixture.h"

TEST(ConnectArgs, Invalid)
{
    ClientCtx ctx(TS_TLS);
    tickless_conn *c = nullptr;
    tickless_connect_options o;
    tickless_connect_options_defaults(&o);
    EXPECT_EQ(tickless_connect(nullptr, "localhost", "1", &o, nullptr, &c, 0),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_connect(ctx.ctx, nullptr, "1", &o, nullptr, &c, 0),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_connect(ctx.ctx, "localhost", "1", &o, nullptr,
                               nullptr, 0),
              TICKLESS_ERR_INVALID);
    for (const char *bad : { "", ",", "a,", ",a", "a,,b" }) {
        o.alpn = bad;
        EXPECT_EQ(tickless_connect(ctx.ctx, "localhost", "1", &o, nullptr, &c,
                                   0),
                  TICKLESS_ERR_INVALID)
            << "alpn '" << bad << "'";
    }
    tickless_connect_options_defaults(&o);
    o.attempt_delay_ms = 1;
    EXPECT_EQ(tickless_connect(ctx.ctx, "localhost", "1", &o, nullptr, &c, 0),
              TICKLESS_ERR_INVALID);
    tickless_connect_options_defaults(&o);
    EXPECT_EQ(tickless_connect(ctx.ctx, "localhost", "no-such-service-x", &o,
                               nullptr, &c, 0),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(c, nullptr);
}
