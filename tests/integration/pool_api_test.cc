// The pool API and its bad input: the options and their edges, the stack
// the assist threads get, the statistics and their reset, which calls an
// application-driven pool takes, and a free refused while connections are
// attached. The tests make their own pools; the process-wide pools of the
// harness (PoolFor) are not used.
#include "harness.h"

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstring>
#include <iostream>
#include <thread>
#include <vector>

TEST(PoolApi, OptionsDefaults)
{
    tickless_pool_options o;

    std::memset(&o, 0xa5, sizeof(o));
    tickless_pool_options_defaults(&o);
    EXPECT_EQ(o.size, sizeof(tickless_pool_options));
    EXPECT_EQ(o.threads, 1u);
    EXPECT_EQ(o.thread_name, nullptr);
    EXPECT_EQ(o.timer_slack_ns, 0u);
    EXPECT_EQ(o.first_cpu, -1);
    EXPECT_EQ(o.stack_size, 0u);
    tickless_pool_options_defaults(nullptr); // ignored, no crash
}

TEST(PoolApi, NewRejectsBadArguments)
{
    tickless_pool_options o;
    tickless_pool *p = nullptr;

    tickless_pool_options_defaults(&o);
    EXPECT_EQ(tickless_pool_new(&o, nullptr), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_pool_new(nullptr, nullptr), TICKLESS_ERR_INVALID);

    // A size that does not even reach |threads| cannot be an older header.
    for (size_t small : { (size_t)0, (size_t)1,
                          offsetof(tickless_pool_options, threads) }) {
        tickless_pool_options_defaults(&o);
        o.size = small;
        p = nullptr;
        EXPECT_EQ(tickless_pool_new(&o, &p), TICKLESS_ERR_INVALID)
            << "size " << small;
        if (p != nullptr) { // do not leak if it was accepted after all
            EXPECT_EQ(tickless_pool_free(p), 0);
        }
    }

    tickless_pool_options_defaults(&o);
    o.threads = 257;
    p = nullptr;
    EXPECT_EQ(tickless_pool_new(&o, &p), TICKLESS_ERR_INVALID);
    if (p != nullptr) {
        EXPECT_EQ(tickless_pool_free(p), 0);
    }

    tickless_pool_options_defaults(&o);
    o.first_cpu = -2;
    p = nullptr;
    EXPECT_EQ(tickless_pool_new(&o, &p), TICKLESS_ERR_INVALID);
    if (p != nullptr) {
        EXPECT_EQ(tickless_pool_free(p), 0);
    }

    for (size_t stack : { (size_t)1, (size_t)4096, (size_t)(64 << 10) - 1 }) {
        tickless_pool_options_defaults(&o);
        o.stack_size = stack;
        p = nullptr;
        EXPECT_EQ(tickless_pool_new(&o, &p), TICKLESS_ERR_INVALID)
            << "stack_size " << stack;
        if (p != nullptr) {
            EXPECT_EQ(tickless_pool_free(p), 0);
        }
    }

    EXPECT_EQ(tickless_pool_free(nullptr), TICKLESS_ERR_INVALID);
}

namespace {

// The stack an assist thread really runs on, seen from inside a tick: a
// DTLS handshake towards a peer that never answers makes OpenSSL call the
// timer callback from the assist's DTLSv1_handle_timeout().
std::atomic<size_t> g_assist_stack{ 0 };
std::atomic<pthread_t> g_app_thread;

unsigned int RecordAssistStack(SSL *, unsigned int)
{
    pthread_attr_t attr;
    size_t size = 0;

    if (!pthread_equal(pthread_self(), g_app_thread.load())
        && pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstacksize(&attr, &size);
        pthread_attr_destroy(&attr);
        g_assist_stack = size;
    }
    return 20000; // 20 ms between retransmissions
}

size_t AssistStackOf(tickless_pool *pool)
{
    SilentUdpPeer silent;
    g_assist_stack = 0;
    g_app_thread = pthread_self();
    tickless_conn *c = silent.NewDtlsClient(pool, [](SSL *s) {
        DTLS_set_timer_cb(s, RecordAssistStack);
    });
    if (c != nullptr) {
        // Ends after OpenSSL's retransmissions run out (~0.3 s).
        (void)tickless_conn_handshake(c, 10000);
        tickless_conn_close(c);
    }
    return g_assist_stack.load();
}

} // namespace

