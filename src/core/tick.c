/* The handle-events core: what the assist does to a connection, and how the
 * connection tells the assist what to do next. */
#include "assist/assist.h"
#include "core/core.h"
#include "base/log.h"

#include <errno.h>
#include <time.h>

#include <openssl/err.h>

/* A timer tick that leaves the deadline already due means OpenSSL wants to
 * be called again at once (e.g. more to send). That is normal a few times
 * in a row; dozens of times means a deadline that does not advance, and the
 * assist would spin. Past this many, tickless waits one millisecond. */
#define SPIN_GUARD_TICKS 64
#define SPIN_GUARD_NS NS_PER_MS

/* Whether the application reads the socket of QUIC client |c| itself: a
 * blocked caller polls it (self_poll.h), or the hand-off that a call
 * began when it got through (tl_conn_hand_off(), HANDOFF_NS) still runs
 * and no caller sleeps waiting for the assist to read it.
 * A listener's port serves every accepted connection and stays the
 * assist's. */
static int app_driving(const tickless_conn *c, uint64_t now)
{
    if (c->proto != CONN_QUIC || c->is_listener)
        return 0;
    return c->polling != NULL
           || (c->sleeping == NULL && now < c->driven_until_ns);
}

void tl_conn_decide(tickless_conn *c, uint64_t now, tick_decision *d)
{
    uint64_t timeout, wake_at;
    unsigned interest;

    d->seq = 0;
    if (c->closed || !tl_assist_attached(&c->link))
        return;
    d->seq = ++c->publish_seq;
    if (c->fatal) {
        /* A dead connection needs nothing more from the assist: no timer,
         * no readiness (a QUIC socket may keep receiving stray packets). */
        c->deadline_ns = CLOCK_NEVER;
        d->deadline_ns = CLOCK_NEVER;
        d->interest = 0;
        return;
    }
    /* A kick means OpenSSL has queued something its cached deadline does
     * not know about yet: tick now. */
    timeout = c->kicked ? 0 : tl_ossl_timeout_ns(c->ssl, c->proto);
    c->deadline_ns = clock_add(now, timeout);
    if (timeout == 0 && c->immediate_ticks >= SPIN_GUARD_TICKS)
        c->deadline_ns = now + SPIN_GUARD_NS;
    wake_at = c->deadline_ns;

    /* QUIC: the assist reads the socket itself whenever OpenSSL wants it.
     * DTLS/TLS: readiness matters to a blocked caller, who does the
     * reading, so interest is armed by callers and disarmed when it fires
     * (otherwise unread bytes in the socket would make epoll spin); and,
     * while a handshake the application started is under way, to the
     * assist, which carries it on (see tl_conn_tick()). */
    if (c->polling != NULL) {
        interest = 0; /* a blocked caller polls the socket (self_poll.h) */
        /* ... unless it is no longer all the socket is needed for: then
         * it stands down, and the next publish arms the assist. */
        if (!tl_waitq_alone(c, c->polling))
            tl_waitq_wake_poller(c->polling);
    } else if (app_driving(c, now)) {
        interest = 0; /* its calls read the socket; see HANDOFF_NS */
        if (c->driven_until_ns < wake_at)
            wake_at = c->driven_until_ns;
    } else if (c->proto == CONN_QUIC)
        interest = tl_ossl_net_interest(c->ssl, c->proto);
    else if (tl_ossl_handshake_underway(c->ssl, c->proto))
        interest = c->io_want | (SSL_want_write(c->ssl) ? IO_WRITE : IO_READ);
    else
        interest = c->io_want;
    /* Held write bytes go out as soon as the socket allows (tx_held.h). */
    if (c->polling == NULL && c->tx.len > 0)
        interest |= c->tx.want & (IO_READ | IO_WRITE); /* not CONN_RETRY */
    /* A handshake put off by a callback: its retry ticks as readiness
     * would (tl_conn_tick()), and hs_step() calls OpenSSL again. */
    if (c->hs_retry_at_ns != 0 && c->hs_retry_at_ns < wake_at)
        wake_at = c->hs_retry_at_ns;
    d->deadline_ns = wake_at;
    d->interest = interest;
}

void tl_conn_hand_off(tickless_conn *c, uint64_t now)
{
    /* A call inside the last hand-off: the application drives the
     * connection steadily, and leaving it the socket twice as long halves
     * the assist's wake-ups at the end of one that was extended meanwhile
     * (each costs it a sleep, a timer read and a re-arm). A call after a
     * pause starts again from the shortest, for an application that then
     * stops calling waits longest for the assist. */
    if (c->driven_until_ns != 0 && now < c->driven_until_ns)
        c->handoff_ns = c->handoff_ns >= HANDOFF_MAX_NS / 2
                            ? HANDOFF_MAX_NS
                            : 2 * c->handoff_ns;
    else
        c->handoff_ns = HANDOFF_NS;
    c->driven_until_ns = now + c->handoff_ns;
}

void tl_conn_publish(tickless_conn *c)
{
    tick_decision d;

    tl_conn_decide(c, c->now(), &d);
    if (d.seq != 0 && tl_assist_sync(&c->link, &d))
        c->wakeups++;
}

void tl_conn_unlock_mu(tickless_conn *c)
{
    tickless_conn *e = c->engine;

    if (tl_assist_take_deferred(&e->link))
        tl_conn_publish(e);
    pthread_mutex_unlock(&e->mu);
}

