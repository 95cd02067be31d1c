// tickless_connect()'s one timeout bounds the name's lookup too: a
// resolver slower than the timeout (the test hook makes each lookup sleep
// first) ends the call with TICKLESS_ERR_TIMEOUT on time, and the lookup
// left behind finishes on its helper thread, which then frees everything
// and ends: no descriptor or thread is left. A lookup that finishes in
// time is used; an IP literal needs no helper; a helper that cannot be
// made is a clean TICKLESS_ERR_SYS.
#include "connect_fixture.h"

#include <cerrno>
#include <cstring>
#include <string>

extern "C" {
#include "base/sysfail.h"
}

namespace {

// Every lookup made on a helper thread sleeps |ms| first, while it lives.
struct SlowResolver {
    explicit SlowResolver(int ms) { tl_connect_set_resolve_delay(ms); }
    ~SlowResolver() { tl_connect_set_resolve_delay(0); }
    SlowResolver(const SlowResolver &) = delete;
    SlowResolver &operator=(const SlowResolver &) = delete;
};

bool Contains(const char *haystack, const std::string &needle)
{
    return std::string(haystack).find(needle) != std::string::npos;
}

// A TLS client context and ConnectOptions() (err_ receives the error
// record); Serve() starts a TLS server, stopped at the end unless the
// test stops it first (StopServer()).
class ConnectResolve : public testing::Test {
protected:
    ~ConnectResolve() override { StopServer(); }

    // Starts the server; returns its port, or "" with a test failure.
    std::string Serve()
    {
        srv_ = StartServer(TS_TLS);
        return srv_ != nullptr ? PortOf(srv_) : std::string();
    }
    void StopServer()
    {
        if (srv_ != nullptr)
            ts_server_stop(srv_);
        srv_ = nullptr;
    }
    int Connect(const char *host, const std::string &port, int timeout_ms)
    {
        return tickless_connect(ctx_.ctx, host, port.c_str(), &o_, nullptr,
                                &c_, timeout_ms);
    }

    ClientCtx ctx_{ TS_TLS };
    tickless_error_info err_ = TICKLESS_ERROR_INFO_INIT;
    tickless_connect_options o_ = ConnectOptions(&err_);
    tickless_conn *c_ = nullptr;
    ts_server *srv_ = nullptr;
};

TEST_F(ConnectResolve, SlowLookupTimesOutAndFreesItselfWhenDone)
{
    WarmUp(nullptr, TS_TLS);
    const std::string port = Serve();
    ASSERT_FALSE(port.empty());
    const int threads = CountThreads();
    const int fds = CountOpenFds();
    ResolveAs as("localhost", "127.0.0.1");
    const int timeout = 300, delay = 2000;
    int rc;
    double ms;
    {
        SlowResolver slow(delay);
        uint64_t t0 = ts_now_ns();
        rc = Connect("localhost", port, timeout);
        ms = MsSince(t0);
    }
    EXPECT_EQ(rc, TICKLESS_ERR_TIMEOUT) << tickless_err_name(rc);
    EXPECT_EQ(c_, nullptr);
    EXPECT_EQ(err_.code, TICKLESS_ERR_TIMEOUT);
    EXPECT_TRUE(Contains(err_.message, "localhost port " + port
                                           + ": timed out; name lookup did "
                                             "not finish"))
        << err_.message;
    EXPECT_GE(ms, timeout * 0.9);
    // On time: not after the lookup (the bound is loose for a loaded
    // machine, and still far below the lookup's 2 s).
    EXPECT_LT(ms, timeout + 1200 * TimeScale()) << "waited for the lookup";
    // The helper still sleeps in its lookup; then it ends, having freed
    // the request (LeakSanitizer checks that at exit) and held no
    // descriptor.
    EXPECT_GE(CountThreads(), threads + 1) << "the lookup is detached";
    EXPECT_EQ(SettlesAt(threads, CountThreads, delay + 5000), threads);
    EXPECT_LE(SettlesAt(fds, CountOpenFds), fds);

    // And the next call, with the resolver quick again, connects.
    rc = Connect("localhost", port, kConnectTimeoutMs);
    ASSERT_EQ(rc, 0) << tickless_err_name(rc) << ": " << err_.message;
    tickless_conn_close(c_);
    StopServer(); // its thread too: fewer than counted
    EXPECT_LT(SettlesAt(threads - 1, CountThreads), threads);
}

// A lookup slower than usual but within the timeout: its answer is used,
// and the time it took counts against the timeout.
TEST_F(ConnectResolve, LookupWithinTheTimeoutIsUsed)
{
    const std::string port = Serve();
    ASSERT_FALSE(port.empty());
    ResolveAs as("localhost", "::1,127.0.0.1");
    SlowResolver slow(200);
    uint64_t t0 = ts_now_ns();
    int rc = Connect("localhost", port, kConnectTimeoutMs);
    double ms = MsSince(t0);
    ASSERT_EQ(rc, 0) << tickless_err_name(rc) << ": " << err_.message;
    EXPECT_GE(ms, 200 * 0.9);
    ExpectEcho(c_);
    tickless_conn_close(c_);
}

// An IP literal is parsed, not looked up: no helper thread, so a slow
// resolver does not touch it.
TEST_F(ConnectResolve, LiteralIsNotLookedUp)
{
    const std::string port = Serve();
    ASSERT_FALSE(port.empty());
    SlowResolver slow(30000);
    int rc = Connect("127.0.0.1", port, 2000);
    ASSERT_EQ(rc, 0) << tickless_err_name(rc) << ": " << err_.message;
    tickless_conn_close(c_);
}

// The helper thread cannot be made: TICKLESS_ERR_SYS saying so, nothing
// left behind.
TEST_F(ConnectResolve, NoLookupThreadIsASysError)
{
    WarmUp(nullptr, TS_TLS);
    const int threads = CountThreads();
    const int fds = CountOpenFds();
    unsigned before = tl_sysfail_failures(SYSFAIL_PTHREAD_CREATE);
    tl_sysfail_inject(SYSFAIL_PTHREAD_CREATE, EAGAIN, 0, 1);
    int rc = Connect("localhost", "443", kConnectTimeoutMs);
    tl_sysfail_inject(SYSFAIL_PTHREAD_CREATE, 0, 0, 0);
    EXPECT_EQ(tl_sysfail_failures(SYSFAIL_PTHREAD_CREATE) - before, 1u);
    EXPECT_EQ(rc, TICKLESS_ERR_SYS) << tickless_err_name(rc);
    EXPECT_EQ(c_, nullptr);
    EXPECT_EQ(err_.sys_errno, EAGAIN);
    EXPECT_TRUE(Contains(err_.message, "name lookup: pthread_create(): "
                                           + std::string(strerror(EAGAIN))))
        << err_.message;
    EXPECT_EQ(SettlesAt(threads, CountThreads), threads);
    EXPECT_LE(SettlesAt(fds, CountOpenFds), fds);
}

} // namespace
