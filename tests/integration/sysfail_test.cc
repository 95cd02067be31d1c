// System calls failing: epoll_create1, eventfd, timerfd_create and
// pthread_create fail as the kernel would (EMFILE, ENOMEM, EAGAIN), and so do
// the calls that watch sockets (see SocketWatch below), through the injection
// hook of src/core/sysfail.h. The call that needed them returns
// TICKLESS_ERR_SYS, every descriptor and thread made before the failure is
// released (a pool fails on its second shard too), and what already runs
// keeps running: a live connection on another pool still echoes, and the next
// attempt succeeds.
#include "harness.h"

extern "C" {
#include "assist/poller.h"
#include "core/self_poll.h"
#include "core/sysfail.h"
}

#include <dirent.h>

#include <cerrno>
#include <climits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

const int kTimeoutMs = 10000;

// Open descriptors of this process.
int OpenFds()
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d == nullptr)
        return -1;
    while (readdir(d) != nullptr)
        n++;
    closedir(d);
    return n - 3; // ".", ".." and the directory's own descriptor
}

// Threads of this process.
int Threads()
{
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    if (d == nullptr)
        return -1;
    while (readdir(d) != nullptr)
        n++;
    closedir(d);
    return n - 2;
}

struct Injection {
    sysfail_call call;
    const char *name;
    unsigned threads; // the pool that needs the call (0: app-driven)
};

const Injection kInjections[] = {
    { SYSFAIL_EPOLL_CREATE, "epoll_create1", 2 },
    { SYSFAIL_EVENTFD, "eventfd", 2 },
    { SYSFAIL_TIMERFD_CREATE, "timerfd_create", 2 },
    { SYSFAIL_PTHREAD_CREATE, "pthread_create", 2 },
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
                    int fds0 = OpenFds(), threads0 = Threads();
                    tickless_pool *p = nullptr;

                    tl_sysfail_inject(inj.call, err, skip, 1);
                    int rc = tickless_pool_new(&o, &p);
                    tl_sysfail_inject(inj.call, 0, 0, 0);
                    EXPECT_EQ(rc, TICKLESS_ERR_SYS) << tickless_err_name(rc);
                    EXPECT_EQ(p, nullptr);
                    if (p != nullptr) {
                        EXPECT_EQ(tickless_pool_free(p), 0);
                    }
                    EXPECT_EQ(OpenFds(), fds0) << "descriptors leaked";
                    EXPECT_EQ(Threads(), threads0) << "threads left running";
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
                int fds0 = OpenFds(), threads0 = Threads();
                tickless_conn *c = nullptr;

                tl_sysfail_inject(inj.call, err, 0, 1);
                int rc = tickless_conn_new(ssl, nullptr, &c);
                tl_sysfail_inject(inj.call, 0, 0, 0);
                EXPECT_EQ(rc, TICKLESS_ERR_SYS) << tickless_err_name(rc);
                EXPECT_EQ(c, nullptr);
                EXPECT_EQ(OpenFds(), fds0) << "descriptors leaked";
                EXPECT_EQ(Threads(), threads0) << "threads left running";
                EXPECT_TRUE(other.Echo()) << "a live connection suffered";

                // The SSL object is still ours and still good: attach it
                // for real now and use it.
                ASSERT_EQ(tickless_conn_new(ssl, nullptr, &c), 0);
                EXPECT_EQ(tickless_conn_handshake(c, kTimeoutMs), 0);
                EXPECT_EQ(WritePattern(c, 0, 100, kTimeoutMs), 0);
                EXPECT_EQ(ReadPattern(c, 0, 100, kTimeoutMs), 0);
                tickless_conn_close(c);
            }
        }
    }
    ts_server_stop(srv);
}

// The calls that watch sockets failing: a shard's epoll_ctl(), a lone
// caller's ppoll(), and the eventfd that caller's thread would be woken
// through. None of them may cost a connection: tickless falls back (the
// shard ticks the connection every few milliseconds until epoll takes it;
// the caller sleeps on its condition variable and the assist wakes it) and
// every echo still comes back, intact and in reasonable time.
struct WatchFailure {
    sysfail_call call;
    const char *name;
    int err;
    bool self_poll; // off: the assist's own readiness path is the one used
};

