// fork() while assist threads run. The child inherits the connections and
// pools but not their threads, and maybe a mutex that one of those threads
// held at the moment of the fork. Every call on an object from before the
// fork must fail at once with TICKLESS_ERR_FORKED in the child (never touch
// those locks: that would be a deadlock waiting to happen), the child must
// still be able to make objects of its own, and the parent must not notice
// anything.
#include "harness.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

namespace {

const int kTimeoutMs = 10000;

// The child's checks: returns 0, or the number of the first that failed
// (the child cannot use gtest; its exit status carries the verdict).
int ChildChecks(tickless_conn *pooled, tickless_conn *dedicated,
                tickless_pool *pool, uint16_t port)
{
    char buf[16];
    size_t n = 0;
    tickless_stats st = TICKLESS_STATS_INIT;
    struct tickless_pool_stats ps = TICKLESS_POOL_STATS_INIT;
    tickless_error_info info = TICKLESS_ERROR_INFO_INIT;

    for (tickless_conn *c : { pooled, dedicated }) {
        if (tickless_conn_read(c, buf, sizeof(buf), &n, 1000)
            != TICKLESS_ERR_FORKED)
            return 1;
        if (tickless_conn_write(c, "x", 1, &n, 1000) != TICKLESS_ERR_FORKED)
            return 2;
        if (tickless_conn_handshake(c, 1000) != TICKLESS_ERR_FORKED)
            return 3;
        if (tickless_conn_shutdown(c, 1000) != TICKLESS_ERR_FORKED)
            return 4;
        if (tickless_conn_stats(c, &st) != TICKLESS_ERR_FORKED)
            return 5;
        if (tickless_conn_stats_reset(c) != TICKLESS_ERR_FORKED)
            return 6;
        if (tickless_conn_error(c, &info) != TICKLESS_ERR_FORKED)
            return 7;
        if (tickless_conn_lock(c) != nullptr)
            return 8;
        tickless_conn_unlock(c); // nothing to undo, nothing done
        tickless_conn_close(c);  // the child's copy is left alone
    }
    if (tickless_pool_stats(pool, &ps) != TICKLESS_ERR_FORKED)
        return 9;
    if (tickless_pool_stats_reset(pool) != TICKLESS_ERR_FORKED)
        return 10;
    if (tickless_pool_free(pool) != TICKLESS_ERR_FORKED)
        return 11;

    // A new SSL object cannot join the old pool ...
    SSL_CTX *ctx = ts_client_ctx(TS_DTLS);
    SSL *ssl = ts_client_new(ctx, TS_DTLS, port);
    tickless_conn *fresh = nullptr;
    if (ssl == nullptr)
        return 12;
    if (tickless_conn_new(ssl, pool, &fresh) != TICKLESS_ERR_FORKED)
        return 13;
    // ThreadSanitizer does not support starting threads in the child of a
    // multi-threaded fork() (it kills the child on purpose): under it, the
    // child skips making a pool of its own.
    if (BUILT_WITH_TSAN) {
        SSL_free(ssl);
        SSL_CTX_free(ctx);
        return 0;
    }
    // ... but the child's own objects work: a pool of its own, a
    // connection on it, an echo through the parent's server.
    tickless_pool *mine = nullptr;
    if (tickless_pool_new(nullptr, &mine) != 0)
        return 14;
    if (tickless_conn_new(ssl, mine, &fresh) != 0)
        return 15;
    if (tickless_conn_handshake(fresh, kTimeoutMs) != 0)
        return 16;
    if (tickless_conn_write(fresh, "ping", 4, &n, kTimeoutMs) != 0)
        return 17;
    if (ReadExactly(fresh, buf, 4, kTimeoutMs) != 0)
        return 18;
    if (std::memcmp(buf, "ping", 4) != 0)
        return 19;
    tickless_conn_close(fresh);
    if (tickless_pool_free(mine) != 0)
        return 20;
    SSL_CTX_free(ctx);
    return 0;
}

TEST(Fork, ChildGetsForkedAtOnceAndTheParentCarriesOn)
{
    ts_server *srv = StartServer(TS_DTLS);
    ASSERT_NE(srv, nullptr);
    tickless_pool *pool = nullptr;
    ASSERT_EQ(tickless_pool_new(nullptr, &pool), 0);
    tickless_conn *pooled = NewClientOn(pool, TS_DTLS, ts_server_port(srv));
    tickless_conn *dedicated =
        NewClientOn(nullptr, TS_DTLS, ts_server_port(srv));
    ASSERT_NE(pooled, nullptr);
    ASSERT_NE(dedicated, nullptr);
    ASSERT_EQ(tickless_conn_handshake(pooled, kTimeoutMs), 0);
    ASSERT_EQ(tickless_conn_handshake(dedicated, kTimeoutMs), 0);

    // A reader blocked in the parent, and the assist threads running, when
    // the fork happens: the child inherits their state mid-flight.
    std::atomic<int> blocked_rc{ -100 };
    std::thread reader([&] {
        char b[100];
        blocked_rc = ReadExactly(pooled, b, sizeof(b), kTimeoutMs);
    });
    ts_sleep_ms(100);

    pid_t pid = fork();
    if (pid == 0)
        _exit(ChildChecks(pooled, dedicated, pool, ts_server_port(srv)));
    ASSERT_GT(pid, 0);

    // The child has 20 s; a deadlock would keep it forever.
    int status = 0;
    pid_t done = 0;
    for (int i = 0; i < 2000 && done == 0; i++) {
        done = waitpid(pid, &status, WNOHANG);
        if (done == 0)
            ts_sleep_ms(10);
    }
    if (done == 0) {
        kill(pid, SIGKILL);
        (void)waitpid(pid, &status, 0);
        ADD_FAILURE() << "the child hung: a lock inherited across fork()";
    } else {
        ASSERT_TRUE(WIFEXITED(status)) << "the child died, status " << status;
        EXPECT_EQ(WEXITSTATUS(status), 0)
            << "child check " << WEXITSTATUS(status) << " failed";
    }

    // The parent never noticed: the blocked reader gets its echo.
    EXPECT_EQ(WritePattern(pooled, 0, 100, kTimeoutMs), 0);
    reader.join();
    EXPECT_EQ(blocked_rc.load(), 0) << tickless_err_name(blocked_rc.load());
    EXPECT_EQ(WritePattern(dedicated, 0, 1000, kTimeoutMs), 0);
    EXPECT_EQ(ReadPattern(dedicated, 0, 1000, kTimeoutMs), 0);
    tickless_conn_close(pooled);
    tickless_conn_close(dedicated);
    EXPECT_EQ(tickless_pool_free(pool), 0);
    ts_server_stop(srv);
}

// A thread that has polled its socket (self_poll.h) has a wake-up eventfd
// of its own. The child of a fork() by that thread must not share it with
// the parent: eventfds are shared across fork(), so the child would drain
// wake-ups meant for the parent's poller (which then sleeps through them)
// and its own would wake the parent. The child makes its own on first use.
TEST(Fork, ChildDoesNotShareTheThreadsWakeUpDescriptor)
{
    int mine = tl_self_poll_thread_fd();
    ASSERT_GE(mine, 0);
    // A wake-up pending for this thread's poller at the moment of fork().
    uint64_t one = 1;
    ASSERT_EQ(write(mine, &one, sizeof(one)), (ssize_t)sizeof(one));

    pid_t pid = fork();
    if (pid == 0) {
        int fd = tl_self_poll_thread_fd();
        uint64_t v = 0;
        if (fd < 0)
            _exit(1);
        if (read(fd, &v, sizeof(v)) >= 0)
            _exit(2); // took the parent's wake-up
        uint64_t seven = 7; // a wake-up of the child's own
        if (write(fd, &seven, sizeof(seven)) != (ssize_t)sizeof(seven))
            _exit(3);
        _exit(0);
    }
    ASSERT_GT(pid, 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "the child died, status " << status;
    EXPECT_EQ(WEXITSTATUS(status), 0)
        << "child check " << WEXITSTATUS(status) << " failed";
    // Exactly the parent's own wake-up is still there.
    uint64_t v = 0;
    EXPECT_EQ(read(mine, &v, sizeof(v)), (ssize_t)sizeof(v));
    EXPECT_EQ(v, 1u);
}

} // namespace
