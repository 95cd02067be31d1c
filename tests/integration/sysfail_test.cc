// System calls failing: epoll_create1, eventfd, timerfd_create and
// pthread_create fail as the kernel would (EMFILE, ENOMEM, EAGAIN), through
// the injection hook of src/base/sysfail.h. The call that needed them returns
// TICKLESS_ERR_SYS, every descriptor and thread made before the failure is
// released (a pool fails on its second shard too), and what already runs
// keeps running: a live connection on another pool still echoes, and the next
// attempt succeeds. And epoll_pwait2() refused for good falls back.
// (The calls that watch sockets failing: SocketWatch; a lone caller's
// failed poll: SelfPollFailure.)
#include "harness.h"

extern "C" {
#include "assist/poller.h"
#include "base/sysfail.h"
}

#include <cerrno>
#include <climits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

const int kTimeoutMs = 10000;

struct Injection {
    sysfail_call call;
    const char *name;
    unsigned threads; // the pool that needs the call (0: app-driven)
    bool dedicated;   // whether a dedicated assist needs it too
};

// A dedicated assist has no epoll set and no eventfd: one thread, and a
// timerfd beside the connection's socket (src/assist/shard.h, "solo").
const Injection kInjections[] = {
    { SYSFAIL_EPOLL_CREATE, "epoll_create1", 2, false },
    { SYSFAIL_EVENTFD, "eventfd", 2, false },
    { SYSFAIL_TIMERFD_CREATE, "timerfd_create", 2, true },
    { SYSFAIL_PTHREAD_CREATE, "pthread_create", 2, true },
};

const int kErrnos[] = { EMFILE, ENOMEM, EAGAIN };

// A live connection on a pool of its own, which no failure below may
// disturb.
class Bystander {
public:
    bool Start(ts_server *srv)
    {
        tickless_pool_options o;
        tickless_pool_options_defaults(&o);
        if (tickless_pool_new(&o, &pool_) != 0)
            return false;
        c_ = NewClientOn(pool_, TS_DTLS, ts_server_port(srv));
        return c_ != nullptr && tickless_conn_handshake(c_, kTimeoutMs) == 0;
    }
    bool Echo()
    {
        bool ok = WritePattern(c_, off_, 1000, kTimeoutMs) == 0
                  && ReadPattern(c_, off_, 1000, kTimeoutMs) == 0;
        off_ += 1000;
        return ok;
    }
    ~Bystander()
    {
        if (c_ != nullptr)
            tickless_conn_close(c_);
        if (pool_ != nullptr) {
            EXPECT_EQ(tickless_pool_free(pool_), 0);
        }
    }

private:
    tickless_pool *pool_ = nullptr;
    tickless_conn *c_ = nullptr;
    uint64_t off_ = 0;
};

TEST(SysFail, PoolNewReportsSysAndLeavesNothingBehind)
{
    ts_server *srv = StartServer(TS_DTLS);
    ASSERT_NE(srv, nullptr);
    {
        Bystander other;
        ASSERT_TRUE(other.Start(srv));

        for (const Injection &inj : kInjections) {
            // Fail the first shard's call, then the second's (the first
            // shard, thread and all, must then be torn down).
            unsigned shards = inj.threads == 0 ? 1 : inj.threads;
            for (unsigned skip = 0; skip < shards; skip++) {
                for (int err : kErrnos) {
                    SCOPED_TRACE(std::string(inj.name) + " failing on shard "
                                 + std::to_string(skip) + " with "
                                 + strerror(err));
                    tickless_pool_options o;
                    tickless_pool_options_defaults(&o);
                    o.threads = inj.threads;
                    int fds0 = CountOpenFds();
                    int threads0 = SettledCount(CountThreads);
                    tickless_pool *p = nullptr;

                    tl_sysfail_inject(inj.call, err, skip, 1);
                    int rc = tickless_pool_new(&o, &p);
                    tl_sysfail_inject(inj.call, 0, 0, 0);
                    EXPECT_EQ(rc, TICKLESS_ERR_SYS) << tickless_err_name(rc);
                    EXPECT_EQ(p, nullptr);
                    if (p != nullptr) {
                        EXPECT_EQ(tickless_pool_free(p), 0);
                    }
                    EXPECT_EQ(CountOpenFds(), fds0) << "descriptors leaked";
                    EXPECT_EQ(SettlesAt(threads0, CountThreads), threads0)
                        << "threads left running";
                    EXPECT_TRUE(other.Echo()) << "a live connection suffered";

                    // Nothing stuck: the same pool can be made now.
                    p = nullptr;
                    ASSERT_EQ(tickless_pool_new(&o, &p), 0);
                    EXPECT_EQ(tickless_pool_free(p), 0);
                }
            }
        }
    }
    ts_server_stop(srv);
}