const WatchFailure kWatchFailures[] = {
    { SYSFAIL_EPOLL_CTL, "epoll_ctl", ENOMEM, false },
    { SYSFAIL_EPOLL_CTL, "epoll_ctl", ENOSPC, false },
    { SYSFAIL_PPOLL, "ppoll", ENOMEM, true },
    { SYSFAIL_THREAD_EVENTFD, "eventfd", EMFILE, true },
};

class SocketWatch : public testing::TestWithParam<ts_proto> {};

TEST_P(SocketWatch, FailuresFallBackAndNothingStalls)
{
    const ts_proto proto = GetParam();
    SKIP_UNLESS_AVAILABLE(proto);
    ts_server *srv = StartServer(proto);
    ASSERT_NE(srv, nullptr);
    for (const WatchFailure &f : kWatchFailures) {
        SCOPED_TRACE(std::string(f.name) + " failing with " + strerror(f.err));
        tickless_pool *pool = nullptr;
        ASSERT_EQ(tickless_pool_new(nullptr, &pool), 0);
        tl_self_poll_set_enabled(f.self_poll);
        unsigned before = tl_sysfail_failures(f.call);

        // Failing from the start: the connection's first registration too.
        tl_sysfail_inject(f.call, f.err, 0, UINT_MAX);
        int rc = -100;
        double seconds = 0;
        // A thread of its own, which has never made its wake-up eventfd.
        std::thread app([&] {
            tickless_conn *c = NewClientOn(pool, proto, ts_server_port(srv));
            if (c == nullptr)
                return;
            uint64_t t0 = ts_now_ns();
            rc = tickless_conn_handshake(c, kTimeoutMs);
            // Nothing is coming: this read surely blocks, so the waiting
            // path (and its failing call) is reached, however fast the
            // echoes below find their data.
            char byte;
            size_t n = 0;
            if (rc == 0) {
                int idle = tickless_conn_read(c, &byte, 1, &n, 50);
                rc = idle == TICKLESS_ERR_TIMEOUT ? 0 : -200 + idle;
            }
            for (uint64_t off = 0; rc == 0 && off < 20 * 1000; off += 1000) {
                rc = WritePattern(c, off, 1000, kTimeoutMs);
                if (rc == 0)
                    rc = ReadPattern(c, off, 1000, kTimeoutMs);
            }
            seconds = (ts_now_ns() - t0) / 1e9;
            tickless_conn_close(c);
        });
        app.join();
        tl_sysfail_inject(f.call, 0, 0, 0);
        tl_self_poll_set_enabled(1);
        unsigned injected = tl_sysfail_failures(f.call) - before;

        EXPECT_EQ(rc, 0) << tickless_err_name(rc);
        EXPECT_GT(injected, 0u) << "the failure was never reached";
        // 20 round trips: milliseconds normally, a few 5 ms retry periods
        // each at worst; a stall would wait for a timeout of seconds.
        EXPECT_LT(seconds, 8.0 * TimeScale()) << "a fallback was slow";
        std::cout << "[ sysfail  ] " << f.name << " (" << strerror(f.err)
                  << ") failed " << injected << " times; handshake and 20 "
                  << "echoes took " << seconds * 1000 << " ms\n";
        EXPECT_EQ(tickless_pool_free(pool), 0);
    }
    ts_server_stop(srv);
}

// A lone caller's ppoll() fails (ENOMEM) and it goes to sleep on its
// condition variable instead. A wake-up that came while it was polling,
// with the mutex released, must not be lost in the switch: here another
// thread, inside that window, gets the echo the caller waits for into
// OpenSSL's buffers (the socket is then empty, and DTLS and TLS have no
// timer left to tick) and wakes the caller's queue. Before, the sleep
// started afresh from the queue's new generation and the caller slept
// until its timeout with the data there to read (its last attempt then
// found it: the call succeeds, only its timeout late).
struct WindowWork {
    tickless_conn *c;
    bool done = false;
    std::string what; // the first thing that went wrong, if any
};

