/*
 * latency_run: the parent's side of the wake and rearm scenarios. In each
 * round, for each mode, it forks a server (with a push pipe, for wake), a
 * relay in front of it and a client process, and collects the client's
 * samples; then it prints one table (and a CSV file) of percentiles per
 * mode with the goals beside them. Also the few helpers both scenarios'
 * client bodies share (idle gaps, waiting for a relay report).
 */
#include "latency.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ts_util.h"

#if BENCH_HAVE_QUIC
#include "ts_certs.h"
#endif

const lat_mode lat_modes[LAT_NMODES] = {
    { "app-driven", "OpenSSL alone, ticked by the application's poll loop",
      0, 0 },
    { "native", "OSSL_QUIC_client_thread_method(), blocking calls", 0, 0 },
    { "dedicated", "tickless, a thread for the connection", 1, 0 },
    { "pool-1", "tickless, a pool of 1 thread", 1, 1 },
    { "pool-2", "tickless, a pool of 2 threads", 1, 2 },
};

int lat_fail(lat_result *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->error, sizeof(r->error), fmt, ap);
    va_end(ap);
    return -1;
}

/* The first echo and the quiet time after it. */
#define FIRST_ECHO_LEN 64
#define FIRST_ECHO_TIMEOUT_MS 10000
#define SETTLE_MS 250u

int lat_client_connect(lat_conn *c, const lat_client_args *a,
                       lat_result *res)
{
    uint8_t echo[FIRST_ECHO_LEN];

    if (lat_conn_open(c, a->mode, a->relay.port, a->o->quic_idle_ms) != 0)
        return lat_fail(res, "%s", c->error);
    memset(echo, 'e', sizeof(echo));
    if (lat_conn_write(c, echo, sizeof(echo)) != 0
        || lat_conn_read(c, echo, sizeof(echo), FIRST_ECHO_TIMEOUT_MS) != 0)
        return lat_fail(res, "first echo: %s", c->error);
    (void)lat_conn_idle(c, -1, bench_now_ns() + SETTLE_MS * 1000000u);
    return 0;
}

int lat_idle_gap(lat_conn *c, const lat_opts *o, uint64_t *rng)
{
    uint64_t ms = o->gap_ms;

    if (o->jitter_ms > 0)
        ms += ts_splitmix64(rng) % (o->jitter_ms + 1u);
    return lat_conn_idle(c, -1, bench_now_ns() + ms * 1000000u) < 0 ? -1 : 0;
}