TEST(SysFail, DedicatedConnNewReportsSysAndTheSslStaysTheCallers)
{
    ts_server *srv = StartServer(TS_DTLS);
    ASSERT_NE(srv, nullptr);
    {
        Bystander other;
        ASSERT_TRUE(other.Start(srv));

        for (const Injection &inj : kInjections) {
            for (int err : kErrnos) {
                SCOPED_TRACE(std::string(inj.name) + " failing with "
                             + strerror(err));
                SSL_CTX *ctx = ts_client_ctx(TS_DTLS);
                SSL *ssl = ts_client_new(ctx, TS_DTLS, ts_server_port(srv));
                SSL_CTX_free(ctx);
                ASSERT_NE(ssl, nullptr);
                int fds0 = CountOpenFds();
                int threads0 = SettledCount(CountThreads);
                tickless_conn *c = nullptr;

                unsigned before = tl_sysfail_failures(inj.call);
                tl_sysfail_inject(inj.call, err, 0, 1);
                int rc = tickless_conn_new(ssl, nullptr, &c);
                tl_sysfail_inject(inj.call, 0, 0, 0);
                if (inj.dedicated) {
                    EXPECT_EQ(rc, TICKLESS_ERR_SYS) << tickless_err_name(rc);
                    EXPECT_EQ(c, nullptr);
                    EXPECT_EQ(CountOpenFds(), fds0) << "descriptors leaked";
                    EXPECT_EQ(SettlesAt(threads0, CountThreads), threads0)
                        << "threads left running";
                    EXPECT_TRUE(other.Echo()) << "a live connection suffered";
                    // The SSL object is still ours and still good: attach
                    // it for real now.
                    ASSERT_EQ(tickless_conn_new(ssl, nullptr, &c), 0);
                } else {
                    // Not even asked for: the connection is made.
                    EXPECT_EQ(tl_sysfail_failures(inj.call), before);
                    ASSERT_EQ(rc, 0) << tickless_err_name(rc);
                }
                // Either way it works, and gives its thread back.
                EXPECT_EQ(tickless_conn_handshake(c, kTimeoutMs), 0);
                EXPECT_EQ(WritePattern(c, 0, 100, kTimeoutMs), 0);
                EXPECT_EQ(ReadPattern(c, 0, 100, kTimeoutMs), 0);
                tickless_conn_close(c);
                EXPECT_EQ(SettlesAt(threads0, CountThreads), threads0);
            }
        }
    }
    ts_server_stop(srv);
}


// epoll_pwait2() refused with EPERM, as the seccomp profiles of container
// runtimes older than the call refuse it (not with ENOSYS): the assist
// falls back to epoll_wait() as on a kernel without the call, says so in
// the log once for the process, and every connection keeps being ticked.
// Before, the assist thread took it for a broken epoll and stopped, and
// its connections with it.
std::mutex g_log_mu;
std::vector<std::string> g_log;

void CollectLog(int level, tickless_conn *, const char *message, void *)
{
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log.push_back(std::to_string(level) + " " + message);
}

TEST(SysFail, EpollPwait2RefusedWithEpermFallsBackAndSaysSoOnce)
{
    ts_server *srv = StartServer(TS_DTLS);
    ASSERT_NE(srv, nullptr);
    g_log.clear();
    ASSERT_EQ(tickless_set_log(CollectLog, nullptr, TICKLESS_LOG_WARN, 0), 0);
    tl_poller_retry_pwait2(); // as in a process that has not fallen back yet
    unsigned before = tl_sysfail_failures(SYSFAIL_EPOLL_PWAIT2);
    // Refused for good, as a seccomp filter does.
    tl_sysfail_inject(SYSFAIL_EPOLL_PWAIT2, EPERM, 0, UINT_MAX);
    {
        // Callers sleep until the assist wakes them: it must be alive. A
        // pool's: a dedicated assist sleeps in ppoll(), not in epoll.
        AssistWakesCallers assist_wakes;
        tickless_pool *pool = nullptr;
        ASSERT_EQ(tickless_pool_new(nullptr, &pool), 0);
        for (int i = 0; i < 2; i++) {
            SCOPED_TRACE("connection " + std::to_string(i));
            tickless_conn *c = NewClientOn(pool, TS_DTLS,
                                           ts_server_port(srv));
            ASSERT_NE(c, nullptr);
            int rc = tickless_conn_handshake(c, kTimeoutMs);
            EXPECT_EQ(rc, 0) << tickless_err_name(rc);
            if (rc == 0) {
                EXPECT_EQ(WritePattern(c, 0, 1000, kTimeoutMs), 0);
                EXPECT_EQ(ReadPattern(c, 0, 1000, kTimeoutMs), 0);
            }
            // On a loaded machine the exchange can finish on the callers'
            // own retries before the assist thread has slept even once:
            // let it reach its wait before the close takes it away.
            for (int t = 0; t < 500 * TimeScale()
                            && tl_sysfail_failures(SYSFAIL_EPOLL_PWAIT2)
                                   == before;
                 t++)
                ts_sleep_ms(10);
            tickless_conn_close(c);
        }
        EXPECT_EQ(tickless_pool_free(pool), 0);
    }
    tl_sysfail_inject(SYSFAIL_EPOLL_PWAIT2, 0, 0, 0);
    tickless_set_log(nullptr, nullptr, 0, 0);
    tl_poller_retry_pwait2();
    EXPECT_GT(tl_sysfail_failures(SYSFAIL_EPOLL_PWAIT2), before)
        << "the failure was never reached";
    int said = 0;
    for (const std::string &m : g_log)
        said += m.find("epoll_pwait2") != std::string::npos;
    EXPECT_EQ(said, 1) << "the fallback is logged once";
    ts_server_stop(srv);
}

} // namespace