TEST(PoolApi, AssistThreadsRunOnTheStackSizeAsked)
{
    SKIP_UNLESS_AVAILABLE(TS_DTLS);
    tickless_pool_options o;
    tickless_pool *p = nullptr;

    // 1.5 MiB: glibc hands a new thread a cached stack of an exited one
    // when it is big enough and at most 4 times the size asked for, and
    // reports the cached stack's size. 1.5 MiB is more than 4 times the
    // default (256 KiB) and less than the sanitizer default (2 MiB), so the
    // default pool below cannot inherit this pool's stack in either build.
    tickless_pool_options_defaults(&o);
    o.stack_size = (size_t)1536 << 10;
    ASSERT_EQ(tickless_pool_new(&o, &p), 0);
    EXPECT_EQ(AssistStackOf(p), (size_t)1536 << 10);
    EXPECT_EQ(tickless_pool_free(p), 0);

    // The default: far below glibc's 8 MiB, which would be reserved per
    // thread (per connection in dedicated mode).
    p = nullptr;
    ASSERT_EQ(tickless_pool_new(nullptr, &p), 0);
    size_t dflt = AssistStackOf(p);
    EXPECT_GE(dflt, (size_t)64 << 10);
    EXPECT_LE(dflt, (size_t)2 << 20);
    EXPECT_EQ(tickless_pool_free(p), 0);
    EXPECT_EQ(AssistStackOf(nullptr), dflt) << "dedicated threads alike";
}

// A connection that ticked on its timers and then died ticks no more: a
// reset must leave its figures and its pool's at zero for good.
TEST(PoolApi, StatsResetStartsTheFiguresAfresh)
{
    SKIP_UNLESS_AVAILABLE(TS_DTLS);
    tickless_pool *p = NewPool(1);
    ASSERT_NE(p, nullptr);
    SilentUdpPeer silent;
    tickless_conn *c = silent.NewDtlsClient(p);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(tickless_conn_handshake(c, 10000), TICKLESS_ERR_PEER);

    struct tickless_pool_stats ps = PoolStats(p);
    tickless_stats cs = TICKLESS_STATS_INIT;
    ASSERT_EQ(tickless_conn_stats(c, &cs), 0);
    EXPECT_GE(ps.timer_ticks, 10u) << "13 retransmission timers fired";
    EXPECT_GE(cs.timer_ticks, 10u);
    EXPECT_GT(cs.lateness_max_ns, 0u);

    // The tick that found the connection dead woke the handshake before
    // its batch was counted: let that iteration end, so that it cannot be
    // counted after the reset (which the header allows).
    ts_sleep_ms(100);
    EXPECT_EQ(tickless_pool_stats_reset(p), 0);
    EXPECT_EQ(tickless_conn_stats_reset(c), 0);
    ts_sleep_ms(100);
    ps = PoolStats(p);
    ASSERT_EQ(tickless_conn_stats(c, &cs), 0);
    EXPECT_EQ(ps.ticks + ps.timer_ticks + ps.io_ticks + ps.wakeups, 0u);
    EXPECT_EQ(ps.lateness_p50_ns + ps.lateness_p99_ns + ps.lateness_max_ns,
              0u);
    EXPECT_EQ(ps.connections, 1u) << "not a counter";
    EXPECT_EQ(cs.ticks + cs.timer_ticks + cs.io_ticks + cs.wakeups, 0u);
    EXPECT_EQ(cs.lateness_p50_ns + cs.lateness_p99_ns + cs.lateness_max_ns,
              0u);

    EXPECT_EQ(tickless_pool_stats_reset(nullptr), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_conn_stats_reset(nullptr), TICKLESS_ERR_INVALID);
    ASSERT_NE(tickless_conn_lock(c), nullptr);
    EXPECT_EQ(tickless_conn_stats_reset(c), TICKLESS_ERR_INVALID)
        << "would deadlock on the held mutex";
    tickless_conn_unlock(c);
    tickless_conn_close(c);
    EXPECT_EQ(tickless_pool_free(p), 0);
}