int lat_await_report(lat_conn *c, bench_relay *relay, uint32_t id,
                     uint64_t until_ns, relay_report *rep)
{
    for (;;) {
        int w = lat_conn_idle(c, relay->report_fd, until_ns);
        int p = bench_relay_poll_report(relay, id, rep);

        if (p != 0)
            return p;
        if (w <= 0)
            return w;
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

int64_t lat_percentile(const lat_result *r, unsigned pct)
{
    int64_t v[LAT_MAX_SAMPLES];

    if (r->n == 0)
        return 0;
    memcpy(v, r->v, r->n * sizeof(v[0]));
    qsort(v, r->n, sizeof(v[0]), cmp_i64);
    return v[bench_rank_index(r->n, pct)];
}

/* ---- usage and options -------------------------------------------------- */

void lat_usage(const lat_scenario *s, FILE *out)
{
    const lat_opts *d = &s->defaults, *q = &s->quick;
    size_t i;

    fprintf(out,
            "  --modes LIST        modes to run, or 'all' (default all):\n");
    for (i = 0; i < LAT_NMODES; i++)
        fprintf(out, "                        %-10s %s\n", lat_modes[i].name,
                lat_modes[i].what);
    fprintf(out,
            "  --samples N         samples per mode, native excepted "
            "(default %u)\n"
            "  --native-samples N  native's samples: each may take the whole "
            "timeout\n"
            "                      (default %u)\n"
            "  --timeout-ms MS     give a sample up after MS; it then counts "
            "as '> MS'\n"
            "                      (default %u)\n"
            "  --gap-ms MS         idle time before each sample (default %u) "
            "...\n"
            "  --jitter-ms MS      ... plus a uniform 0..MS (default %u)\n"
            "  --rounds N          the modes take turns N times, each turn "
            "in fresh\n"
            "                      processes with its share of the samples, "
            "so that a\n"
            "                      load that comes and goes hits every mode "
            "(default %u)\n",
            d->samples, d->native_samples, d->timeout_ms, d->gap_ms,
            d->jitter_ms, d->rounds);
    if (s->needs_push)
        fprintf(out,
                "  --burst BYTES       bytes the server pushes per sample "
                "(default %u)\n",
                d->burst);
    fprintf(out,
            "  --quic-idle-ms MS   QUIC idle timeout, both sides; 0: none "
            "(default %" PRIu64 ")\n"
            "  --seed N            seed of the jitter (default %" PRIu64 ")\n"
            "  --quick             %u samples (native %u), timeout %u ms, "
            "%u round\n"
            "  --markdown          print the table as Markdown\n"
            "  --csv DIR           also write DIR/%s.csv\n",
            d->quic_idle_ms, d->seed, q->samples, q->native_samples,
            q->timeout_ms, q->rounds, s->name);
}

static int parse_modes(const char *s, unsigned *mask)
{
    return bench_parse_modes(s, &lat_modes[0].name, sizeof(lat_modes[0]),
                             LAT_NMODES, mask);
}

/* Options given explicitly win over --quick's, whatever their order. */
typedef struct given {
    int samples, native_samples, timeout_ms, rounds;
} given;

/* Returns 0 (run), -1 (a bad option or value) or 1 (--help: lat_main
 * returns *rc). */
static int parse_opts(const lat_scenario *s, int argc, char **argv,
                      lat_opts *o, int *rc)
{
    enum { OPT_MODES = BENCH_OPT_OWN, OPT_SAMPLES, OPT_NATIVE_SAMPLES,
           OPT_TIMEOUT, OPT_GAP, OPT_JITTER, OPT_BURST, OPT_ROUNDS,
           OPT_QUIC_IDLE, OPT_SEED };
    static const struct option longopts[] = {
        { "modes", required_argument, NULL, OPT_MODES },
        { "samples", required_argument, NULL, OPT_SAMPLES },
        { "native-samples", required_argument, NULL, OPT_NATIVE_SAMPLES },
        { "timeout-ms", required_argument, NULL, OPT_TIMEOUT },
        { "gap-ms", required_argument, NULL, OPT_GAP },
        { "jitter-ms", required_argument, NULL, OPT_JITTER },
        { "burst", required_argument, NULL, OPT_BURST },
        { "rounds", required_argument, NULL, OPT_ROUNDS },
        { "quic-idle-ms", required_argument, NULL, OPT_QUIC_IDLE },
        { "seed", required_argument, NULL, OPT_SEED },
        BENCH_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    given g = { 0, 0, 0, 0 };
    lat_opts set;
    int c;

    *o = s->defaults;
    set = *o;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_MODES:
            if (parse_modes(optarg, &o->modes) != 0)
                return -1;
            break;
        case OPT_SAMPLES:
            if (bench_parse_uint(optarg, 1, LAT_MAX_SAMPLES, &set.samples)
                != 0)
                return -1;
            g.samples = 1;
            break;
        case OPT_NATIVE_SAMPLES:
            if (bench_parse_uint(optarg, 0, LAT_MAX_SAMPLES,
                                 &set.native_samples) != 0)
                return -1;
            g.native_samples = 1;
            break;
        case OPT_TIMEOUT:
            if (bench_parse_uint(optarg, 10, 600000, &set.timeout_ms) != 0)
                return -1;
            g.timeout_ms = 1;
            break;
        case OPT_GAP:
            if (bench_parse_uint(optarg, 0, 60000, &o->gap_ms) != 0)
                return -1;
            break;
        case OPT_JITTER:
            if (bench_parse_uint(optarg, 0, 60000, &o->jitter_ms) != 0)
                return -1;
            break;
        case OPT_BURST:
            if (!s->needs_push
                || bench_parse_uint(optarg, 1, 1u << 20, &o->burst) != 0)
                return -1;
            break;
        case OPT_ROUNDS:
            if (bench_parse_uint(optarg, 1, LAT_MAX_ROUNDS, &set.rounds) != 0)
                return -1;
            g.rounds = 1;
            break;
        case OPT_QUIC_IDLE:
            if (bench_parse_u64(optarg, 0, 3600000, &o->quic_idle_ms) != 0)
                return -1;
            break;
        case OPT_SEED:
            if (bench_parse_u64(optarg, 0, UINT64_MAX, &o->seed) != 0)
                return -1;
            break;
        case '?': /* unknown, or no value: lat_main says "bad option" */
            return -1;
        default:
            if (!bench_opts_common(c, &o->common, s->usage, rc))
                return 1;
            break;
        }
    }
    if (optind != argc)
        return -1;
    if (o->common.quick) {
        o->samples = s->quick.samples;
        o->native_samples = s->quick.native_samples;
        o->timeout_ms = s->quick.timeout_ms;
        o->rounds = s->quick.rounds;
    }
    if (g.samples)
        o->samples = set.samples;
    if (g.native_samples)
        o->native_samples = set.native_samples;
    if (g.timeout_ms)
        o->timeout_ms = set.timeout_ms;
    if (g.rounds)
        o->rounds = set.rounds;
    return 0;
}

#if BENCH_HAVE_QUIC

static unsigned timed_out(const lat_result *r)
{
    unsigned i, k = 0;

    for (i = 0; i < r->n; i++)
        k += r->v[i] == LAT_TIMED_OUT;
    return k;
}

/* ---- the parent: one mode ----------------------------------------------- */

static void run_mode(const lat_scenario *s, const lat_opts *o, int mode,
                     lat_result *res)
{
    lat_client_args a;
    bench_server srv;
    int push[2] = { -1, -1 };
    char why[160];

    memset(res, 0, sizeof(*res));
    memset(&a, 0, sizeof(a));
    memset(&srv, 0, sizeof(srv));
    a.o = o;
    a.mode = mode;
    a.push_fd = -1;
    a.relay.cmd_fd = a.relay.report_fd = -1;
    if (s->needs_push && pipe(push) != 0) {
        lat_fail(res, "pipe: %s", strerror(errno));
        return;
    }
    if (bench_server_start_ctl(o->quic_idle_ms, push[0], &srv) != 0) {
        lat_fail(res, "server did not start");
        goto out;
    }
    if (push[0] >= 0) {
        close(push[0]); /* the server's end */
        push[0] = -1;
    }
    if (bench_relay_start(srv.port, &a.relay) != 0) {
        lat_fail(res, "relay did not start");
        goto out;
    }
    a.push_fd = push[1];
    if (bench_run_child(s->client, &a, res, sizeof(*res), why, sizeof(why))
        != 0) {
        memset(res, 0, sizeof(*res));
        lat_fail(res, "%s", why);
    }

out:
    bench_relay_stop(&a.relay);
    bench_server_stop(&srv);
    if (push[0] >= 0)
        close(push[0]);
    if (push[1] >= 0)
        close(push[1]);
}

/* ---- the table ---------------------------------------------------------- */

/* "0.153" ms, or "> 2000" for a sample that timed out. */
static void fmt_ms(char *buf, size_t len, int64_t ns, unsigned cap_ms)
{
    if (ns == LAT_TIMED_OUT)
        snprintf(buf, len, "> %u", cap_ms);
    else if (ns < 10000000 && ns > -10000000)
        snprintf(buf, len, "%.3f", ns / 1e6);
    else
        snprintf(buf, len, "%.1f", ns / 1e6);
}

/* |num| / |den| as "12x" or "0.85x"; a lower bound ("> 12x") if |num| timed
 * out, an upper bound if |den| did; "-" if both or a zero. */
static void fmt_ratio(char *buf, size_t len, int64_t num, int64_t den,
                      unsigned cap_ms)
{
    int64_t cap = (int64_t)cap_ms * 1000000;
    const char *bound = "";
    double q;

    if (num == LAT_TIMED_OUT && den == LAT_TIMED_OUT) {
        snprintf(buf, len, "-");
        return;
    }
    if (num == LAT_TIMED_OUT) {
        num = cap;
        bound = "> ";
    } else if (den == LAT_TIMED_OUT) {
        den = cap;
        bound = "< ";
    }
    if (num <= 0 || den <= 0) {
        snprintf(buf, len, "-");
        return;
    }
    q = (double)num / (double)den;
    snprintf(buf, len, q >= 10 ? "%s%.0fx" : "%s%.2fx", bound, q);
}

enum { COL_MODE, COL_SAMPLES, COL_TIMEOUTS, COL_P50, COL_P99, COL_MAX,
       COL_VS_APP, COL_VS_NATIVE, COL_GOALS, NCOLS };

static const char *const col_titles[NCOLS] = {
    "mode", "samples", "timed out", "p50 ms", "p99 ms", "max ms",
    "p99 / app-driven's", "native's p50 / p50", "goals"
};

static void row_cells(const lat_scenario *s, const lat_opts *o,
                      char c[NCOLS][BENCH_TABLE_CELL], int mode,
                      const lat_result *r, const lat_result *app,
                      const lat_result *native)
{
    memset(c, 0, NCOLS * sizeof(c[0]));
    snprintf(c[COL_MODE], BENCH_TABLE_CELL, "%s", lat_modes[mode].name);
    if (!r->ok) {
        snprintf(c[COL_SAMPLES], BENCH_TABLE_CELL, "failed");
        snprintf(c[COL_GOALS], BENCH_TABLE_CELL, "%.90s", r->error);
        return;
    }
    snprintf(c[COL_SAMPLES], BENCH_TABLE_CELL, "%u", r->n);
    snprintf(c[COL_TIMEOUTS], BENCH_TABLE_CELL, "%u", timed_out(r));
    if (r->n == 0)
        return;
    fmt_ms(c[COL_P50], BENCH_TABLE_CELL, lat_percentile(r, 50),
           o->timeout_ms);
    fmt_ms(c[COL_P99], BENCH_TABLE_CELL, lat_percentile(r, 99),
           o->timeout_ms);
    fmt_ms(c[COL_MAX], BENCH_TABLE_CELL, lat_percentile(r, 100),
           o->timeout_ms);
    if (app != NULL && app->n > 0 && mode != LAT_APP)
        fmt_ratio(c[COL_VS_APP], BENCH_TABLE_CELL, lat_percentile(r, 99),
                  lat_percentile(app, 99), o->timeout_ms);
    else
        snprintf(c[COL_VS_APP], BENCH_TABLE_CELL, "-");
    if (native != NULL && native->n > 0 && mode != LAT_NATIVE)
        fmt_ratio(c[COL_VS_NATIVE], BENCH_TABLE_CELL,
                  lat_percentile(native, 50), lat_percentile(r, 50),
                  o->timeout_ms);
    else
        snprintf(c[COL_VS_NATIVE], BENCH_TABLE_CELL, "-");
    s->goals(c[COL_GOALS], BENCH_TABLE_CELL, mode, r, native);
}

static void print_table(const lat_scenario *s, const lat_opts *o,
                        lat_result *res)
{
    bench_table *t = bench_table_new(NCOLS, col_titles);
    const lat_result *app = NULL, *native = NULL;
    int m;

    if (t == NULL)
        return;
    if ((o->modes & (1u << LAT_APP)) && res[LAT_APP].ok)
        app = &res[LAT_APP];
    if ((o->modes & (1u << LAT_NATIVE)) && res[LAT_NATIVE].ok)
        native = &res[LAT_NATIVE];
    for (m = 0; m < LAT_NMODES; m++) {
        char c[NCOLS][BENCH_TABLE_CELL];
        const char *cells[NCOLS];
        size_t k;

        if (!(o->modes & (1u << m)))
            continue;
        row_cells(s, o, c, m, &res[m], app, native);
        for (k = 0; k < NCOLS; k++)
            cells[k] = c[k];
        (void)bench_table_add(t, cells);
    }
    bench_table_print(t, stdout, o->common.markdown);
    bench_table_free(t);
    printf("\n");
    s->notes(o, res);
}

/* ---- the CSV file ------------------------------------------------------- */

/* A percentile in ms for the CSV, and whether it is only a lower bound. */
static void csv_value(FILE *f, int64_t ns, unsigned cap_ms)
{
    if (ns == LAT_TIMED_OUT)
        fprintf(f, ",%u,1", cap_ms);
    else
        fprintf(f, ",%.6f,0", ns / 1e6);
}

/* Every sample, for the lateness CDF (--plot): DIR/<name>-samples.csv,
 * one row per sample: mode, ms, and whether it timed out (then ms is the
 * cap, a lower bound). */
static int write_samples_csv(const lat_scenario *s, const lat_opts *o,
                             const lat_result *res)
{
    char path[4096];
    FILE *f;
    unsigned i;
    int m;

    snprintf(path, sizeof(path), "%s/%s-samples.csv", o->common.csv_dir,
             s->name);
    if ((f = fopen(path, "w")) == NULL) {
        fprintf(stderr, "%s: %s: %s\n", s->name, path, strerror(errno));
        return -1;
    }
    fprintf(f, "mode,ms,timed_out\n");
    for (m = 0; m < LAT_NMODES; m++) {
        const lat_result *r = &res[m];

        if (!(o->modes & (1u << m)) || !r->ok)
            continue;
        for (i = 0; i < r->n; i++) {
            if (r->v[i] == LAT_TIMED_OUT)
                fprintf(f, "%s,%u,1\n", lat_modes[m].name, o->timeout_ms);
            else
                fprintf(f, "%s,%.6f,0\n", lat_modes[m].name, r->v[i] / 1e6);
        }
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "%s: %s: %s\n", s->name, path, strerror(errno));
        return -1;
    }
    return 0;
}

