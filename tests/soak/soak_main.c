/*
 * tickless-soak: the soak test (see soak.h for who runs where).
 *
 *   tickless-soak [--seconds N] [--warmup N] [--conns N] [--pool-threads N]
 *                 [--app-threads N] [--loss P] [--seed N]
 *
 * Defaults: 120 s, of which the first 30 (or a third of a shorter run) are
 * warm-up; 500 connections over a pool of 2 threads, 4 application
 * threads, 3 % loss each way. TICKLESS_SOAK_SECONDS and TICKLESS_SOAK_SEED
 * set the length and seed when no argument does.
 *
 * What it asserts, and why each bound is what it is:
 *  - every echo came back intact and no call failed: 3 % loss is nothing a
 *    QUIC stack cannot repair within the 30 s each call is given;
 *  - memory is flat after warm-up: the least-squares slope of the resident
 *    set over the samples after warm-up, extrapolated over that span, is
 *    below max(16 MiB, 10 % of the resident set); the same for the bytes
 *    malloc has handed out and not taken back (glibc's mallinfo2, a
 *    steadier figure than the resident set, which fragmentation moves), below
 *    max(8 MiB, 5 %). Both breathe by a few MiB once warm (measured: +2 to
 *    +4 MiB resident, -1 to +2 MiB heap over 90 s); a deliberate leak of
 *    16 KiB per closed connection (10 to 15 re-opens a second) made the
 *    heap grow 10 MiB in 90 s, and one of 400 bytes per echo would about
 *    as much. Smaller leaks are memcheck's and LeakSanitizer's to find
 *    (scripts/valgrind, the asan preset);
 *  - descriptors are flat after warm-up (their range is at most two per
 *    application thread: each may be between a close and an open) and,
 *    once every connection is closed and the pool freed, back to what they
 *    were before the pool was made;
 *  - no pool thread was 1 s or more late for a deadline beyond what the
 *    machine imposed at that moment: each time the pool's lateness
 *    maximum grows (read once a second), the canary's lateness in that
 *    second and the ones either side is subtracted (soak.h: the canary).
 *    On a quiet machine the canary is a few ms late and this is the plain
 *    1 s bound; on a machine whose CPUs other programs keep busy, every
 *    thread of the process has been seen to wait over a second now and
 *    then, and that is not tickless's to answer for;
 *  - the run did what it says: every connection opened, some re-opened,
 *    echoes checked, and the pool frees cleanly at the end.
 * It prints a table of the figures, then "soak: PASS" or the reasons it
 * failed, and exits 0 or 1.
 */
#include "soak.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts_certs.h"
#include "ts_util.h"

#define MIB (1024.0 * 1024.0)
#define SAMPLE_MS 1000
#define PROGRESS_EVERY 10 /* samples between progress lines */
#define RSS_SLACK_BYTES (16.0 * MIB)
#define RSS_SLACK_FRACTION 0.10
#define HEAP_SLACK_BYTES (8.0 * MIB)
#define HEAP_SLACK_FRACTION 0.05
#define LATENESS_LIMIT_NS 1000000000ull
#define MIN_JUDGED_SAMPLES 10

typedef struct options {
    unsigned seconds, warmup, conns, pool_threads, app_threads;
    double loss;
    uint64_t seed;
} options;

static int parse_uint(const char *s, unsigned *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v > 1000000ul)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_options(int argc, char **argv, options *o)
{
    const char *env;
    int i, warmup_set = 0;

    o->seconds = 120;
    o->conns = 500;
    o->pool_threads = 2;
    o->app_threads = 4;
    o->loss = 0.03;
    o->seed = 1;
    if ((env = getenv("TICKLESS_SOAK_SECONDS")) != NULL
        && parse_uint(env, &o->seconds) != 0)
        return -1;
    if ((env = getenv("TICKLESS_SOAK_SEED")) != NULL)
        o->seed = strtoull(env, NULL, 0);
    if ((argc - 1) % 2 != 0)
        return -1; /* every option takes a value */
    for (i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        int rc = -1;

        if (strcmp(a, "--seconds") == 0)
            rc = parse_uint(v, &o->seconds);
        else if (strcmp(a, "--warmup") == 0)
            rc = parse_uint(v, &o->warmup), warmup_set = 1;
        else if (strcmp(a, "--conns") == 0)
            rc = parse_uint(v, &o->conns);
        else if (strcmp(a, "--pool-threads") == 0)
            rc = parse_uint(v, &o->pool_threads);
        else if (strcmp(a, "--app-threads") == 0)
            rc = parse_uint(v, &o->app_threads);
        else if (strcmp(a, "--seed") == 0)
            o->seed = strtoull(v, NULL, 0), rc = 0;
        else if (strcmp(a, "--loss") == 0)
            o->loss = atof(v), rc = o->loss >= 0 && o->loss < 0.5 ? 0 : -1;
        if (rc != 0)
            return -1;
    }
    if (!warmup_set)
        o->warmup = o->seconds / 3 < 30 ? o->seconds / 3 : 30;
    if (o->pool_threads == 0 || o->app_threads == 0
        || o->conns < o->app_threads || o->warmup >= o->seconds)
        return -1;
    return 0;
}

