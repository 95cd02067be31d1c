/*
 * soak_verdict: judging a soak run from its samples, and the table of its
 * figures. The bounds and why they are what they are: soak_main.c.
 */
#include "soak.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define MIB (1024.0 * 1024.0)
#define RSS_SLACK_BYTES (16.0 * MIB)
#define RSS_SLACK_FRACTION 0.10
#define HEAP_SLACK_BYTES (8.0 * MIB)
#define HEAP_SLACK_FRACTION 0.05
#define LATENESS_LIMIT_NS 1000000000ull
#define MIN_JUDGED_SAMPLES 10

/*
 * The pool's lateness beyond the machine's. Each time the pool's lateness
 * maximum grew (seen at sample i, or at the end), the canary's largest
 * lateness in samples i-1..i+1 is what every thread of the process suffered
 * around then; the rest is tickless's. Returns the largest such rest, and
 * the pool's and the canary's figures where it was found.
 */
static uint64_t lateness_beyond_machine(const soak_run *r, uint64_t *pool_ns,
                                        uint64_t *canary_ns)
{
    uint64_t prev = 0, worst = 0;
    size_t i, k, n = r->nsamples;

    *pool_ns = *canary_ns = 0;
    for (i = 0; i <= n; i++) { /* i == n: the figures after the run */
        uint64_t pool = i < n ? r->samples[i].pool_late_max
                              : r->pst.lateness_max_ns;
        uint64_t canary = 0, own;

        if (pool <= prev)
            continue;
        prev = pool;
        for (k = i > 0 ? i - 1 : 0; k <= i + 1 && k <= n; k++) {
            uint64_t c = k < n ? r->samples[k].canary_late : r->canary_tail_ns;

            if (c > canary)
                canary = c;
        }
        own = pool > canary ? pool - canary : 0;
        if (own >= worst) {
            worst = own;
            *pool_ns = pool;
            *canary_ns = canary;
        }
    }
    return worst;
}

/* The canary's largest lateness over the whole run. */
static uint64_t canary_max(const soak_run *r)
{
    uint64_t m = r->canary_tail_ns;
    size_t i;

    for (i = 0; i < r->nsamples; i++)
        if (r->samples[i].canary_late > m)
            m = r->samples[i].canary_late;
    return m;
}

/* The judged samples: [*first, nsamples). */
static size_t judged_first(const soak_run *r)
{
    size_t i;

    for (i = 0; i < r->nsamples; i++)
        if (r->judged_from >= 0 && r->samples[i].t >= r->judged_from)
            return i;
    return r->nsamples;
}

enum series { RSS, HEAP, FDS };

static double value(const soak_sample *s, enum series which)
{
    switch (which) {
    case RSS:
        return (double)s->rss;
    case HEAP:
        return (double)s->heap;
    default:
        return (double)s->fds;
    }
}

/* The least-squares trend of a series over the judged samples, per s. */
static double trend(const soak_run *r, enum series which)
{
    size_t first = judged_first(r), n = r->nsamples - first, i;
    double *x = calloc(n + 1, sizeof(double)), *y = calloc(n + 1, sizeof(double));
    double slope;

    if (x == NULL || y == NULL) {
        free(x);
        free(y);
        return NAN;
    }
    for (i = 0; i < n; i++) {
        x[i] = r->samples[first + i].t;
        y[i] = value(&r->samples[first + i], which);
    }
    slope = soak_slope(x, y, n);
    free(x);
    free(y);
    return slope;
}

int soak_verdict(const soak_run *r)
{
    size_t first = judged_first(r), n = r->nsamples - first, i;
    const soak_sample *a = n > 0 ? &r->samples[first] : NULL;
    const soak_sample *z = n > 0 ? &r->samples[r->nsamples - 1] : NULL;
    double span = n > 1 ? z->t - a->t : 0;
    double rss_growth = trend(r, RSS) * span;
    double rss_limit = a != NULL ? fmax(RSS_SLACK_BYTES,
                                        RSS_SLACK_FRACTION * (double)a->rss)
                                 : 0;
    double heap_growth = trend(r, HEAP) * span;
    double heap_limit = a != NULL ? fmax(HEAP_SLACK_BYTES,
                                         HEAP_SLACK_FRACTION * (double)a->heap)
                                  : 0;
    uint64_t fd_min = UINT64_MAX, fd_max = 0, fd_range_limit;
    uint64_t errors = atomic_load(&r->cnt.errors);
    uint64_t late_pool, late_canary;
    uint64_t late_own = lateness_beyond_machine(r, &late_pool, &late_canary);
    int ok = 1;

    for (i = first; i < r->nsamples; i++) {
        if (r->samples[i].fds < fd_min)
            fd_min = r->samples[i].fds;
        if (r->samples[i].fds > fd_max)
            fd_max = r->samples[i].fds;
    }
    fd_range_limit = 2ull * r->o.app_threads;
#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            ok = 0;                                                            \
            printf("soak: FAIL: ");                                            \
            printf(__VA_ARGS__);                                               \
            printf("\n");                                                      \
        }                                                                      \
    } while (0)
    CHECK(errors == 0, "%" PRIu64 " calls failed or echoes differed (stderr)",
          errors);
    CHECK(atomic_load(&r->cnt.opened) >= r->o.conns,
          "only %" PRIu64 " of %u connections were ever opened",
          (uint64_t)atomic_load(&r->cnt.opened), r->o.conns);
    CHECK(atomic_load(&r->cnt.closed) > 0 && atomic_load(&r->cnt.exchanges) > 0,
          "no re-open or no echo happened");
    CHECK(n >= MIN_JUDGED_SAMPLES,
          "%zu samples after warm-up, fewer than %d: run longer", n,
          MIN_JUDGED_SAMPLES);
    CHECK(n < 2 || rss_growth < rss_limit,
          "RSS grows %.1f MiB over %.0f s after warm-up (limit %.1f MiB)",
          rss_growth / MIB, span, rss_limit / MIB);
    CHECK(n < 2 || heap_growth < heap_limit,
          "the heap grows %.1f MiB over %.0f s after warm-up (limit %.1f MiB)",
          heap_growth / MIB, span, heap_limit / MIB);
    CHECK(n == 0 || fd_max - fd_min <= fd_range_limit,
          "descriptors ranged over %" PRIu64 " after warm-up (limit %" PRIu64
          ")",
          fd_max - fd_min, fd_range_limit);
    CHECK(r->fds_after == r->fds_baseline,
          "%" PRIu64 " descriptors after closing everything, %" PRIu64
          " before the pool was made",
          r->fds_after, r->fds_baseline);
    CHECK(late_own < LATENESS_LIMIT_NS,
          "a pool thread was %.1f ms late for a deadline, %.1f ms more than "
          "a thread that only sleeps was then (limit %.0f ms)",
          (double)late_pool / 1e6, (double)late_own / 1e6,
          LATENESS_LIMIT_NS / 1e6);
    CHECK(r->pool_free_rc == 0, "tickless_pool_free: %s",
          tickless_err_name(r->pool_free_rc));
    CHECK(r->peer_ok, "the server process did not answer at the end");
