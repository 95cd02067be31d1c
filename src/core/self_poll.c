/* A lone blocked caller polls the socket itself: see self_poll.h. */

#include "core/self_poll.h"
#include "assist/assist.h"
#include "core/core.h"
#include "base/sysfail.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <openssl/err.h>

/* One wake-up descriptor per application thread that ever polled, made on
 * first use and closed when the thread exits. -2: could not be made (the
 * thread then always sleeps on condition variables). */
static _Thread_local int thread_wakefd = -1;
static pthread_key_t wakefd_key;
static pthread_once_t wakefd_once = PTHREAD_ONCE_INIT;
static int wakefd_key_ok;

static void close_wakefd(void *arg)
{
    close((int)(intptr_t)arg - 1);
}

/* fork(): an eventfd is shared with the child, so the forking thread's
 * copy would have the child drain wake-ups meant for the parent's poller
 * (which then sleeps through them) and wake it with its own. The child
 * forgets it and makes its own on first use. (The other threads do not
 * exist in the child; their descriptors are close-on-exec.) */
static void forget_after_fork(void)
{
    if (thread_wakefd >= 0) {
        close(thread_wakefd);
        (void)pthread_setspecific(wakefd_key, NULL);
    }
    thread_wakefd = -1;
}

static void make_key(void)
{
    wakefd_key_ok = pthread_key_create(&wakefd_key, close_wakefd) == 0;
    /* Cannot fail short of ENOMEM at start-up; a child would then share
     * the descriptor, which is no worse than before. */
    (void)pthread_atfork(NULL, NULL, forget_after_fork);
}

static int my_wakefd(void)
{
    int fd;

    if (thread_wakefd != -1)
        return thread_wakefd;
    pthread_once(&wakefd_once, make_key);
    fd = !wakefd_key_ok || tl_sysfail_check(SYSFAIL_THREAD_EVENTFD)
             ? -1
             : eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd >= 0
        && pthread_setspecific(wakefd_key, (void *)(intptr_t)(fd + 1)) != 0) {
        close(fd);
        fd = -1;
    }
    thread_wakefd = fd >= 0 ? fd : -2;
    return thread_wakefd;
}

int tl_self_poll_thread_fd(void)
{
    int fd = my_wakefd();

    return fd >= 0 ? fd : -1;
}

static atomic_int enabled = 1;

void tl_self_poll_set_enabled(int on)
{
    atomic_store(&enabled, on);
}

int tl_self_poll_eligible(const conn_call *call)
{
    const tickless_conn *e = call->c->engine;

    return atomic_load_explicit(&enabled, memory_order_relaxed)
           && call->wq->kind == WQ_IO && !e->is_listener
           && tl_assist_attached(&e->link) && e->sleeping == NULL
           && e->polling == NULL && tl_waitq_alone(e, call->wq)
           && my_wakefd() >= 0;
}

static void drain(int fd)
{
    uint64_t v;

    (void)!read(fd, &v, sizeof(v));
}

int tl_self_poll_wait(conn_call *call, unsigned want, uint64_t deadline)
{
    tickless_conn *e = call->c->engine;
    waitq *wq = call->wq;
    uint64_t gen = wq->gen;
    unsigned kind = call->kind;
    struct pollfd fds[2];
    int rc = 0;

    if (e->proto != CONN_QUIC)
        e->io_want |= want;
    tl_waitq_enter(e, wq, kind);
    wq->poll_fd = thread_wakefd;
    e->polling = wq;
    tl_conn_publish(e); /* the assist keeps the timer, drops the socket */
    while (gen == wq->gen && !conn_is_closed(call->c)
           && !(call->also_closed != NULL && *call->also_closed)
           && tl_waitq_alone(e, wq)) {
        uint64_t now = tl_clock_now_ns();
        struct timespec ts;
        unsigned interest = e->proto == CONN_QUIC
                                ? tl_ossl_net_interest(e->ssl, e->proto)
                                : e->io_want;
        int n;

        if (deadline != CLOCK_NEVER && now >= deadline) {
            rc = TICKLESS_ERR_TIMEOUT;
            break;
        }
        if (deadline != CLOCK_NEVER)
            ts = tl_clock_to_timespec(deadline - now);
        fds[0].fd = e->fd;
        fds[0].events = (short)(((interest & IO_READ) ? POLLIN : 0)
                                | ((interest & IO_WRITE) ? POLLOUT : 0));
        fds[0].revents = 0;
        fds[1].fd = thread_wakefd;
        fds[1].events = POLLIN;
        fds[1].revents = 0;
        tl_conn_unlock_mu(e);
        n = tl_sysfail_check(SYSFAIL_PPOLL)
                ? -1
                : ppoll(fds, 2, deadline == CLOCK_NEVER ? NULL : &ts, NULL);
        /* Not an entry (handle.h): taken back inside the call, as a
         * condition variable's wait does; the call holds its reference. */
        pthread_mutex_lock(&e->mu);
        if (n < 0 && errno != EINTR) {
            /* ENOMEM: the caller sleeps instead, from a new generation;
             * so a wake-up that came while the mutex was released must
             * be answered here, or it would be lost to that sleep. */
            if (gen == wq->gen)
                rc = SELF_POLL_FAILED;
            break;
        }
        if (fds[1].revents != 0)
            drain(thread_wakefd);
        if (fds[0].revents != 0) {
            /* A dead or closed connection is not ticked, and its socket
             * may stay ready (a reset one does): polling it again would
             * spin. The caller reports the verdict. */
            if (conn_is_closed(e) || e->fatal)
                break;
            /* Not polling any more: the tick's wake-ups need not write
             * our own descriptor. */
            e->polling = NULL;
            wq->poll_fd = -1;
            /* The socket is ready: the assist's readiness tick, here. */
            tl_engine_tick_locked(e, TICK_IO);
            break;
        }
    }
    e->polling = NULL;
    wq->poll_fd = -1;
    tl_waitq_leave(e, wq, kind);
    return rc;
}
