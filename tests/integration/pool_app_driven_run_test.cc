// tickless_pool_run() on an application-driven pool (threads == 0): its
// timeout, one runner at a time, and a free that ends a run waiting
// forever.
#include "harness.h"

#include <poll.h>

#include <atomic>
#include <iostream>
#include <thread>

TEST(PoolAppDrivenRun, NothingToDoReturnsPromptlyOrAfterTheTimeout)
{
    tickless_pool *pool = NewPool(0);
    ASSERT_NE(pool, nullptr);
    int fd = tickless_pool_fd(pool);
    ASSERT_GE(fd, 0);

    uint64_t t0 = ts_now_ns();
    EXPECT_EQ(tickless_pool_run(pool, 0), 0);
    EXPECT_LT(MsSince(t0), 500.0) << "timeout 0 must not wait";

    // Nothing to do, so nothing to report on the descriptor.
    struct pollfd p = { fd, POLLIN, 0 };
    EXPECT_EQ(poll(&p, 1, 100), 0) << "readable with no work";

    t0 = ts_now_ns();
    EXPECT_EQ(tickless_pool_run(pool, 50), 0);
    double ms = MsSince(t0);
    std::cout << "[ timing   ] tickless_pool_run(pool, 50) took " << ms
              << " ms\n";
    EXPECT_GE(ms, 40.0);
    EXPECT_LT(ms, 2000.0);

    // One runner at a time: a second caller gets TICKLESS_ERR_BUSY.
    std::atomic<bool> entering{ false };
    int long_rc = -100;
    std::thread runner([&] {
        entering = true;
        long_rc = tickless_pool_run(pool, 1000);
    });
    while (!entering)
        std::this_thread::yield();
    ts_sleep_ms(200); // well inside the other call's 1000 ms
    EXPECT_EQ(tickless_pool_run(pool, 0), TICKLESS_ERR_BUSY);
    runner.join();
    EXPECT_EQ(long_rc, 0);

    EXPECT_EQ(tickless_pool_free(pool), 0);
}

// An application-driven pool may be freed while another thread waits in
// tickless_pool_run(pool, TICKLESS_FOREVER): that call is woken and ends.
TEST(PoolAppDrivenRun, FreeWakesARunWaitingForever)
{
    tickless_pool *pool = NewPool(0);
    ASSERT_NE(pool, nullptr);
    std::atomic<bool> entering{ false }, returned{ false };
    int rc = -100;
    std::thread runner([&] {
        entering = true;
        rc = tickless_pool_run(pool, TICKLESS_FOREVER);
        returned = true;
    });
    while (!entering)
        std::this_thread::yield();
    ts_sleep_ms(200);
    EXPECT_FALSE(returned.load()) << "nothing to do, yet it returned " << rc;

    uint64_t t0 = ts_now_ns();
    EXPECT_EQ(tickless_pool_free(pool), 0);
    EXPECT_LT(MsSince(t0), 2000.0);
    runner.join();
    EXPECT_GE(rc, 0) << tickless_err_name(rc);
}
