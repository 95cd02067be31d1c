#include "assist/shard.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "assist/poller.h"
#include "base/alloc.h"
#include "base/dlist.h"
#include "base/sigpipe.h"
#include "base/sysfail.h"

#define WAKE_TOKEN UINT64_MAX
#define TIMER_TOKEN (UINT64_MAX - 1)
#define NO_SLOT UINT32_MAX

static assist_link *link_of_timer(heap_node *n)
{
    return (assist_link *)((char *)n - offsetof(assist_link, timer));
}

static uint64_t slot_token(const shard *s, uint32_t slot)
{
    return ((uint64_t)s->slots[slot].gen << 32) | slot;
}

/* The changed list: a call that moves a connection's deadline only notes
 * it here, in O(1) and without a system call unless the runner must wake
 * sooner; the runner files the new deadlines in its heap the next time it
 * reads the heap (timers_settle()). So a call never sifts the heap the
 * shard's other connections share (only the runner, and a detach, do).
 * Caller holds mu. */
static void changed_add(shard *s, assist_link *l)
{
    if (l->changed)
        return;
    l->changed = 1;
    DLIST_PUSH(s->changed, l, changed_prev, changed_next);
}

static void changed_remove(shard *s, assist_link *l)
{
    if (!l->changed)
        return;
    l->changed = 0;
    DLIST_REMOVE(s->changed, l, changed_prev, changed_next);
}

/* Files every changed deadline in the heap, which then holds each
 * connection's deadline_ns (none for CLOCK_NEVER). Cannot fail: attach
 * reserved room for every connection, and a failure here would lose the
 * timer for good (apply_locked() skips an unchanged deadline). Caller
 * holds mu. */
static void timers_settle(shard *s)
{
    assist_link *l;

    while ((l = s->changed) != NULL) {
        int rc = 0;

        changed_remove(s, l);
        if (l->deadline_ns == CLOCK_NEVER)
            tl_heap_remove(&s->timers, &l->timer);
        else
            rc = tl_heap_update(&s->timers, &l->timer, l->deadline_ns);
        assert(rc == 0);
        (void)rc;
    }
}

/* The earliest deadline of the shard's connections; CLOCK_NEVER: none.
 * Caller holds mu. */
static uint64_t earliest_locked(shard *s)
{
    heap_node *top;

    timers_settle(s);
    top = tl_heap_top(&s->timers);
    return top == NULL ? CLOCK_NEVER : top->key;
}

uint64_t tl_shard_earliest(shard *s)
{
    uint64_t when;

    pthread_mutex_lock(&s->mu);
    when = earliest_locked(s);
    pthread_mutex_unlock(&s->mu);
    return when;
}