/* Everything the run measured. */
typedef struct run {
    options o;
    soak_counters cnt;
    soak_sample *samples;
    size_t nsamples;
    double judged_from; /* t of the first sample after warm-up */
    uint64_t fds_baseline, fds_after;
    struct tickless_pool_stats pst;
    int pool_free_rc;
    soak_peer_status peer;
    int peer_ok;
    double seconds; /* the traffic's length, measured */
    uint64_t canary_tail_ns; /* the canary's lateness after the last sample */
} run;

static double since_s(uint64_t t0)
{
    return (double)(ts_now_ns() - t0) / 1e9;
}

static void progress(const run *r, const soak_sample *s, tickless_pool *pool)
{
    struct tickless_pool_stats st = TICKLESS_POOL_STATS_INIT;

    (void)tickless_pool_stats(pool, &st);
    printf("soak: %4.0f s  open %4" PRIu64 "  opened %6" PRIu64
           "  echoes %8" PRIu64 "  %8.1f MiB  errors %" PRIu64
           "  RSS %6.1f MiB  heap %6.1f MiB  fds %4" PRIu64
           "  late max %.1f ms\n",
           s->t, s->pool_conns, (uint64_t)atomic_load(&r->cnt.opened),
           (uint64_t)atomic_load(&r->cnt.exchanges),
           (double)atomic_load(&r->cnt.bytes) / MIB,
           (uint64_t)atomic_load(&r->cnt.errors), (double)s->rss / MIB,
           (double)s->heap / MIB, s->fds,
           (double)st.lateness_max_ns / 1e6);
    fflush(stdout);
}

/* Samples once a second until the run's end, into r->samples. */
static void sample_loop(run *r, tickless_pool *pool, soak_traffic *t,
                        soak_canary *canary, uint64_t t0)
{
    size_t cap = r->o.seconds + 16;

    r->samples = calloc(cap, sizeof(*r->samples));
    r->judged_from = -1;
    while (r->samples != NULL && r->nsamples < cap) {
        struct tickless_pool_stats st = TICKLESS_POOL_STATS_INIT;
        soak_sample *s = &r->samples[r->nsamples];
        double now = since_s(t0);

        if (now >= r->o.seconds)
            break;
        ts_sleep_ms(SAMPLE_MS - (unsigned)(fmod(now, 1.0) * 1000.0));
        (void)tickless_pool_stats(pool, &st);
        s->t = since_s(t0);
        s->rss = soak_rss_bytes();
        s->heap = soak_heap_bytes();
        s->fds = soak_fd_count();
        s->pool_conns = st.connections;
        s->pool_late_max = st.lateness_max_ns;
        s->canary_late = soak_canary_take(canary);
        r->nsamples++;
        /* Judged: samples after the warm-up, once every thread has opened
         * its share (a slow start extends the warm-up). */
        if (r->judged_from < 0 && s->t >= r->o.warmup && soak_traffic_ready(t))
            r->judged_from = s->t;
        if (r->nsamples % PROGRESS_EVERY == 0)
            progress(r, s, pool);
    }
}

/*
 * The pool's lateness beyond the machine's. Each time the pool's lateness
 * maximum grew (seen at sample i, or at the end), the canary's largest
 * lateness in samples i-1..i+1 is what every thread of the process suffered
 * around then; the rest is tickless's. Returns the largest such rest, and
 * the pool's and the canary's figures where it was found.
 */
