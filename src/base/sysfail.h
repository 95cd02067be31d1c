/* System call failure injection: the few calls that give tickless its
 * descriptors and threads, and those that watch sockets, go through
 * tl_sysfail_check() first, so that a test can make them fail as the kernel
 * would (EMFILE, ENOMEM, EAGAIN) and check that the caller gets a clean
 * error, or that tickless falls back and nothing stalls, and that nothing
 * is left behind. In production the check is one relaxed atomic load. */
#ifndef TICKLESS_BASE_SYSFAIL_H
#define TICKLESS_BASE_SYSFAIL_H

typedef enum sysfail_call {
    SYSFAIL_EPOLL_CREATE,
    SYSFAIL_EVENTFD,
    SYSFAIL_TIMERFD_CREATE,
    SYSFAIL_PTHREAD_CREATE,
    SYSFAIL_EPOLL_CTL,       /* a shard watching a socket (shard.c) */
    SYSFAIL_PPOLL,           /* a lone caller polling its socket */
    SYSFAIL_THREAD_EVENTFD,  /* that caller's thread's wake-up descriptor */
    SYSFAIL_EPOLL_PWAIT2,    /* an assist's sleep (poller.c) */
    SYSFAIL_SOCKET,          /* tickless_connect() making a socket */
    SYSFAIL_CONNECT,         /* ... and connecting it */
    SYSFAIL_COUNT
} sysfail_call;

/* 0 if |call| may go ahead; else the errno it must fail with (the test
 * hook armed it), which also sets errno. */
int tl_sysfail_check(sysfail_call call);

/* Test hook: after |skip| more calls of |call| succeed, the |times| calls
 * that follow fail with |err|; times 0 disarms it. Internal symbol: tests
 * link tickless_internal (not installed). */
void tl_sysfail_inject(sysfail_call call, int err, unsigned skip,
                       unsigned times);

/* Test hook: each failure injected into |call| first runs fn(arg) on the
 * failing thread, as if the call had taken that long: a test can make
 * something happen inside the window the call leaves (for a blocking one,
 * with no lock held). fn NULL removes it. */
void tl_sysfail_on_failure(sysfail_call call, void (*fn)(void *), void *arg);

/* Test hook: how many calls of |call| have been made to fail so far, so
 * that a test can tell its injection was reached. */
unsigned tl_sysfail_failures(sysfail_call call);

#endif
