// tickless_connect() with certificate verification switched off says so,
// loudly: a TICKLESS_LOG_WARN through tickless_set_log() naming the host,
// for each such call; a verified connect logs no such warning.
#include "connect_fixture.h"

#include <string>
#include <vector>

namespace {

// The warnings about switched-off verification logged so far.
std::vector<LogEvent> NoVerifyWarnings()
{
    std::vector<LogEvent> found;
    for (const LogEvent &e : LoggedEvents())
        if (e.message.find("certificate verification is OFF")
            != std::string::npos)
            found.push_back(e);
    return found;
}

// Removes the callback when it goes out of scope, whatever fails.
struct LogTo {
    LogTo() { ClearLoggedEvents(); }
    ~LogTo() { tickless_set_log(nullptr, nullptr, 0, 0); }
};

TEST(ConnectLog, InsecureNoVerifyIsWarnedAbout)
{
    LogTo log;
    ASSERT_EQ(
        tickless_set_log(CollectLogEvent, nullptr, TICKLESS_LOG_WARN, 0), 0);
    ts_server *srv = StartServer(TS_TLS);
    ASSERT_NE(srv, nullptr);
    ClientCtx ctx(TS_TLS);
    tickless_error_info err = TICKLESS_ERROR_INFO_INIT;
    tickless_connect_options o = ConnectOptions(&err);
    tickless_conn *c = nullptr;

    // Verified: no warning.
    int rc = tickless_connect(ctx.ctx, "localhost", PortOf(srv).c_str(), &o,
                              nullptr, &c, kConnectTimeoutMs);
    ASSERT_EQ(rc, 0) << tickless_err_name(rc) << ": " << err.message;
    tickless_conn_close(c);
    EXPECT_TRUE(NoVerifyWarnings().empty());

    // Off: a name the certificate does not have connects, and is warned
    // about, naming the host.
    ResolveAs as("wrong.example", "127.0.0.1");
    o.insecure_no_verify = 1;
    rc = tickless_connect(ctx.ctx, "wrong.example", PortOf(srv).c_str(), &o,
                          nullptr, &c, kConnectTimeoutMs);
    ASSERT_EQ(rc, 0) << tickless_err_name(rc) << ": " << err.message;
    tickless_conn_close(c);
    std::vector<LogEvent> ev = NoVerifyWarnings();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].level, TICKLESS_LOG_WARN);
    EXPECT_EQ(ev[0].conn, nullptr); // said before there is a connection
    EXPECT_NE(ev[0].message.find("tickless_connect(wrong.example)"),
              std::string::npos)
        << ev[0].message;
    EXPECT_NE(ev[0].message.find("insecure_no_verify"), std::string::npos)
        << ev[0].message;
    ts_server_stop(srv);
}

} // namespace