static int write_csv(const lat_scenario *s, const lat_opts *o,
                     const lat_result *res)
{
    char path[4096];
    FILE *f;
    int m;

    snprintf(path, sizeof(path), "%s/%s.csv", o->common.csv_dir, s->name);
    if ((f = fopen(path, "w")) == NULL) {
        fprintf(stderr, "%s: %s: %s\n", s->name, path, strerror(errno));
        return -1;
    }
    fprintf(f, "mode,measurement,samples,timed_out,p50_ms,p50_lower_bound,"
               "p99_ms,p99_lower_bound,max_ms,max_lower_bound\n");
    for (m = 0; m < LAT_NMODES; m++) {
        const lat_result *r = &res[m];

        if (!(o->modes & (1u << m)) || !r->ok || r->n == 0)
            continue;
        fprintf(f, "%s,%s,%u,%u", lat_modes[m].name, s->csv_measurement,
                r->n, timed_out(r));
        csv_value(f, lat_percentile(r, 50), o->timeout_ms);
        csv_value(f, lat_percentile(r, 99), o->timeout_ms);
        csv_value(f, lat_percentile(r, 100), o->timeout_ms);
        fprintf(f, "\n");
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "%s: %s: %s\n", s->name, path, strerror(errno));
        return -1;
    }
    return write_samples_csv(s, o, res);
}

