// The log callback (tickless_set_log()): a lost connection is reported with
// its cause, a late timer tick beyond the threshold is reported, assist
// threads report starting and stopping; bad levels are refused; after
// removal nothing more arrives.
#include "harness.h"

#include <string>
#include <vector>

namespace {

bool Has(const std::vector<LogEvent> &ev, int level, tickless_conn *conn,
         const std::string &part)
{
    for (const LogEvent &e : ev)
        if (e.level == level && e.conn == conn
            && e.message.find(part) != std::string::npos)
            return true;
    return false;
}

// A DTLS handshake on |pool| towards a peer that never answers: OpenSSL's
// retransmission timers fire on the pool's thread, then it gives up.
// Returns the connection, closed: its address is what the log names.
tickless_conn *HandshakeThatGivesUp(tickless_pool *pool)
{
    SilentUdpPeer silent;
    tickless_conn *c = silent.NewDtlsClient(pool);

    if (c != nullptr) {
        EXPECT_EQ(tickless_conn_handshake(c, 10000), TICKLESS_ERR_PEER);
        tickless_conn_close(c);
    }
    return c;
}

} // namespace

TEST(Log, LostConnectionsLateTicksAndAssistThreadsAreReported)
{
    ClearLoggedEvents();
    ASSERT_EQ(tickless_set_log(CollectLogEvent, nullptr, TICKLESS_LOG_INFO, 1), 0);

    tickless_pool_options o;
    tickless_pool_options_defaults(&o);
    o.thread_name = "logtest";
    tickless_pool *pool = nullptr;
    ASSERT_EQ(tickless_pool_new(&o, &pool), 0);

    // A DTLS peer that never answers: OpenSSL's retransmission timers fire
    // (each a little late: over the 1 ns threshold) and then it gives up.
    tickless_conn *c = HandshakeThatGivesUp(pool);
    EXPECT_EQ(tickless_pool_free(pool), 0);
    ASSERT_NE(c, nullptr);

    std::vector<LogEvent> ev = LoggedEvents();
    EXPECT_TRUE(Has(ev, TICKLESS_LOG_INFO, nullptr, "logtest-0 started"));
    EXPECT_TRUE(Has(ev, TICKLESS_LOG_INFO, nullptr, "logtest-0 stopped"));
    EXPECT_TRUE(Has(ev, TICKLESS_LOG_WARN, c, "deadline missed by"));
    EXPECT_TRUE(Has(ev, TICKLESS_LOG_ERROR, c, "TICKLESS_ERR_PEER"))
        << "the lost connection, with its cause";
    EXPECT_TRUE(Has(ev, TICKLESS_LOG_ERROR, c, "timeout"));

    // Bad levels; then removal: nothing more is reported.
    EXPECT_EQ(tickless_set_log(CollectLogEvent, nullptr, 0, 0), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_set_log(CollectLogEvent, nullptr, 4, 0), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_set_log(nullptr, nullptr, 0, 0), 0);
    size_t before = LoggedEvents().size();
    pool = nullptr;
    ASSERT_EQ(tickless_pool_new(nullptr, &pool), 0);
    EXPECT_EQ(tickless_pool_free(pool), 0);
    EXPECT_EQ(LoggedEvents().size(), before);
}

TEST(Log, LevelFiltersAndTheThresholdIsHonoured)
{
    ClearLoggedEvents();
    // Errors only, and no lateness reports.
    ASSERT_EQ(tickless_set_log(CollectLogEvent, nullptr, TICKLESS_LOG_ERROR, 0), 0);
    tickless_pool *pool = nullptr;
    ASSERT_EQ(tickless_pool_new(nullptr, &pool), 0);
    tickless_conn *c = HandshakeThatGivesUp(pool);
    EXPECT_EQ(tickless_pool_free(pool), 0);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(tickless_set_log(nullptr, nullptr, 0, 0), 0);

    std::vector<LogEvent> ev = LoggedEvents();
    ASSERT_FALSE(ev.empty());
    for (const LogEvent &e : ev)
        EXPECT_EQ(e.level, TICKLESS_LOG_ERROR) << e.message;
}