TEST(PoolApi, NewAcceptsTheEdgesOfTheOptions)
{
    tickless_pool_options o;
    tickless_pool *p = nullptr;

    // NULL options mean the defaults: one thread.
    ASSERT_EQ(tickless_pool_new(nullptr, &p), 0);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(PoolStats(p).threads, 1u);
    EXPECT_EQ(tickless_pool_free(p), 0);

    // 256 threads is the documented maximum.
    tickless_pool_options_defaults(&o);
    o.threads = 256;
    p = nullptr;
    ASSERT_EQ(tickless_pool_new(&o, &p), 0);
    EXPECT_EQ(PoolStats(p).threads, 256u);
    EXPECT_EQ(tickless_pool_free(p), 0);

    // Pinned (wrapping round the online CPUs), a long name cut to 15 bytes,
    // a timer slack of its own.
    tickless_pool_options_defaults(&o);
    o.threads = 3;
    o.first_cpu = 1000;
    o.thread_name = "a-thread-name-far-longer-than-fifteen-bytes";
    o.timer_slack_ns = 1000;
    p = nullptr;
    ASSERT_EQ(tickless_pool_new(&o, &p), 0);
    EXPECT_EQ(PoolStats(p).threads, 3u);
    EXPECT_EQ(tickless_pool_free(p), 0);

    // A struct from a newer header (larger size) is fine too.
    struct {
        tickless_pool_options o;
        uint64_t future_field;
    } bigger;
    tickless_pool_options_defaults(&bigger.o);
    bigger.o.size = sizeof(bigger);
    bigger.future_field = 0;
    p = nullptr;
    ASSERT_EQ(tickless_pool_new(&bigger.o, &p), 0);
    EXPECT_EQ(tickless_pool_free(p), 0);
}

TEST(PoolApi, FdAndRunOnlyForApplicationDrivenPools)
{
    EXPECT_EQ(tickless_pool_fd(nullptr), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_pool_run(nullptr, 0), TICKLESS_ERR_INVALID);

    tickless_pool *threaded = NewPool(2);
    ASSERT_NE(threaded, nullptr);
    EXPECT_EQ(tickless_pool_fd(threaded), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_pool_run(threaded, 0), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_pool_run(threaded, TICKLESS_FOREVER),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_pool_free(threaded), 0);

    tickless_pool *app = NewPool(0);
    ASSERT_NE(app, nullptr);
    int fd = tickless_pool_fd(app);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(tickless_pool_fd(app), fd) << "the descriptor is stable";
    EXPECT_EQ(tickless_pool_run(app, -2), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_pool_run(app, -1000), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_pool_run(app, 0), 0);
    struct tickless_pool_stats st = PoolStats(app);
    EXPECT_EQ(st.threads, 0u);
    EXPECT_EQ(st.cpu_ns, 0u);
    EXPECT_EQ(tickless_pool_free(app), 0);
}

TEST(PoolApi, StatsBadInputAndOlderStructs)
{
    tickless_pool *p = NewPool(2);
    ASSERT_NE(p, nullptr);
    struct tickless_pool_stats st = TICKLESS_POOL_STATS_INIT;

    EXPECT_EQ(tickless_pool_stats(nullptr, &st), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_pool_stats(p, nullptr), TICKLESS_ERR_INVALID);
    st.size = 0;
    EXPECT_EQ(tickless_pool_stats(p, &st), TICKLESS_ERR_INVALID);

    // A caller built against a header that ended after |threads|: the
    // library fills what fits and nothing beyond.
    struct tickless_pool_stats old;
    std::memset(&old, 0xab, sizeof(old));
    old.size = offsetof(struct tickless_pool_stats, connections);
    ASSERT_EQ(tickless_pool_stats(p, &old), 0);
    EXPECT_EQ(old.threads, 2u);
    uint64_t untouched;
    std::memset(&untouched, 0xab, sizeof(untouched));
    EXPECT_EQ(old.connections, untouched);
    EXPECT_EQ(old.cpu_ns, untouched);

    EXPECT_EQ(tickless_pool_free(p), 0);
}

// Freeing a pool that still has a connection is refused, and the refusal
// changes nothing: the connection goes on working; once it is closed the
// pool frees.
TEST(PoolApi, FreeWithAConnectionAttachedIsBusyAndHarmless)
{
    for (ts_proto proto : AvailableProtos()) {
        SCOPED_TRACE(ProtoName(proto));
        ServerPtr srv(StartServer(proto));
        ASSERT_NE(srv, nullptr);
        tickless_pool *pool = NewPool(1);
        ASSERT_NE(pool, nullptr);
        tickless_conn *c = NewClientOn(pool, proto, ts_server_port(srv.get()));
        ASSERT_NE(c, nullptr);
        ASSERT_TRUE(EchoIntact(c, 0, 1000));

        EXPECT_EQ(tickless_pool_free(pool), TICKLESS_ERR_BUSY);
        EXPECT_EQ(PoolStats(pool).connections, 1u);
        EXPECT_TRUE(EchoIntact(c, 1000, 5000)) << "after the refused free";
        // A connection attached after the refused free works too.
        tickless_conn *c2 = NewClientOn(pool, proto, ts_server_port(srv.get()));
        ASSERT_NE(c2, nullptr);
        EXPECT_TRUE(EchoIntact(c2, 0, 1000));
        EXPECT_EQ(tickless_pool_free(pool), TICKLESS_ERR_BUSY);

        tickless_conn_close(c);
        EXPECT_EQ(tickless_pool_free(pool), TICKLESS_ERR_BUSY) << "c2 is left";
        tickless_conn_close(c2);
        EXPECT_EQ(tickless_pool_free(pool), 0);
    }
    if (!ProtoAvailable(TS_QUIC))
        std::cout << "[ note     ] QUIC not covered: "
                  << OpenSSL_version(OPENSSL_VERSION) << "\n";
}