/* Round |r|'s share of |n| samples: the first n % rounds rounds take one
 * more. */
static unsigned share(unsigned n, unsigned r, unsigned rounds)
{
    return n / rounds + (r < n % rounds ? 1u : 0u);
}

/* Appends one round's samples and counters to a mode's result. */
static void merge(lat_result *into, const lat_result *r)
{
    unsigned i;

    if (!into->ok)
        return; /* an earlier round failed: the mode has failed */
    if (!r->ok) {
        into->ok = 0;
        snprintf(into->error, sizeof(into->error), "%s", r->error);
        return;
    }
    for (i = 0; i < r->n && into->n < LAT_MAX_SAMPLES; i++) {
        into->v[into->n] = r->v[i];
        into->aux[into->n++] = r->aux[i];
    }
    into->user_stamps += r->user_stamps;
    into->bad_deadline += r->bad_deadline;
    into->silent += r->silent;
    into->no_probe += r->no_probe;
    if (r->assist_diff_max > into->assist_diff_max)
        into->assist_diff_max = r->assist_diff_max;
    if (r->have_assist_late) {
        into->have_assist_late = 1;
        if (r->assist_late_p50_ns > into->assist_late_p50_ns)
            into->assist_late_p50_ns = r->assist_late_p50_ns;
        if (r->assist_late_p99_ns > into->assist_late_p99_ns)
            into->assist_late_p99_ns = r->assist_late_p99_ns;
        into->assist_timer_ticks += r->assist_timer_ticks;
        into->assist_wakeups += r->assist_wakeups;
    }
    into->slow += r->slow;
    into->slow_io_ticks += r->slow_io_ticks;
    into->slow_timer_ticks += r->slow_timer_ticks;
}