static uint64_t lateness_beyond_machine(const run *r, uint64_t *pool_ns,
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
static uint64_t canary_max(const run *r)
{
    uint64_t m = r->canary_tail_ns;
    size_t i;

    for (i = 0; i < r->nsamples; i++)
        if (r->samples[i].canary_late > m)
            m = r->samples[i].canary_late;
    return m;
}

/* The judged samples: [*first, nsamples). */
static size_t judged_first(const run *r)
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
static double trend(const run *r, enum series which)
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

static int verdict(const run *r, int print)
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
            if (print) {                                                       \
                printf("soak: FAIL: ");                                        \
                printf(__VA_ARGS__);                                           \
                printf("\n");                                                  \
            }                                                                  \
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
    if (!print)
        return ok;
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

int main(int argc, char **argv)
{
    run r;
    soak_peer peer;
    soak_peer_options po;
    soak_traffic_options to;
    tickless_pool_options pop;
    tickless_pool *pool = NULL;
    soak_traffic *traffic = NULL;
    soak_canary *canary;
    SSL_CTX *ctx;
    uint64_t t0;
    int ok;

    memset(&r, 0, sizeof(r));
    r.pst.size = sizeof(r.pst);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (parse_options(argc, argv, &r.o) != 0) {
        fprintf(stderr, "usage: tickless-soak [--seconds N] [--warmup N] "
                        "[--conns N] [--pool-threads N] [--app-threads N] "
                        "[--loss P] [--seed N]\n");
        return 2;
    }
    if (!ts_have_quic() || !(tickless_features() & TICKLESS_FEATURE_QUIC)) {
        fprintf(stderr, "soak: needs QUIC client and server (OpenSSL >= "
                        "3.5); this build has %s\n",
                OpenSSL_version(OPENSSL_VERSION));
        return 1;
    }
    soak_raise_fd_limit();
    /* The identity first, then the peer process, before any thread. */
    if (ts_cert_get0() == NULL) {
        fprintf(stderr, "soak: no certificate\n");
        return 1;
    }
    memset(&po, 0, sizeof(po));
    po.loss = r.o.loss;
    po.seed = r.o.seed;
    po.max_clients = r.o.conns * 2 + 2048;
    po.idle_timeout_ms = 10000;
    if (soak_peer_start(&po, &peer) != 0) {
        fprintf(stderr, "soak: the server process did not start\n");
        return 1;
    }
    if ((ctx = ts_client_ctx(TS_QUIC)) == NULL) {
        fprintf(stderr, "soak: no client context\n");
        soak_peer_stop(&peer);
        return 1;
    }
    printf("soak: %u QUIC connections, pool of %u, %u application threads, "
           "%.1f %% loss each way, %u s (warm-up %u s), seed %" PRIu64 "\n",
           r.o.conns, r.o.pool_threads, r.o.app_threads, r.o.loss * 100,
           r.o.seconds, r.o.warmup, r.o.seed);
    r.fds_baseline = soak_fd_count();
    tickless_pool_options_defaults(&pop);
    pop.threads = r.o.pool_threads;
    pop.thread_name = "soak";
    if (tickless_pool_new(&pop, &pool) != 0) {
        fprintf(stderr, "soak: tickless_pool_new failed\n");
        SSL_CTX_free(ctx);
        soak_peer_stop(&peer);
        return 1;
    }
    memset(&to, 0, sizeof(to));
    to.conns = r.o.conns;
    to.threads = r.o.app_threads;
    to.port = peer.port;
    to.seed = r.o.seed;
    to.reopen_per_mille = 50;
    to.max_echo = 64 * 1024;
    to.call_timeout_ms = 30000;
    canary = soak_canary_start();
    t0 = ts_now_ns();
    if (soak_traffic_start(&to, pool, ctx, &r.cnt, &traffic) != 0) {
        fprintf(stderr, "soak: could not start the application threads\n");
        soak_canary_stop(canary);
        tickless_pool_free(pool);
        SSL_CTX_free(ctx);
        soak_peer_stop(&peer);
        return 1;
    }
    sample_loop(&r, pool, traffic, canary, t0);
    soak_traffic_stop(traffic); /* joins, then closes every connection */
    r.seconds = since_s(t0);
    r.canary_tail_ns = soak_canary_stop(canary);
    (void)tickless_pool_stats(pool, &r.pst);
    r.pool_free_rc = tickless_pool_free(pool);
    r.fds_after = soak_fd_count();
    r.peer_ok = soak_peer_status_get(&peer, &r.peer) == 0;
    soak_peer_stop(&peer);
    SSL_CTX_free(ctx);
    ok = verdict(&r, 1);
    free(r.samples);
    return ok ? 0 : 1;
}