/* DTLS/TLS: a handshake the application started goes on while nobody is
 * blocked in a call: the peer's flight is read and answered here, so an
 * application that computes after tickless_conn_handshake(c, 0) (or whose
 * threads are busy elsewhere) finds it done. Without this only the
 * retransmission timer would fire, resending a flight the peer has already
 * answered. A blocked caller's own attempt does the same under the same
 * mutex; whoever comes first moves it on. A failure is recorded exactly
 * as a caller's would be (sticky): a socket error such as ICMP's port
 * unreachable is reported once, and taken here it must reach the caller. */
static void hs_step(tickless_conn *c)
{
    int ret;

    c->hs_retry_at_ns = 0;
    if (c->closed || c->fatal || !tl_ossl_handshake_underway(c->ssl, c->proto))
        return;
    ERR_clear_error();
    ret = SSL_do_handshake(c->ssl);
    if (ret == 1)
        return;
    ret = tl_conn_ssl_result(c, c->ssl, ret); /* may set hs_retry_at_ns */
    if (ret == TICKLESS_ERR_EOF) {
        tl_conn_set_error(c, TICKLESS_ERR_PEER, SSL_ERROR_ZERO_RETURN,
                          "peer closed the connection during the handshake");
        tl_conn_make_fatal(c, TICKLESS_ERR_PEER);
    }
    /* Otherwise it waits for the socket: tl_conn_publish() asks for it. */
}

int tl_conn_tick(tickless_conn *c, unsigned *reasons, uint64_t *due_ns,
                 tick_decision *next)
{
    /* |c| is an engine: its own mutex. */
    int rc = pthread_mutex_trylock(&c->mu);
    uint64_t now;

    next->seq = 0; /* nothing decided, unless a tick is made below */
    /* A tickless call: brief, so wait for it. But a lock section may
     * begin just after the look (app_held is set once the mutex is
     * taken): look again every millisecond rather than wait through a
     * whole section, which may even join this thread
     * (tickless_listener_close() inside one). The slice is on the wall
     * clock (pthread_mutex_clocklock() is unknown to ThreadSanitizer): a
     * clock set back only makes one slice longer. */
    while (rc == EBUSY || rc == ETIMEDOUT) {
        struct timespec ts;

        if (atomic_load(&c->app_held))
            return TICKLESS_ERR_BUSY;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += NS_PER_MS;
        if (ts.tv_nsec >= (long)NS_PER_SEC) {
            ts.tv_sec++;
            ts.tv_nsec -= (long)NS_PER_SEC;
        }
        rc = pthread_mutex_timedlock(&c->mu, &ts);
    }
    if (rc == EDEADLK)
        return TICKLESS_ERR_BUSY;
    if (rc != 0)
        return TICKLESS_ERR_SYS;
    /* A tick that comes after the application let go of a deferred
     * connection: nothing is deferred any more, whatever it decides. */
    (void)tl_assist_take_deferred(&c->link);
    if (c->closed || c->fatal) {
        /* drops a dead connection's timer and interest */
        tl_conn_decide(c, c->now(), next);
        pthread_mutex_unlock(&c->mu);
        return 0;
    }

    /* A timer that is not OpenSSL's deadline: the end of a QUIC hand-off
     * (HANDOFF_NS), an epoll registration being retried (tl_shard_sync()),
     * or a deadline that a call moved later after it was collected. It
     * ticks as readiness would: QUIC's socket is read, DTLS/TLS callers
     * are woken to read theirs. Unless the application is still calling
     * into a QUIC connection: its calls read the socket, and only the
     * timer is moved on. (Readiness itself is always served: epoll
     * reports it only if it was armed, or could not be disarmed, and a
     * socket left unread would be reported again and again.) */
    now = c->now();
    if ((*reasons & TICK_TIMER) && c->deadline_ns > now) {
        *reasons &= ~TICK_TIMER;
        if (*reasons == 0 && app_driving(c, now)) {
            tl_conn_decide(c, now, next);
            pthread_mutex_unlock(&c->mu);
            return 0;
        }
        *reasons |= TICK_IO;
    }
    if (*reasons & TICK_TIMER) {
        uint64_t late = now - c->deadline_ns;
        uint64_t warn = tl_log_late_threshold_ns();

        *due_ns = c->deadline_ns;

        tl_lathist_record(&c->lateness, late);
        c->timer_ticks++;
        if (warn != 0 && late > warn)
            tl_log(TICKLESS_LOG_WARN, c, "deadline missed by %.3f ms",
                   (double)late / 1e6);
    }
    tl_engine_tick_locked(c, *reasons);
    tl_conn_decide(c, c->now(), next);
    pthread_mutex_unlock(&c->mu);
    return 1;
}

void tl_engine_tick_locked(tickless_conn *e, unsigned reasons)
{
    if (reasons & TICK_IO)
        e->io_ticks++;
    e->ticks++;
    e->kicked = 0;

    /* DTLS/TLS readiness is for the blocked callers, who read themselves:
     * only QUIC (which reads the socket into its own buffers) and due timers
     * need OpenSSL here. */
    if (e->proto == CONN_QUIC || (reasons & TICK_TIMER)) {
        if (!tl_ossl_handle_events(e->ssl, e->proto))
            tl_conn_capture_assist_error(e);
    }
    if (reasons & TICK_IO)
        e->io_want = 0; /* fired: each blocked caller re-arms what it needs */
    hs_step(e);
    tl_conn_tx_step(e);

    if ((reasons & TICK_TIMER)
        && tl_ossl_timeout_ns(e->ssl, e->proto) == 0)
        e->immediate_ticks++;
    else
        e->immediate_ticks = 0;

    tl_engine_wake_ready(e);
}

void tl_engine_kick(tickless_conn *e)
{
    e->kicked = 1;
    tl_conn_publish(e);
}