#undef CHECK
    if (a == NULL) {
        printf(ok ? "soak: PASS\n" : "soak: FAIL\n");
        return ok;
    }
    printf("\n| soak figure | value |\n| --- | --- |\n");
    printf("| duration | %.0f s, of which %.0f s warm-up; %zu samples judged |\n",
           r->seconds, r->judged_from, n);
    printf("| connections | %u on a pool of %u, %u application threads |\n",
           r->o.conns, r->o.pool_threads, r->o.app_threads);
    printf("| opened / closed | %" PRIu64 " / %" PRIu64 " (%" PRIu64
           " after a graceful shutdown), then %u closed at the end |\n",
           (uint64_t)atomic_load(&r->cnt.opened),
           (uint64_t)atomic_load(&r->cnt.closed),
           (uint64_t)atomic_load(&r->cnt.graceful), r->o.conns);
    printf("| echoes verified | %" PRIu64 ", %.1f MiB byte for byte, %" PRIu64
           " errors; slowest %.0f ms |\n",
           (uint64_t)atomic_load(&r->cnt.exchanges),
           (double)atomic_load(&r->cnt.bytes) / MIB, errors,
           (double)atomic_load(&r->cnt.slowest_ns) / 1e6);
    if (r->peer_ok)
        printf("| path | %.1f %% loss asked; relay forwarded %" PRIu64
               ", dropped %" PRIu64 " datagrams (%.2f %%); server accepted %"
               PRIu64 " |\n",
               r->o.loss * 100, r->peer.forwarded, r->peer.dropped,
               100.0 * (double)r->peer.dropped
                   / (double)(r->peer.forwarded + r->peer.dropped + 1),
               r->peer.accepted);
    printf("| RSS first / last after warm-up | %.1f / %.1f MiB; trend %+.2f "
           "MiB over %.0f s (limit %.1f) |\n",
           (double)a->rss / MIB, (double)z->rss / MIB, rss_growth / MIB, span,
           rss_limit / MIB);
    printf("| heap in use first / last after warm-up | %.1f / %.1f MiB; trend "
           "%+.2f MiB over %.0f s (limit %.1f) |\n",
           (double)a->heap / MIB, (double)z->heap / MIB, heap_growth / MIB,
           span, heap_limit / MIB);
    printf("| descriptors first / last after warm-up | %" PRIu64 " / %" PRIu64
           "; range %" PRIu64 " (limit %" PRIu64 "); trend %+.2f over the "
           "span; after closing %" PRIu64 ", before the pool %" PRIu64 " |\n",
           a->fds, z->fds, fd_max - fd_min, fd_range_limit,
           trend(r, FDS) * span, r->fds_after, r->fds_baseline);
    printf("| pool lateness p50 / p99 / max | %.3f / %.3f / %.1f ms; %" PRIu64
           " ticks, %" PRIu64 " on a timer |\n",
           (double)r->pst.lateness_p50_ns / 1e6,
           (double)r->pst.lateness_p99_ns / 1e6,
           (double)r->pst.lateness_max_ns / 1e6, r->pst.ticks,
           r->pst.timer_ticks);
    printf("| lateness beyond the machine's | %.1f ms (limit %.0f ms): the pool "
           "%.1f ms late when a thread that only sleeps was %.1f ms late |\n",
           (double)late_own / 1e6, LATENESS_LIMIT_NS / 1e6,
           (double)late_pool / 1e6, (double)late_canary / 1e6);
    printf("| a thread that only sleeps, 5 ms at a time | woke at most %.1f "
           "ms late |\n",
           (double)canary_max(r) / 1e6);
    printf("| pool CPU | %.1f s |\n\n", (double)r->pst.cpu_ns / 1e9);
    printf(ok ? "soak: PASS\n" : "soak: FAIL\n");
    return ok;
}
