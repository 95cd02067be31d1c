/* tickless_conn_stats(): a consistent snapshot of a connection's counters. */
#include "assist/assist.h"
#include "core/core.h"

#include <errno.h>
#include <string.h>

int tickless_conn_stats(tickless_conn *c, tickless_stats *out)
{
    tickless_stats s;
    size_t n;

    if (c == NULL || out == NULL || out->size <= sizeof(out->size))
        return TICKLESS_ERR_INVALID;
    if (pthread_mutex_lock(&c->mu) == EDEADLK)
        return TICKLESS_ERR_INVALID;
    memset(&s, 0, sizeof(s));
    s.ticks = c->ticks;
    s.timer_ticks = c->timer_ticks;
    s.io_ticks = c->io_ticks;
    s.wakeups = c->wakeups;
    s.lateness_p50_ns = lathist_percentile(&c->lateness, 50.0);
    s.lateness_p99_ns = lathist_percentile(&c->lateness, 99.0);
    s.lateness_max_ns = c->lateness.max_ns;
    s.deadline_ns = c->deadline_ns;
    s.assist_cpu_ns = assist_cpu_ns(c);
    s.waiters = c->waiters;
    conn_unlock_mu(c);

    /* Copy only what the caller's (possibly older) struct has room for. */
    n = out->size < sizeof(s) ? out->size : sizeof(s);
    memcpy((char *)out + sizeof(s.size), (char *)&s + sizeof(s.size),
           n - sizeof(s.size));
    return 0;
}