TEST(PoolApi, StatsCountConnectionsTicksAndThreads)
{
    AssistWakesCallers pool_ticks; // the figures below are the pool threads'
    // Three connections, one per protocol where possible.
    std::vector<ts_proto> protos = AvailableProtos();
    while (protos.size() < 3)
        protos.push_back(TS_TLS);
    std::vector<ServerPtr> servers;
    tickless_pool *pool = NewPool(2);
    ASSERT_NE(pool, nullptr);

    struct tickless_pool_stats st = PoolStats(pool);
    EXPECT_EQ(st.size, sizeof(struct tickless_pool_stats));
    EXPECT_EQ(st.threads, 2u);
    EXPECT_EQ(st.connections, 0u);
    EXPECT_EQ(st.ticks, 0u) << "nothing to tick yet";

    std::vector<tickless_conn *> conns;
    for (ts_proto proto : protos) {
        servers.emplace_back(StartServer(proto));
        ASSERT_NE(servers.back(), nullptr);
        conns.push_back(
            NewClientOn(pool, proto, ts_server_port(servers.back().get())));
        ASSERT_NE(conns.back(), nullptr);
    }
    EXPECT_EQ(PoolStats(pool).connections, 3u);
    for (size_t i = 0; i < conns.size(); i++)
        EXPECT_TRUE(EchoIntact(conns[i], 0, 20000)) << ProtoName(protos[i]);
    // Those echoes may all have found their bytes without once waiting:
    // then no pool thread ticked (seen once in 60 runs). Here the assist
    // must: a reader asleep before its bytes are even sent, which only a
    // tick can wake (callers do not poll their sockets here).
    {
        int rc = -1;
        std::thread reader(
            [&] { rc = ReadPattern(conns[0], 20000, 100, 10000); });
        WaitForWaiters(conns[0], 1);
        EXPECT_EQ(WritePattern(conns[0], 20000, 100, 10000), 0);
        reader.join();
        EXPECT_EQ(rc, 0) << tickless_err_name(rc);
    }
    // The tick that woke the reader is counted when its batch ends, just
    // after the wake-up.
    for (int i = 0; i < 200 && PoolStats(pool).ticks == 0; i++)
        ts_sleep_ms(10);

    st = PoolStats(pool);
    EXPECT_EQ(st.connections, 3u);
    EXPECT_EQ(st.threads, 2u);
    EXPECT_GT(st.ticks, 0u);
    EXPECT_LE(st.timer_ticks, st.ticks);
    EXPECT_LE(st.io_ticks, st.ticks);
    EXPECT_GT(st.cpu_ns, 0u) << "the pool threads did the ticking";
    EXPECT_LE(st.lateness_p50_ns, st.lateness_p99_ns);
    EXPECT_LE(st.lateness_p99_ns, st.lateness_max_ns);
    std::cout << "[ stats    ] ticks " << st.ticks << " (timer "
              << st.timer_ticks << ", io " << st.io_ticks << "), wakeups "
              << st.wakeups << ", cpu " << st.cpu_ns / 1000 << " us\n";

    // The per-connection stats of a pooled connection agree.
    tickless_stats cst = TICKLESS_STATS_INIT;
    ASSERT_EQ(tickless_conn_stats(conns[0], &cst), 0);
    EXPECT_LE(cst.ticks, st.ticks);

    tickless_conn_close(conns[0]);
    EXPECT_EQ(PoolStats(pool).connections, 2u);
    tickless_conn_close(conns[1]);
    tickless_conn_close(conns[2]);
    st = PoolStats(pool);
    EXPECT_EQ(st.connections, 0u);
    EXPECT_GT(st.ticks, 0u) << "counters are since creation, not per conn";
    EXPECT_EQ(tickless_pool_free(pool), 0);
}