void GetEchoIntoOpenSslInTheWindow(void *arg)
{
    WindowWork *w = static_cast<WindowWork *>(arg);
    // Another thread, as in real life: this one is inside a call.
    std::thread t([w] {
        size_t n = 0;
        if (tickless_conn_write(w->c, "x", 1, &n, kTimeoutMs) != 0) {
            w->what = "write failed";
            return;
        }
        SSL *ssl = tickless_conn_lock(w->c);
        if (ssl == nullptr) {
            w->what = "lock failed";
            return;
        }
        // SSL_peek() reads the socket into OpenSSL's buffers and leaves
        // the byte there for the caller.
        char b;
        uint64_t give_up = ts_now_ns() + (uint64_t)(kTimeoutMs * 1e6);
        int r;
        while ((r = SSL_peek(ssl, &b, 1)) <= 0 && ts_now_ns() < give_up
               && SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ)
            ts_sleep_ms(1);
        if (r <= 0)
            w->what = "the echo never came: SSL_peek " + std::to_string(r)
                      + ", SSL_get_error "
                      + std::to_string(SSL_get_error(ssl, r));
        // Unlocking wakes the caller's queue: data may be there now.
        tickless_conn_unlock(w->c);
        w->done = r > 0;
    });
    t.join();
}

class SelfPollFailure : public testing::TestWithParam<ts_proto> {};

TEST_P(SelfPollFailure, WakeUpDuringTheFailedPollIsNotLost)
{
    const ts_proto proto = GetParam();
    SKIP_UNLESS_AVAILABLE(proto);
    ts_server *srv = nullptr;
    tickless_conn *c = StartServerAndConnect(Mode::Dedicated, proto, &srv);
    ASSERT_NE(c, nullptr);
    WindowWork work;
    work.c = c;
    unsigned before = tl_sysfail_failures(SYSFAIL_PPOLL);
    tl_sysfail_on_failure(SYSFAIL_PPOLL, GetEchoIntoOpenSslInTheWindow, &work);
    tl_sysfail_inject(SYSFAIL_PPOLL, ENOMEM, 0, 1);

    char b = 0;
    size_t n = 0;
    uint64_t t0 = ts_now_ns();
    int rc = tickless_conn_read(c, &b, 1, &n, kTimeoutMs);
    double seconds = (ts_now_ns() - t0) / 1e9;
    tl_sysfail_inject(SYSFAIL_PPOLL, 0, 0, 0);
    tl_sysfail_on_failure(SYSFAIL_PPOLL, nullptr, nullptr);

    ASSERT_EQ(tl_sysfail_failures(SYSFAIL_PPOLL) - before, 1u)
        << "the read never polled";
    EXPECT_TRUE(work.done) << work.what;
    EXPECT_EQ(rc, 0) << tickless_err_name(rc);
    // Milliseconds; a lost wake-up waits for the 10 s timeout.
    EXPECT_LT(seconds, 5.0 * TimeScale())
        << "the wake-up in the window was lost: the read slept until its "
           "timeout";
    EXPECT_EQ(n, 1u);
    EXPECT_EQ(b, 'x');
    tickless_conn_close(c);
    ts_server_stop(srv);
}

INSTANTIATE_TEST_SUITE_P(Protos, SelfPollFailure,
                         testing::Values(TS_QUIC, TS_DTLS, TS_TLS),
                         [](const testing::TestParamInfo<ts_proto> &info) {
                             return std::string(ProtoName(info.param));
                         });

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
        // Callers sleep until the assist wakes them: it must be alive.
        AssistWakesCallers assist_wakes;
        for (int i = 0; i < 2; i++) {
            SCOPED_TRACE("connection " + std::to_string(i));
            tickless_conn *c = NewClientOn(nullptr, TS_DTLS,
                                           ts_server_port(srv));
            ASSERT_NE(c, nullptr);
            int rc = tickless_conn_handshake(c, kTimeoutMs);
            EXPECT_EQ(rc, 0) << tickless_err_name(rc);
            if (rc == 0) {
                EXPECT_EQ(WritePattern(c, 0, 1000, kTimeoutMs), 0);
                EXPECT_EQ(ReadPattern(c, 0, 1000, kTimeoutMs), 0);
            }
            tickless_conn_close(c);
        }
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

INSTANTIATE_TEST_SUITE_P(Protos, SocketWatch,
                         testing::Values(TS_QUIC, TS_DTLS, TS_TLS),
                         [](const testing::TestParamInfo<ts_proto> &info) {
                             return std::string(ProtoName(info.param));
                         });

} // namespace
