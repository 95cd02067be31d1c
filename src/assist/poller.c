#include "assist/poller.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <time.h>

#include "core/clock.h"

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

int poller_wait(int epfd, struct epoll_event *events, int max,
                uint64_t timeout_ns)
{
    struct timespec ts;
    int n;

    if (!atomic_load_explicit(&have_pwait2, memory_order_relaxed))
        return wait_ms(epfd, events, max, timeout_ns);
    ts = clock_to_timespec(timeout_ns);
    n = epoll_pwait2(epfd, events, max,
                     timeout_ns == CLOCK_NEVER ? NULL : &ts, NULL);
    if (n < 0 && errno == ENOSYS) {
        atomic_store(&have_pwait2, 0);
        return wait_ms(epfd, events, max, timeout_ns);
    }
    return n;
}
