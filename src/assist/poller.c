#include "assist/poller.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/sysfail.h"

static atomic_int have_pwait2 = 1;

static int wait_ms(int epfd, struct epoll_event *events, int max,
                   uint64_t timeout_ns)
{
    uint64_t ms;

    if (timeout_ns == CLOCK_NEVER)
        return epoll_wait(epfd, events, max, -1);
    ms = (timeout_ns + NS_PER_MS - 1) / NS_PER_MS;
    return epoll_wait(epfd, events, max, ms > INT_MAX ? INT_MAX : (int)ms);
}

int tl_poller_wait(int epfd, struct epoll_event *events, int max,
                   uint64_t timeout_ns)
{
    struct timespec ts;
    int n;

    if (!atomic_load_explicit(&have_pwait2, memory_order_relaxed))
        return wait_ms(epfd, events, max, timeout_ns);
    ts = tl_clock_to_timespec(timeout_ns);
    n = tl_sysfail_check(SYSFAIL_EPOLL_PWAIT2)
            ? -1
            : epoll_pwait2(epfd, events, max,
                           timeout_ns == CLOCK_NEVER ? NULL : &ts, NULL);
    /* ENOSYS: a kernel before 5.11. EPERM: a seccomp filter older than
     * the call (the default profiles of container runtimes) refuses it so;
     * epoll_pwait2() itself never fails with EPERM on our own epoll set.
     * Either way it will never work in this process: fall back for good. */
    if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
        int err = errno;

        if (atomic_exchange(&have_pwait2, 0))
            tl_log(TICKLESS_LOG_WARN, NULL,
                   "epoll_pwait2: %s; assist threads use epoll_wait(), "
                   "their timeouts rounded up to 1 ms",
                   strerror(err));
        return wait_ms(epfd, events, max, timeout_ns);
    }
    return n;
}

void tl_poller_retry_pwait2(void)
{
    atomic_store(&have_pwait2, 1);
}
