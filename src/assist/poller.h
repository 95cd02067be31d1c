/* Sleeping on an epoll set with a nanosecond timeout. */
#ifndef TICKLESS_ASSIST_POLLER_H
#define TICKLESS_ASSIST_POLLER_H

#include <stdint.h>
#include <sys/epoll.h>

/* Waits for events on |epfd| for at most |timeout_ns| (CLOCK_NEVER: without
 * limit). The assist's deadlines do not pass through here: they ride the
 * shard's timerfd, which is in the epoll set (shard.c). |timeout_ns| is 0
 * (something is due already) or the bound an application gave
 * tickless_pool_run(). Uses epoll_pwait2() (Linux >= 5.11), which takes
 * that bound as it is; on older kernels (ENOSYS), or where a seccomp
 * filter refuses it (EPERM), it falls back for the rest of the process,
 * logged once (TICKLESS_LOG_WARN), to epoll_wait() with the timeout
 * rounded *up*, so it is never early.
 * Returns the number of events, 0 on timeout, or -1 with errno (EINTR is
 * retried by the caller's loop, not here). */
int tl_poller_wait(int epfd, struct epoll_event *events, int max,
                   uint64_t timeout_ns);

/* Test hook: forget an earlier fallback, so that the next wait tries
 * epoll_pwait2() again. Internal symbol: tests link tickless_internal. */
void tl_poller_retry_pwait2(void);

#endif