static int watch_fd(shard *s, int fd, uint64_t token)
{
    struct epoll_event ev;

    ev.events = EPOLLIN;
    ev.data.u64 = token;
    return epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int tl_shard_init(shard *s, int solo)
{
    memset(s, 0, sizeof(*s));
    s->solo = solo;
    s->now = tl_clock_now_ns;
    s->free_head = NO_SLOT;
    s->epfd = -1;
    s->wakefd = -1;
    s->timerfd = -1;
    s->timer_armed = CLOCK_NEVER;
    tl_lathist_init(&s->stats.lateness);
    tl_lathist_init(&s->batch_stats.lateness);
    tl_heap_init(&s->timers);
    atomic_init(&s->stopping, 0);
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        return TICKLESS_ERR_NOMEM;
    /* Fixed once and for all: the runner walks it without the lock, so it
     * must never move under it. A batch stops when it is full; whatever is
     * still due is collected by the next iteration, which does not sleep.
     * A solo shard's batch is its one connection at most (collect() takes
     * a connection once per batch). */
    s->work = tl_calloc(solo ? 1 : SHARD_MAX_BATCH, sizeof(*s->work));
    if (s->work == NULL) {
        pthread_mutex_destroy(&s->mu);
        return TICKLESS_ERR_NOMEM;
    }
    if (!solo) {
        s->epfd = tl_sysfail_check(SYSFAIL_EPOLL_CREATE)
                      ? -1
                      : epoll_create1(EPOLL_CLOEXEC);
        if (s->epfd < 0)
            goto fail;
        s->wakefd = tl_sysfail_check(SYSFAIL_EVENTFD)
                        ? -1
                        : eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (s->wakefd < 0 || watch_fd(s, s->wakefd, WAKE_TOKEN) != 0)
            goto fail;
    }
    s->timerfd = tl_sysfail_check(SYSFAIL_TIMERFD_CREATE)
                     ? -1
                     : timerfd_create(CLOCK_MONOTONIC,
                                      TFD_NONBLOCK | TFD_CLOEXEC);
    if (s->timerfd < 0
        || (!solo && watch_fd(s, s->timerfd, TIMER_TOKEN) != 0))
        goto fail;
    /* Until the runner first sleeps it counts as asleep with no deadline,
     * so the first sync arms the timer. */
    s->sleep_until = CLOCK_NEVER;
    return 0;

fail:
    tl_shard_destroy(s);
    return TICKLESS_ERR_SYS;
}

void tl_shard_destroy(shard *s)
{
    if (s->timerfd >= 0)
        close(s->timerfd);
    if (s->wakefd >= 0)
        close(s->wakefd);
    if (s->epfd >= 0)
        close(s->epfd);
    s->timerfd = s->wakefd = s->epfd = -1;
    tl_heap_destroy(&s->timers);
    tl_free(s->slots);
    tl_free(s->work);
    s->slots = NULL;
    s->work = NULL;
    pthread_mutex_destroy(&s->mu);
}

static int slots_grow(shard *s)
{
    uint32_t cap = s->slots_cap ? s->slots_cap * 2 : 16;
    shard_slot *slots = tl_realloc(s->slots, cap * sizeof(*slots));

    if (slots == NULL)
        return TICKLESS_ERR_NOMEM;
    s->slots = slots;
    s->slots_cap = cap;
    return 0;
}

int tl_shard_attach(shard *s, assist_link *l)
{
    uint32_t slot;
    int rc;

    pthread_mutex_lock(&s->mu);
    if (s->solo && s->nconns > 0) {
        pthread_mutex_unlock(&s->mu);
        return TICKLESS_ERR_BUSY;
    }
    /* Reserve everything up front: a deadline update must never fail for
     * want of memory, or a timer would be silently lost. */
    rc = tl_heap_reserve(&s->timers, (size_t)s->nconns + 1);
    if (rc == 0 && s->free_head == NO_SLOT && s->nslots == s->slots_cap)
        rc = slots_grow(s);
    if (rc != 0) {
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    if (s->free_head != NO_SLOT) {
        slot = s->free_head;
        s->free_head = s->slots[slot].next_free;
    } else {
        slot = s->nslots++;
        s->slots[slot].gen = 0;
    }
    s->slots[slot].gen++;
    s->slots[slot].link = l;
    s->nconns++;
    l->slot = slot;
    l->interest = 0; /* registered with epoll only when nonzero */
    l->deadline_ns = CLOCK_NEVER;
    l->changed = 0;
    l->shard = s;
    l->client->ref(l);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static void wake_locked(shard *s);

/* Brings epoll (a solo shard: what its runner polls) in line with
 * |interest|. A connection with no interest is removed from the set
 * altogether: epoll reports EPOLLHUP and EPOLLERR even for an empty mask,
 * and a reset socket would make the runner spin. */
static void set_interest(shard *s, assist_link *l, unsigned interest)
{
    struct epoll_event ev;
    int op;

    if (interest == l->interest)
        return;
    if (s->solo) {
        /* The runner polls the interest it finds when it goes to sleep:
         * one in its wait already is woken to look again, for an event it
         * does not watch yet. One it watches but is no longer wanted is not
         * worth a wake-up: if it comes, the runner finds it unwanted and
         * ticks nothing (solo_wanted()). */
        unsigned added = interest & ~l->interest;

        l->interest = interest;
        if (added != 0 && s->in_wait)
            wake_locked(s);
        return;
    }
    ev.events = ((interest & IO_READ) ? EPOLLIN : 0)
                | ((interest & IO_WRITE) ? EPOLLOUT : 0);
    ev.data.u64 = slot_token(s, l->slot);
    if (interest == 0)
        op = EPOLL_CTL_DEL;
    else if (l->interest == 0)
        op = EPOLL_CTL_ADD;
    else
        op = EPOLL_CTL_MOD;
    /* Cannot fail for a valid open socket short of ENOMEM (ENOSPC: the
     * user's epoll watch limit); if it does, the old registration stays
     * and tl_shard_sync() ticks the connection soon to try again. */
    if (tl_sysfail_check(SYSFAIL_EPOLL_CTL) == 0
        && epoll_ctl(s->epfd, op, l->fd, &ev) == 0)
        l->interest = interest;
}

void tl_shard_detach(shard *s, assist_link *l)
{
    uint32_t slot;

    pthread_mutex_lock(&s->mu);
    slot = l->slot;
    changed_remove(s, l);
    tl_heap_remove(&s->timers, &l->timer);
    set_interest(s, l, 0);
    s->slots[slot].link = NULL;
    s->slots[slot].gen++; /* events already collected for it go stale */
    s->slots[slot].next_free = s->free_head;
    s->free_head = slot;
    s->nconns--;
    pthread_mutex_unlock(&s->mu);
    l->client->unref(l);
}

/* Sets the timerfd to fire at |when| (CLOCK_NEVER: never). Returns what
 * timerfd_settime() does. */
static int set_timerfd(shard *s, uint64_t when)
{
    struct itimerspec its;

    memset(&its, 0, sizeof(its));
    if (when != CLOCK_NEVER) {
        /* it_value 0 would disarm: a deadline at time 0 fires at 1 ns. */
        its.it_value = tl_clock_to_timespec(when == 0 ? 1 : when);
    }
    return timerfd_settime(s->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void wake_locked(shard *s)
{
    uint64_t one = 1;

    if (s->wake_pending)
        return; /* wake-ups coalesce until the runner drains the eventfd */
    s->wake_pending = 1;
    if (s->solo) {
        /* The timerfd, set to a time already past, fires at once. It
         * stays fired until the runner drains it (arm_timerfd_locked()
         * leaves it alone meanwhile). */
        if (set_timerfd(s, 1) == 0)
            s->timer_armed = 1;
        else
            s->wake_pending = 0; /* nothing fired: nothing to wait for */
        return;
    }
    while (write(s->wakefd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

void tl_shard_wake(shard *s)
{
    pthread_mutex_lock(&s->mu);
    wake_locked(s);
    pthread_mutex_unlock(&s->mu);
}

/* The runner sleeps in epoll until the earliest deadline, |when|, which
 * the timerfd in its epoll set marks: between two runs (a thread's, or the
 * application's loop) it must fire then; a sync that moves a deadline
 * earlier re-arms it (sleep_until). Caller holds mu. */
static void arm_timerfd_locked(shard *s, uint64_t when)
{
    uint64_t slack = s->timer_slack_ns;

    /* The kernel fires a timerfd without slack: a slack the application
     * asked for is applied here, by rounding up to a multiple of it, so
     * that deadlines close together come due in one wake-up. */
    if (slack > 1 && when != CLOCK_NEVER && when % slack != 0
        && when < CLOCK_NEVER - slack)
        when += slack - when % slack;

    s->sleep_until = when;
    /* A solo shard's wake-up is its timerfd fired: re-arming it would take
     * that back (timerfd_settime() clears what has fired). The runner
     * re-arms it once it has drained it. */
    if (when == s->timer_armed || (s->solo && s->wake_pending))
        return;
    if (set_timerfd(s, when) == 0)
        s->timer_armed = when;
    else if (s->solo)
        /* Not armed: the runner bounds its own sleep by sleep_until
         * instead (tl_shard_run_once()). Woken, it would find the same
         * and loop; an application thread's earlier deadline waits for
         * it, which cannot be helped: the wake-up is this timerfd too.
         * CLOCK_NEVER - 1 is no deadline's: the next arm tries again. */
        s->timer_armed = CLOCK_NEVER - 1;
    else
        wake_locked(s); /* cannot arm: make epfd readable instead */
}

/* Applies decision |d| about |l|, unless a newer one was applied already
 * or |l| has left the shard. Returns whether the deadline came earlier
 * than the runner's own wake-up time (l->deadline_ns, then). Caller holds
 * mu. */
static int apply_locked(shard *s, assist_link *l, const tick_decision *d)
{
    uint64_t deadline_ns = d->deadline_ns;

    if (d->seq <= l->applied_seq || s->slots[l->slot].link != l)
        return 0;
    l->applied_seq = d->seq;
    set_interest(s, l, d->interest);
    /* epoll could not be told: the socket is not watched as it should be.
     * A tick soon publishes again, and so retries, and meanwhile reads
     * what the socket holds: a slow connection, never a stalled one. */
    if (l->interest != d->interest) {
        uint64_t retry = clock_add(s->now(), SHARD_INTEREST_RETRY_NS);

        if (retry < deadline_ns)
            deadline_ns = retry;
    }
    /* Unchanged and not listed: the heap holds it already. */
    if (deadline_ns != l->deadline_ns || l->changed) {
        l->deadline_ns = deadline_ns;
        changed_add(s, l);
    }
    return deadline_ns < s->sleep_until;
}

int tl_shard_sync(shard *s, assist_link *l, const tick_decision *d)
{
    int earlier;

    pthread_mutex_lock(&s->mu);
    /* Only a deadline earlier than the runner's own wake-up time matters
     * (while it runs a batch, sleep_until is 0: it reads the heap again
     * before it sleeps); interest changes reach a sleeping epoll_wait() by
     * themselves. The runner sleeps on its timerfd: moving that earlier is
     * one syscall here, and the runner is not woken until the deadline
     * comes due. A later one costs nothing here: the runner, woken for
     * nothing at the old time, sleeps again until the new one. */
    earlier = apply_locked(s, l, d);
    if (earlier) {
        s->stats.wakeups++;
        arm_timerfd_locked(s, l->deadline_ns);
    }
    pthread_mutex_unlock(&s->mu);
    return earlier;
}

/* Adds |l| to this batch's work list once, accumulating why. */
static void collect(shard *s, size_t *n, assist_link *l, unsigned reason,
                    uint64_t due_ns)
{
    if (l->batch != s->batch) {
        l->batch = s->batch;
        l->reasons = 0;
        l->due_ns = CLOCK_NEVER;
        l->client->ref(l); /* keeps it alive through a concurrent close */
        s->work[(*n)++] = l;
    }
    l->reasons |= reason;
    if (due_ns < l->due_ns)
        l->due_ns = due_ns;
}

static void drain(int fd)
{
    uint64_t v;

    while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR)
        ;
}

static void stats_merge_locked(shard_stats *dst, shard_stats *batch)
{
    dst->ticks += batch->ticks;
    dst->timer_ticks += batch->timer_ticks;
    dst->io_ticks += batch->io_ticks;
    if (batch->lateness.count > 0) {
        tl_lathist_merge(&dst->lateness, &batch->lateness);
        tl_lathist_init(&batch->lateness);
    }
    batch->ticks = batch->timer_ticks = batch->io_ticks = 0;
}

uint32_t tl_shard_stats_add(shard *s, shard_stats *out)
{
    uint32_t n;

    pthread_mutex_lock(&s->mu);
    out->ticks += s->stats.ticks;
    out->timer_ticks += s->stats.timer_ticks;
    out->io_ticks += s->stats.io_ticks;
    out->wakeups += s->stats.wakeups;
    tl_lathist_merge(&out->lateness, &s->stats.lateness);
    n = s->nconns;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void tl_shard_stats_reset(shard *s)
{
    pthread_mutex_lock(&s->mu);
    s->stats.ticks = s->stats.timer_ticks = s->stats.io_ticks = 0;
    s->stats.wakeups = 0;
    tl_lathist_init(&s->stats.lateness);
    pthread_mutex_unlock(&s->mu);
}

/* Counts one tick of |l| for the shard's statistics. Runner only. */
static void count_tick(shard *s, assist_link *l, uint64_t tick_at)
{
    shard_stats *b = &s->batch_stats;

    b->ticks++;
    if (l->reasons & TICK_TIMER) {
        b->timer_ticks++;
        tl_lathist_record(&b->lateness, tick_at > l->due_ns
                                         ? tick_at - l->due_ns : 0);
    }
    if (l->reasons & TICK_IO)
        b->io_ticks++;
}

/* The connection's mutex was busy (an application holds it, typically
 * through tickless_conn_lock()). Take it out of epoll so its readiness
 * cannot make the runner spin, and flag it: whoever releases the mutex next
 * sees it (tl_assist_take_deferred()) and re-publishes deadline and
 * interest. */
static void defer(shard *s, assist_link *l)
{
    pthread_mutex_lock(&s->mu);
    if (s->slots[l->slot].link == l)
        set_interest(s, l, 0);
    atomic_store(&l->deferred, 1);
    pthread_mutex_unlock(&s->mu);
}

/* What a solo runner watches while it sleeps: its connection's socket for
 * the interest it has now, or nothing (fd -1), and the token its readiness
 * is reported under. Caller holds mu. */
static struct pollfd solo_watch_locked(const shard *s, uint64_t *token)
{
    struct pollfd w = { -1, 0, 0 };
    assist_link *l = s->nslots > 0 ? s->slots[0].link : NULL;

    if (l != NULL && l->interest != 0) {
        w.fd = l->fd;
        w.events = (short)(((l->interest & IO_READ) ? POLLIN : 0)
                           | ((l->interest & IO_WRITE) ? POLLOUT : 0));
        *token = slot_token(s, 0);
    }
    return w;
}

/* A solo runner's sleep: ppoll() on the timerfd and on |watch|, for at
 * most |timeout_ns| and never past |until| (CLOCK_NEVER, unless the
 * timerfd could not be armed for the deadline). What it finds is written
 * to s->events as epoll would, with poll()'s revents as the events. */
static int solo_wait(shard *s, struct pollfd watch, uint64_t token,
                     uint64_t timeout_ns, uint64_t until)
{
    struct pollfd fds[2];
    struct timespec ts;
    int n = 0, rc;

    if (until != CLOCK_NEVER) {
        uint64_t now = s->now();
        uint64_t left = until > now ? until - now : 0;

        if (left < timeout_ns)
            timeout_ns = left;
    }
    fds[0].fd = s->timerfd;
    fds[0].events = POLLIN;
    fds[0].revents = 0;
    fds[1] = watch;
    fds[1].revents = 0;
    ts = tl_clock_to_timespec(timeout_ns);
    rc = ppoll(fds, 2, timeout_ns == CLOCK_NEVER ? NULL : &ts, NULL);
    if (rc <= 0)
        return rc;
    if (fds[0].revents != 0)
        s->events[n++].data.u64 = TIMER_TOKEN;
    if (fds[1].revents != 0) {
        s->events[n].events = (uint32_t)fds[1].revents;
        s->events[n++].data.u64 = token;
    }
    return n;
}

/* Whether what ppoll() found on |l|'s socket (|revents|) is still wanted:
 * the interest may have shrunk while the runner slept (set_interest()
 * does not wake it for that). An error or hang-up counts as epoll counts
 * it: for any interest at all. Caller holds mu. */
static int solo_wanted(const assist_link *l, uint32_t revents)
{
    unsigned interest = l->interest;

    if (revents & (POLLERR | POLLHUP | POLLNVAL))
        return interest != 0;
    return ((revents & POLLIN) && (interest & IO_READ))
           || ((revents & POLLOUT) && (interest & IO_WRITE));
}

int tl_shard_run_once(shard *s, uint64_t max_wait_ns)
{
    heap_node *top;
    uint64_t now, next, timeout, until, token = 0;
    struct pollfd watch = { -1, 0, 0 };
    sigpipe_guard guard;
    size_t n = 0, i;
    int ticked = 0, guard_needed;
    int nev, e;

    pthread_mutex_lock(&s->mu);
    now = s->now();
    next = earliest_locked(s);
    if (next <= now) {
        timeout = 0; /* due already: no sleep */
        s->sleep_until = 0;
    } else {
        timeout = max_wait_ns; /* the timerfd ends the sleep in time */
        arm_timerfd_locked(s, next);
    }
    until = CLOCK_NEVER;
    if (s->solo) {
        watch = solo_watch_locked(s, &token);
        if (s->timer_armed != s->sleep_until && !s->wake_pending)
            until = s->sleep_until; /* the timerfd would not arm */
    }
    s->in_wait = 1;
    pthread_mutex_unlock(&s->mu);

    nev = s->solo ? solo_wait(s, watch, token, timeout, until)
                  : tl_poller_wait(s->epfd, s->events, SHARD_MAX_EVENTS,
                                   timeout);
    if (nev < 0 && errno != EINTR)
        return TICKLESS_ERR_SYS;

    pthread_mutex_lock(&s->mu);
    s->in_wait = 0;
    s->sleep_until = 0;
    s->batch++;
    now = s->now();
    /* Due timers first, earliest first: each tick in a batch delays the
     * ones after it, and a timer is what has a deadline to be late for.
     * Room is kept for every readiness event collected below. A collected
     * connection has no deadline until its tick decides one. */
    timers_settle(s);
    while (n < SHARD_MAX_BATCH - SHARD_MAX_EVENTS
           && (top = tl_heap_top(&s->timers)) != NULL
           && top->key <= now) {
        assist_link *l = link_of_timer(top);
        uint64_t due = top->key;

        tl_heap_remove(&s->timers, top);
        l->deadline_ns = CLOCK_NEVER;
        collect(s, &n, l, TICK_TIMER, due);
    }
    for (e = 0; e < nev; e++) {
        uint64_t token = s->events[e].data.u64;
        uint32_t slot = (uint32_t)token;

        if (token == WAKE_TOKEN) {
            drain(s->wakefd);
            s->wake_pending = 0;
            continue;
        }
        if (token == TIMER_TOKEN) {
            drain(s->timerfd);
            s->timer_armed = CLOCK_NEVER; /* a one-shot that has fired */
            if (s->solo)
                s->wake_pending = 0; /* it was the wake-up too */
            continue;
        }
        if (slot < s->nslots && s->slots[slot].link != NULL
            && s->slots[slot].gen == (uint32_t)(token >> 32)
            && !(s->solo
                 && !solo_wanted(s->slots[slot].link, s->events[e].events)))
            collect(s, &n, s->slots[slot].link, TICK_IO, CLOCK_NEVER);
    }
    pthread_mutex_unlock(&s->mu);

    /* Run by the application's own thread (tickless_pool_run()): a TLS
     * tick may write into a socket the peer has reset, which raises
     * SIGPIPE. Assist threads block every signal for life; here SIGPIPE is
     * blocked around the ticks, and only if one of them is TLS's (datagram
     * sockets never raise it): a run with nothing to tick, or only QUIC
     * and DTLS, makes no signal-mask calls. */
    guard_needed = 0;
    for (i = 0; i < n && !s->has_runner; i++)
        guard_needed |= s->work[i]->may_sigpipe;
    if (guard_needed)
        tl_sigpipe_block(&guard);
    for (i = 0; i < n; i++) {
        assist_link *l = s->work[i];
        uint64_t tick_at = s->now();
        int rc = l->client->tick(l, &l->reasons, &l->due_ns,
                                     &l->decision);

        if (rc == TICKLESS_ERR_BUSY) {
            defer(s, l);
            /* Deferred first, then looked again (both sequentially
             * consistent): either the application's unlock comes after the
             * defer and re-arms the connection, or we see it gone and tick
             * now. Never neither. */
            if (!l->client->app_holds(l))
                rc = l->client->tick(l, &l->reasons, &l->due_ns,
                                         &l->decision);
        }
        if (rc > 0) {
            count_tick(s, l, tick_at);
            ticked++;
        }
    }
    if (guard_needed)
        tl_sigpipe_restore(&guard);

    /* What the ticks decided, applied in one go; then the timer for the
     * earliest deadline. The references keep each connection alive until
     * then, closed meanwhile or not (apply_locked() skips those). */
    pthread_mutex_lock(&s->mu);
    for (i = 0; i < n; i++)
        if (s->work[i]->decision.seq != 0)
            (void)apply_locked(s, s->work[i], &s->work[i]->decision);
    stats_merge_locked(&s->stats, &s->batch_stats);
    arm_timerfd_locked(s, earliest_locked(s));
    pthread_mutex_unlock(&s->mu);
    for (i = 0; i < n; i++)
        s->work[i]->client->unref(s->work[i]);
    return ticked;
}
