/* The canary thread: see canary.h. */
#include "canary.h"
#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#define NS_PER_S 1000000000ull

struct bench_canary {
    pthread_t thread;
    atomic_int stop;
    uint64_t period_ns;
    uint64_t *late;  /* samples, ns */
    size_t cap, n;   /* n: written by the thread, read after the join */
};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void *canary_main(void *arg)
{
    bench_canary *c = arg;
    uint64_t due = now_ns();

    /* A timerfd fires without slack; so should the reference. */
    (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    while (!atomic_load(&c->stop) && c->n < c->cap) {
        struct timespec ts;
        uint64_t woke;

        due += c->period_ns;
        ts.tv_sec = (time_t)(due / NS_PER_S);
        ts.tv_nsec = (long)(due % NS_PER_S);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)
               == EINTR)
            ;
        woke = now_ns();
        c->late[c->n++] = woke > due ? woke - due : 0;
        if (woke > due + c->period_ns)
            due = woke; /* a long stall is one sample, not a burst */
    }
    return NULL;
}

bench_canary *bench_canary_start(uint64_t period_ns, size_t max_samples)
{
    bench_canary *c = calloc(1, sizeof(*c));

    if (c == NULL || period_ns == 0 || max_samples == 0)
        goto fail;
    c->late = calloc(max_samples, sizeof(*c->late));
    if (c->late == NULL)
        goto fail;
    c->cap = max_samples;
    c->period_ns = period_ns;
    atomic_init(&c->stop, 0);
    if (pthread_create(&c->thread, NULL, canary_main, c) != 0)
        goto fail;
    return c;

fail:
    if (c != NULL)
        free(c->late);
    free(c);
    return NULL;
}

void bench_canary_stop(bench_canary *c, bench_canary_result *out)
{
    memset(out, 0, sizeof(*out));
    if (c == NULL)
        return;
    atomic_store(&c->stop, 1);
    pthread_join(c->thread, NULL);
    out->samples = c->n;
    out->p50_ns = bench_percentile(c->late, c->n, 50);
    out->p99_ns = bench_percentile(c->late, c->n, 99);
    out->max_ns = bench_percentile(c->late, c->n, 100);
    free(c->late);
    free(c);
}
