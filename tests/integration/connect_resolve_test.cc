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
#include "core/sysfail.h"
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

TEST(ConnectResolve, SlowLookupTimesOutAndFreesItselfWhenDone)
{
    WarmUp(nullptr, TS_TLS);
    ts_server *srv = StartServer(TS_TLS);
    ASSERT_NE(srv, nullptr);
    const int threads = CountThreads();
    const int fds = CountOpenFds();
    ClientCtx ctx(TS_TLS);
    tickless_error_info err = TICKLESS_ERROR_INFO_INIT;
    tickless_connect_options o = ConnectOptions(&err);
    ResolveAs as("localhost", "127.0.0.1");
    const int timeout = 300, delay = 2000;
    tickless_conn *c = nullptr;
    int rc;
    double ms;
    {
        SlowResolver slow(delay);
        uint64_t t0 = ts_now_ns();
        rc = tickless_connect(ctx.ctx, "localhost", PortOf(srv).c_str(), &o,
                              nullptr, &c, timeout);
        ms = MsSince(t0);
    }
    EXPECT_EQ(rc, TICKLESS_ERR_TIMEOUT) << tickless_err_name(rc);
    EXPECT_EQ(c, nullptr);
    EXPECT_EQ(err.code, TICKLESS_ERR_TIMEOUT);
    EXPECT_TRUE(Contains(err.message, "localhost port " + PortOf(srv)
                                          + ": timed out; name lookup did "
                                            "not finish"))
        << err.message;
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
    rc = tickless_connect(ctx.ctx, "localhost", PortOf(srv).c_str(), &o,
                          nullptr, &c, kConnectTimeoutMs);
    ASSERT_EQ(rc, 0) << tickless_err_name(rc) << ": " << err.message;
    tickless_conn_close(c);
    ts_server_stop(srv); // its thread too: fewer than counted
    EXPECT_LT(SettlesAt(threads - 1, CountThreads), threads);
}

// A lookup slower than usual but within the timeout: its answer is used,
// and the time it took counts against the timeout.
TEST(ConnectResolve, LookupWithinTheTimeoutIsUsed)
{
    ts_server *srv = StartServer(TS_TLS);
    ASSERT_NE(srv, nullptr);
    ClientCtx ctx(TS_TLS);
    tickless_error_info err = TICKLESS_ERROR_INFO_INIT;
    tickless_connect_options o = ConnectOptions(&err);
    ResolveAs as("localhost", "::1,127.0.0.1");
    SlowResolver slow(200);
    tickless_conn *c = nullptr;
    uint64_t t0 = ts_now_ns();
    int rc = tickless_connect(ctx.ctx, "localhost", PortOf(srv).c_str(), &o,
                              nullptr, &c, kConnectTimeoutMs);
    double ms = MsSince(t0);
    ASSERT_EQ(rc, 0) << tickless_err_name(rc) << ": " << err.message;
    EXPECT_GE(ms, 200 * 0.9);
    ExpectEcho(c);
    tickless_conn_close(c);
    ts_server_stop(srv);
}

// An IP literal is parsed, not looked up: no helper thread, so a slow
// resolver does not touch it.
TEST(ConnectResolve, LiteralIsNotLookedUp)
{
    ts_server *srv = StartServer(TS_TLS);
    ASSERT_NE(srv, nullptr);
    ClientCtx ctx(TS_TLS);
    tickless_error_info err = TICKLESS_ERROR_INFO_INIT;
    tickless_connect_options o = ConnectOptions(&err);
    SlowResolver slow(30000);
    tickless_conn *c = nullptr;
    int rc = tickless_connect(ctx.ctx, "127.0.0.1", PortOf(srv).c_str(), &o,
                              nullptr, &c, 2000);
    ASSERT_EQ(rc, 0) << tickless_err_name(rc) << ": " << err.message;
    tickless_conn_close(c);
    ts_server_stop(srv);
}

// The helper thread cannot be made: TICKLESS_ERR_SYS saying so, nothing
// left behind.
TEST(ConnectResolve, NoLookupThreadIsASysError)
{
    WarmUp(nullptr, TS_TLS);
    const int threads = CountThreads();
    const int fds = CountOpenFds();
    ClientCtx ctx(TS_TLS);
    tickless_error_info err = TICKLESS_ERROR_INFO_INIT;
    tickless_connect_options o = ConnectOptions(&err);
    tickless_conn *c = nullptr;
    unsigned before = tl_sysfail_failures(SYSFAIL_PTHREAD_CREATE);
    tl_sysfail_inject(SYSFAIL_PTHREAD_CREATE, EAGAIN, 0, 1);
    int rc = tickless_connect(ctx.ctx, "localhost", "443", &o, nullptr, &c,
                              kConnectTimeoutMs);
    tl_sysfail_inject(SYSFAIL_PTHREAD_CREATE, 0, 0, 0);
    EXPECT_EQ(tl_sysfail_failures(SYSFAIL_PTHREAD_CREATE) - before, 1u);
    EXPECT_EQ(rc, TICKLESS_ERR_SYS) << tickless_err_name(rc);
    EXPECT_EQ(c, nullptr);
    EXPECT_EQ(err.sys_errno, EAGAIN);
    EXPECT_TRUE(Contains(err.message, "name lookup: pthread_create(): "
                                          + std::string(strerror(EAGAIN))))
        << err.message;
    EXPECT_EQ(SettlesAt(threads, CountThreads), threads);
    EXPECT_LE(SettlesAt(fds, CountOpenFds), fds);
}

} // namespace
