#include "base/clock.h"

uint64_t tl_clock_read_ns(clockid_t id)
{
    struct timespec ts;

    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t tl_clock_now_ns(void)
{
    return tl_clock_read_ns(CLOCK_MONOTONIC);
}

uint64_t tl_clock_deadline_after_ms(int timeout_ms)
{
    if (timeout_ms < 0)
        return CLOCK_NEVER;
    return clock_add(tl_clock_now_ns(), (uint64_t)timeout_ms * NS_PER_MS);
}

struct timespec tl_clock_to_timespec(uint64_t ns)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(ns / NS_PER_SEC);
    ts.tv_nsec = (long)(ns % NS_PER_SEC);
    return ts;
}
