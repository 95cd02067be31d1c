/* tickless_conn_stats(): a consistent snapshot of a connection's counters. */
#include "assist/assist.h"
#include "core/core.h"

#include <string.h>

int tickless_conn_stats(tickless_conn *c, tickless_stats *out)
{
    tickless_stats s;
    tickless_conn *e;
    const waitq *wq;
    size_t n;
    int rc;

    if (out == NULL || out->size <= sizeof(out->size))
        return TICKLESS_ERR_INVALID;
    /* A connection closed while this call waited for it still has its
     * counters to read. */
    rc = tl_conn_enter(c, __func__, HANDLE_CLOSED_OK);
    if (rc != 0)
        return rc;
    /* Ticks, wake-ups and deadlines are the engine's: a connection accepted
     * from a listener shares them with the listener's other connections. */
    e = c->engine;
    memset(&s, 0, sizeof(s));
    s.ticks = e->ticks;
    s.timer_ticks = e->timer_ticks;
    s.io_ticks = e->io_ticks;
    s.wakeups = e->wakeups;
    s.lateness_p50_ns = tl_lathist_percentile(&e->lateness, 50.0);
    s.lateness_p99_ns = tl_lathist_percentile(&e->lateness, 99.0);
    s.lateness_max_ns = e->lateness.max_ns;
    s.deadline_ns = e->deadline_ns;
    s.assist_cpu_ns = tl_assist_cpu_ns(&e->link);
    /* Blocked on |c| or on any of its streams: every wait queue |c| owns
     * that has sleepers is on its engine's sleeping list. */
    for (wq = e->sleeping; wq != NULL; wq = wq->next)
        if (wq->owner == c)
            s.waiters += wq->waiters;
    tl_conn_exit(c, 0);

    /* Copy only what the caller's (possibly older) struct has room for. */
    n = out->size < sizeof(s) ? out->size : sizeof(s);
    memcpy((char *)out + sizeof(s.size), (char *)&s + sizeof(s.size),
           n - sizeof(s.size));
    return 0;
}

int tickless_conn_stats_reset(tickless_conn *c)
{
    tickless_conn *e;
    int rc = tl_conn_enter(c, __func__, HANDLE_CLOSED_OK);

    if (rc != 0)
        return rc;
    e = c->engine;
    e->ticks = e->timer_ticks = e->io_ticks = e->wakeups = 0;
    tl_lathist_init(&e->lateness);
    tl_conn_exit(c, 0);
    return 0;
}