/*
 * The modes take turns: round 1 runs every mode with its share of the
 * samples, then round 2, ... Each turn is a fresh server, relay and client.
 * On a shared machine the load comes and goes; run one mode after the
 * other and a burst of it would land on one mode's tail only.
 */
static int run_all(const lat_scenario *s, const lat_opts *o)
{
    lat_result *res = calloc(LAT_NMODES + 1, sizeof(*res));
    lat_result *one = res + LAT_NMODES;
    unsigned r;
    int m, rc = BENCH_EXIT_OK;

    if (res == NULL)
        return BENCH_EXIT_FAILED;
    /* Generate the identity before forking: server and clients share it. */
    if (ts_cert_get0() == NULL) {
        fprintf(stderr, "%s: could not generate a certificate\n", s->name);
        free(res);
        return BENCH_EXIT_FAILED;
    }
    for (m = 0; m < LAT_NMODES; m++)
        res[m].ok = 1;
    for (r = 0; r < o->rounds; r++)
        for (m = 0; m < LAT_NMODES; m++) {
            uint64_t t0 = bench_now_ns();
            lat_opts turn = *o;

            turn.samples = share(o->samples, r, o->rounds);
            turn.native_samples = share(o->native_samples, r, o->rounds);
            turn.seed = o->seed + r;
            if (!(o->modes & (1u << m)) || !res[m].ok
                || (m == LAT_NATIVE ? turn.native_samples : turn.samples)
                       == 0)
                continue;
            fprintf(stderr, "%s: round %u/%u %-10s ", s->name, r + 1,
                    o->rounds, lat_modes[m].name);
            run_mode(s, &turn, m, one);
            if (one->ok)
                fprintf(stderr, "%u sample%s, %u timed out, in %.1f s\n",
                        one->n, one->n == 1 ? "" : "s", timed_out(one),
                        (bench_now_ns() - t0) / 1e9);
            else
                fprintf(stderr, "failed: %s\n", one->error);
            merge(&res[m], one);
        }
    print_table(s, o, res);
    if (o->common.csv_dir != NULL && write_csv(s, o, res) != 0)
        rc = BENCH_EXIT_FAILED;
    free(res);
    return rc;
}

#endif /* BENCH_HAVE_QUIC */

int lat_main(const lat_scenario *s, int argc, char **argv)
{
    lat_opts o;
    int rc, parsed = parse_opts(s, argc, argv, &o, &rc);

    if (parsed < 0)
        return bench_opts_bad(s->name, s->usage);
    if (parsed > 0)
        return rc;
    if (bench_quic_skipped(s->name))
        return BENCH_EXIT_OK;
#if BENCH_HAVE_QUIC
    printf("%s: %s per assist mode; %u samples (native %u) in %u "
           "round%s, timeout %u ms, gap %u..%u ms, QUIC idle timeout %" PRIu64
           " ms%s\n",
           s->name, s->measured, o.samples, o.native_samples, o.rounds,
           o.rounds == 1 ? "" : "s", o.timeout_ms, o.gap_ms,
           o.gap_ms + o.jitter_ms, o.quic_idle_ms,
           o.common.quick ? " (--quick)" : "");
    {
        char prefix[32];

        snprintf(prefix, sizeof(prefix), "%s: ", s->name);
        bench_print_environment(stdout, prefix);
    }
    fflush(stdout);
    return run_all(s, &o);
#else
    return BENCH_EXIT_OK; /* not reached: no QUIC in this build */
#endif
}
