/*
 * rtt: blocking request/response round trips of 64 bytes over one QUIC
 * connection, per mode (rtt_conn.h): p50, p99 and mean, and each mode's
 * ratio to app-driven, which is the floor: the application's own thread
 * waits on the socket and ticks, so a response reaches it with one wake-up.
 *
 * One echo server process (bench_server.c) serves the whole run. Each
 * (round, mode) is a fresh client process (bench_run_child), which connects,
 * makes --warmup untimed round trips, then times its share of --samples
 * round trips and sends the samples back. A round trip is timed from just
 * before the 64-byte write to the return of the read that completes the
 * 64-byte echo (CLOCK_MONOTONIC); the echo is compared with the request
 * outside the timed region. Requests follow each other back to back.
 *
 * Why rounds: on a shared machine the noise drifts over seconds (other
 * processes, frequency, the server's own history). Running every mode once
 * per round, in an order rotated each round, spreads that drift over all
 * modes instead of handing it to whichever ran last; 20 rounds of 500
 * samples (not 5 of 2,000) let the rotation go round each mode three times
 * over, so that no mode keeps the luck of its slot. Samples of all rounds
 * are pooled per mode; the spread of the per-round p50 ratios is printed so
 * that the noise is visible next to the figure.
 */
#include "rtt_conn.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if BENCH_HAVE_QUIC
#include "ts_certs.h"
#include "ts_util.h"
#endif

#define MSG_LEN 64
#define DEFAULT_SAMPLES 10000u
#define DEFAULT_WARMUP 200u
#define DEFAULT_ROUNDS 20u
#define QUICK_SAMPLES 600u
#define QUICK_WARMUP 100u
#define QUICK_ROUNDS 3u
#define MAX_PER_CHILD 20000u /* samples one client process sends back */
#define SERVER_IDLE_MS 30000u
#define CHILD_TIMEOUT_S 600u

/* The goal: tickless's p50 within 5% of app-driven's. */
#define GOAL_P50_RATIO 1.05

typedef struct rtt_opts {
    unsigned samples, warmup, rounds;
    unsigned modes;
    bench_common_opts common;
} rtt_opts;

/* What one client process sends back. Plain data: it crosses a pipe. */
typedef struct rtt_child_result {
    int ok;
    char error[256];
    unsigned n;
    uint64_t cpu_ns;   /* process CPU over the timed round trips */
    uint64_t sleeps;   /* voluntary context switches over them */
    uint64_t syscalls; /* system calls over them; UINT64_MAX: uncounted */
    uint64_t wall_ns;  /* wall time of the timed loop */
    int have_stats;    /* tickless modes: the connection's counters */
    uint64_t ticks;    /* assist ticks over the timed loop */
    uint64_t wakeups;  /* assist timer re-armed earlier by a call */
    uint64_t samples[MAX_PER_CHILD];
} rtt_child_result;

typedef struct rtt_child_args {
    int mode;
    uint16_t port;
    unsigned warmup, n;
} rtt_child_args;

/* Per mode, over all rounds. */
typedef struct rtt_mode_result {
    int ok;
    char error[256];
    uint64_t *samples;
    size_t n;
    uint64_t cpu_ns, sleeps, wall_ns;
    uint64_t syscalls; /* UINT64_MAX: some round could not count them */
    int have_stats;
    uint64_t ticks, wakeups;
    double round_p50[64];  /* each round's p50, ns */
    unsigned rounds;
} rtt_mode_result;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: tickless-bench rtt [options]\n"
            "  Blocking 64-byte request/response round trips over one QUIC\n"
            "  connection to an echo server in another process; p50, p99 and\n"
            "  mean per mode, and each mode's ratio to app-driven.\n"
            "options:\n"
            "  --samples N     timed round trips per mode, over all rounds\n"
            "                  (default %u; --quick %u)\n"
            "  --warmup N      untimed round trips per client process first\n"
            "                  (default %u; --quick %u)\n"
            "  --rounds R      modes run once per round, order rotated\n"
            "                  (default %u; --quick %u)\n"
            "  --modes LIST    modes to run, or 'all' (default all):\n",
            DEFAULT_SAMPLES, QUICK_SAMPLES, DEFAULT_WARMUP, QUICK_WARMUP,
            DEFAULT_ROUNDS, QUICK_ROUNDS);
    rtt_modes_usage(out, RC_NALL, 20);
    fprintf(out,
            "  --quick         a few seconds: fewer samples and rounds\n"
            "  --markdown      print the table as Markdown\n"
            "  --csv DIR       also write DIR/rtt.csv\n");
}

#if BENCH_HAVE_QUIC

/* ---- the client process ------------------------------------------------- */

/* One round trip: |req| out, its echo into |resp|. */
static int round_trip(rtt_conn *c, const uint8_t *req, uint8_t *resp)
{
    if (rtt_conn_write(c, req, MSG_LEN) != 0
        || rtt_conn_read(c, resp, MSG_LEN) != 0)
        return -1;
    return 0;
}

static int child_main(void *arg, void *result, size_t len)
{
    const rtt_child_args *a = arg;
    rtt_child_result *res = result;
    uint8_t req[MSG_LEN], resp[MSG_LEN];
    uint64_t cpu0, sleeps0, sys0, w0, off = 0;
    tickless_stats st0 = TICKLESS_STATS_INIT, st1 = TICKLESS_STATS_INIT;
    rtt_conn c;
    unsigned i;
    int sys_fd;

    memset(res, 0, len);
    /* Opened before the connection, so that its threads count too. */
    sys_fd = bench_syscalls_open();
    alarm(CHILD_TIMEOUT_S); /* a hang ends the process, not the bench */
    if (rtt_conn_open(&c, a->mode, a->port, 0) != 0)
        goto fail;
    for (i = 0; i < a->warmup; i++, off += MSG_LEN) {
        ts_fill_pattern(req, MSG_LEN, off);
        if (round_trip(&c, req, resp) != 0)
            goto fail;
    }
    if (c.tc != NULL && tickless_conn_stats(c.tc, &st0) == 0)
        res->have_stats = 1;
    cpu0 = bench_process_cpu_ns();
    sleeps0 = bench_process_sleeps();
    sys0 = bench_syscalls_read(sys_fd);
    w0 = bench_now_ns();
    for (i = 0; i < a->n; i++, off += MSG_LEN) {
        uint64_t t0;

        ts_fill_pattern(req, MSG_LEN, off);
        t0 = bench_now_ns();
        if (round_trip(&c, req, resp) != 0)
            goto fail;
        res->samples[i] = bench_now_ns() - t0;
        if (memcmp(req, resp, MSG_LEN) != 0) {
            rtt_conn_fail(&c, "round trip %u: the echo differs", i);
            goto fail;
        }
    }
    res->wall_ns = bench_now_ns() - w0;
    res->cpu_ns = bench_process_cpu_ns() - cpu0;
    res->sleeps = bench_process_sleeps() - sleeps0;
    res->syscalls = sys0 == UINT64_MAX ? UINT64_MAX
                                       : bench_syscalls_read(sys_fd) - sys0;
    if (res->have_stats && tickless_conn_stats(c.tc, &st1) == 0) {
        res->ticks = st1.ticks - st0.ticks;
        res->wakeups = st1.wakeups - st0.wakeups;
    } else {
        res->have_stats = 0;
    }
    res->n = a->n;
    rtt_conn_close(&c);
    if (sys_fd >= 0)
        close(sys_fd);
    res->ok = 1;
    return 0;

fail:
    snprintf(res->error, sizeof(res->error), "%s", c.error);
    rtt_conn_close(&c);
    if (sys_fd >= 0)
        close(sys_fd);
    return -1;
}

/* ---- the parent --------------------------------------------------------- */

static void run_child(const rtt_opts *o, int mode, uint16_t port, unsigned n,
                      rtt_mode_result *mr, rtt_child_result *cr)
{
    rtt_child_args a = { mode, port, o->warmup, n };
    char why[160];
    size_t i;

    if (bench_run_child(child_main, &a, cr, sizeof(*cr), why, sizeof(why))
        != 0) {
        mr->ok = 0;
        snprintf(mr->error, sizeof(mr->error), "%s", why);
        return;
    }
    if (!cr->ok) {
        mr->ok = 0;
        snprintf(mr->error, sizeof(mr->error), "%s", cr->error);
        return;
    }
    for (i = 0; i < cr->n; i++)
        mr->samples[mr->n++] = cr->samples[i];
    mr->cpu_ns += cr->cpu_ns;
    mr->sleeps += cr->sleeps;
    mr->syscalls = mr->syscalls == UINT64_MAX || cr->syscalls == UINT64_MAX
                       ? UINT64_MAX : mr->syscalls + cr->syscalls;
    mr->wall_ns += cr->wall_ns;
    mr->have_stats = cr->have_stats;
    mr->ticks += cr->ticks;
    mr->wakeups += cr->wakeups;
    if (mr->rounds < sizeof(mr->round_p50) / sizeof(mr->round_p50[0]))
        mr->round_p50[mr->rounds++] =
            (double)bench_percentile(cr->samples, cr->n, 50);
}

static double us(double ns)
{
    return ns / 1e3;
}

enum { COL_MODE, COL_N, COL_P50, COL_P99, COL_MEAN, COL_R50, COL_R99,
       COL_RMEAN, COL_SPREAD, COL_CPU, COL_SLEEPS, COL_SYSCALLS, COL_TICKS,
       COL_WAKEUPS,
       COL_GOAL, NCOLS };

static const char *const col_titles[NCOLS] = {
    "mode", "samples", "p50 us", "p99 us", "mean us", "p50/app",
    "p99/app", "mean/app", "p50/app by round", "CPU us/rt", "sleeps/rt",
    "syscalls/rt", "ticks/rt", "rearms/rt", "goal"
};

typedef struct rtt_summary {
    uint64_t p50, p99;
    double mean;
} rtt_summary;

static void summarize(rtt_mode_result *mr, rtt_summary *s)
{
    double sum = 0;
    size_t i;

    for (i = 0; i < mr->n; i++)
        sum += (double)mr->samples[i];
    s->mean = mr->n ? sum / mr->n : 0;
    s->p50 = bench_percentile(mr->samples, mr->n, 50);
    s->p99 = bench_percentile(mr->samples, mr->n, 99);
}

static void print_results(const rtt_opts *o, rtt_mode_result *mr)
{
    bench_table *t = bench_table_new(NCOLS, col_titles);
    rtt_summary s[RC_NALL], *app = NULL;
    FILE *csv = NULL;
    int m;

    if (t == NULL)
        return;
    for (m = 0; m < RC_NALL; m++)
        if ((o->modes & (1u << m)) && mr[m].ok)
            summarize(&mr[m], &s[m]);
    if ((o->modes & (1u << RC_APP)) && mr[RC_APP].ok)
        app = &s[RC_APP];
    if (o->common.csv_dir != NULL
        && (csv = bench_csv_open(o->common.csv_dir, "rtt")) != NULL)
        fprintf(csv, "mode,measurement,value,unit\n");
    for (m = 0; m < RC_NALL; m++) {
        char c[NCOLS][BENCH_TABLE_CELL];
        const char *cells[NCOLS];
        rtt_mode_result *r = &mr[m];
        size_t k;

        if (!(o->modes & (1u << m)))
            continue;
        memset(c, 0, sizeof(c));
        snprintf(c[COL_MODE], BENCH_TABLE_CELL, "%s", rtt_modes[m].name);
        if (!r->ok) {
            snprintf(c[COL_N], BENCH_TABLE_CELL, "failed");
            snprintf(c[COL_GOAL], BENCH_TABLE_CELL, "%.90s", r->error);
        } else {
            double cpu_rt = (double)r->cpu_ns / r->n;
            double sl_rt = (double)r->sleeps / r->n;

            snprintf(c[COL_N], BENCH_TABLE_CELL, "%zu", r->n);
            snprintf(c[COL_P50], BENCH_TABLE_CELL, "%.1f", us(s[m].p50));
            snprintf(c[COL_P99], BENCH_TABLE_CELL, "%.1f", us(s[m].p99));
            snprintf(c[COL_MEAN], BENCH_TABLE_CELL, "%.1f", us(s[m].mean));
            snprintf(c[COL_CPU], BENCH_TABLE_CELL, "%.1f", us(cpu_rt));
            snprintf(c[COL_SLEEPS], BENCH_TABLE_CELL, "%.2f", sl_rt);
            if (r->syscalls != UINT64_MAX)
                snprintf(c[COL_SYSCALLS], BENCH_TABLE_CELL, "%.2f",
                         (double)r->syscalls / r->n);
            else
                snprintf(c[COL_SYSCALLS], BENCH_TABLE_CELL, "-");
            if (r->have_stats) {
                snprintf(c[COL_TICKS], BENCH_TABLE_CELL, "%.2f",
                         (double)r->ticks / r->n);
                snprintf(c[COL_WAKEUPS], BENCH_TABLE_CELL, "%.2f",
                         (double)r->wakeups / r->n);
            } else {
                snprintf(c[COL_TICKS], BENCH_TABLE_CELL, "-");
                snprintf(c[COL_WAKEUPS], BENCH_TABLE_CELL, "-");
            }
            if (app != NULL) {
                double lo = 1e9, hi = 0;
                unsigned k2, nr = r->rounds < mr[RC_APP].rounds
                                      ? r->rounds : mr[RC_APP].rounds;

                snprintf(c[COL_R50], BENCH_TABLE_CELL, "%.3f",
                         (double)s[m].p50 / app->p50);
                snprintf(c[COL_R99], BENCH_TABLE_CELL, "%.3f",
                         (double)s[m].p99 / app->p99);
                snprintf(c[COL_RMEAN], BENCH_TABLE_CELL, "%.3f",
                         s[m].mean / app->mean);
                for (k2 = 0; k2 < nr; k2++) {
                    double q = r->round_p50[k2] / mr[RC_APP].round_p50[k2];

                    lo = q < lo ? q : lo;
                    hi = q > hi ? q : hi;
                }
                snprintf(c[COL_SPREAD], BENCH_TABLE_CELL, "%.3f - %.3f", lo,
                         hi);
            } else {
                snprintf(c[COL_R50], BENCH_TABLE_CELL, "?");
                snprintf(c[COL_R99], BENCH_TABLE_CELL, "?");
                snprintf(c[COL_RMEAN], BENCH_TABLE_CELL, "?");
                snprintf(c[COL_SPREAD], BENCH_TABLE_CELL, "?");
            }
            if (m == RC_APP)
                snprintf(c[COL_GOAL], BENCH_TABLE_CELL, "(floor)");
            else if (m == RC_APP_POOL)
                snprintf(c[COL_GOAL], BENCH_TABLE_CELL, "(diagnostic)");
            else if (!rtt_modes[m].tickless)
                snprintf(c[COL_GOAL], BENCH_TABLE_CELL, "-");
            else if (app == NULL)
                snprintf(c[COL_GOAL], BENCH_TABLE_CELL, "p50 ?");
            else
                snprintf(c[COL_GOAL], BENCH_TABLE_CELL, "p50<=+5%% %s",
                         (double)s[m].p50 <= GOAL_P50_RATIO * app->p50
                             ? "ok" : "FAIL");
            if (csv != NULL) {
                const char *name = rtt_modes[m].name;

                fprintf(csv, "%s,samples,%zu,count\n", name, r->n);
                fprintf(csv, "%s,rtt_p50,%.6f,ms\n", name, s[m].p50 / 1e6);
                fprintf(csv, "%s,rtt_p99,%.6f,ms\n", name, s[m].p99 / 1e6);
                fprintf(csv, "%s,rtt_mean,%.6f,ms\n", name, s[m].mean / 1e6);
                fprintf(csv, "%s,cpu_per_rtt,%.6f,ms\n", name, cpu_rt / 1e6);
                fprintf(csv, "%s,sleeps_per_rtt,%.4f,count\n", name, sl_rt);
                if (r->syscalls != UINT64_MAX)
                    fprintf(csv, "%s,syscalls_per_rtt,%.4f,count\n", name,
                            (double)r->syscalls / r->n);
                if (r->have_stats) {
                    fprintf(csv, "%s,assist_ticks_per_rtt,%.4f,count\n",
                            name, (double)r->ticks / r->n);
                    fprintf(csv, "%s,assist_wakeups_per_rtt,%.4f,count\n",
                            name, (double)r->wakeups / r->n);
                }
                if (app != NULL) {
                    fprintf(csv, "%s,rtt_p50_ratio,%.4f,ratio\n", name,
                            (double)s[m].p50 / app->p50);
                    fprintf(csv, "%s,rtt_p99_ratio,%.4f,ratio\n", name,
                            (double)s[m].p99 / app->p99);
                    fprintf(csv, "%s,rtt_mean_ratio,%.4f,ratio\n", name,
                            s[m].mean / app->mean);
                }
            }
        }
        for (k = 0; k < NCOLS; k++)
            cells[k] = c[k];
        (void)bench_table_add(t, cells);
    }
    if (csv != NULL)
        fclose(csv);
    bench_table_print(t, stdout, o->common.markdown);
    bench_table_free(t);
    printf("\nrt: one round trip, from before the 64-byte write to the "
           "return of the read that\n"
           "  completes its echo. p50/app etc.: ratio to app-driven's "
           "figure over all samples;\n"
           "  by round: the lowest and highest ratio of the per-round "
           "p50s (same round, same server).\n"
           "CPU us/rt: the client process's CPU (all its threads) per "
           "round trip; sleeps/rt: its\n"
           "  voluntary context switches per round trip (one per thread "
           "that went to sleep).\n"
           "syscalls/rt: the client process's system calls (all its "
           "threads) per round trip;\n"
           "  '-' where the machine cannot count them (tracefs not "
           "mounted, see docs/benchmarks.md).\n"
           "ticks/rt, rearms/rt (tickless): the connection's ticks (the "
           "assist's, or a blocked\n"
           "  caller's own), and the times a call moved the assist's timer "
           "earlier (tickless_conn_stats), per round trip.\n"
           "app-pool: tickless with an application-driven pool that the "
           "calling thread runs itself\n"
           "  while its calls would block: tickless's bookkeeping without "
           "the hop between threads.\n"
           "goal: tickless p50 within %.0f%% of app-driven's.\n",
           (GOAL_P50_RATIO - 1) * 100);
}

static int run_all(const rtt_opts *o)
{
    rtt_mode_result mr[RC_NALL];
    rtt_child_result *cr = malloc(sizeof(*cr));
    unsigned per = (o->samples + o->rounds - 1) / o->rounds, r;
    bench_server srv;
    int m, rc = BENCH_EXIT_OK;

    memset(mr, 0, sizeof(mr));
    if (cr == NULL)
        return BENCH_EXIT_FAILED;
    for (m = 0; m < RC_NALL; m++) {
        mr[m].ok = 1;
        if ((mr[m].samples = calloc((size_t)per * o->rounds,
                                    sizeof(uint64_t)))
            == NULL) {
            rc = BENCH_EXIT_FAILED;
            goto out;
        }
    }
    /* The identity before any fork: server and clients share it. */
    if (ts_cert_get0() == NULL
        || bench_server_start(SERVER_IDLE_MS, &srv) != 0) {
        fprintf(stderr, "rtt: the echo server did not start\n");
        rc = BENCH_EXIT_FAILED;
        goto out;
    }
    for (r = 0; r < o->rounds; r++) {
        int k;

        for (k = 0; k < RC_NALL; k++) {
            m = (k + (int)r) % RC_NALL; /* rotated each round */
            if (!(o->modes & (1u << m)) || !mr[m].ok)
                continue;
            fprintf(stderr, "\rrtt: round %u/%u %-10s", r + 1, o->rounds,
                    rtt_modes[m].name);
            run_child(o, m, srv.port, per, &mr[m], cr);
            if (!mr[m].ok)
                fprintf(stderr, "\nrtt: %s failed: %s\n", rtt_modes[m].name,
                        mr[m].error);
        }
    }
    fprintf(stderr, "\rrtt: done%40s\n", "");
    bench_server_stop(&srv);
    print_results(o, mr);

out:
    for (m = 0; m < RC_NALL; m++)
        free(mr[m].samples);
    free(cr);
    return rc;
}

#endif /* BENCH_HAVE_QUIC */

static int rtt_main(int argc, char **argv)
{
    enum { OPT_SAMPLES = BENCH_OPT_OWN, OPT_WARMUP, OPT_ROUNDS, OPT_MODES };
    static const struct option longopts[] = {
        { "samples", required_argument, NULL, OPT_SAMPLES },
        { "warmup", required_argument, NULL, OPT_WARMUP },
        { "rounds", required_argument, NULL, OPT_ROUNDS },
        { "modes", required_argument, NULL, OPT_MODES },
        BENCH_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    rtt_opts o;
    int c, rc, set_samples = 0, set_warmup = 0, set_rounds = 0;

    memset(&o, 0, sizeof(o));
    o.modes = (1u << RC_NALL) - 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_SAMPLES:
            if (bench_parse_uint(optarg, 1, 1000000, &o.samples) != 0)
                goto bad;
            set_samples = 1;
            break;
        case OPT_WARMUP:
            if (bench_parse_uint(optarg, 0, 1000000, &o.warmup) != 0)
                goto bad;
            set_warmup = 1;
            break;
        case OPT_ROUNDS:
            if (bench_parse_uint(optarg, 1, 64, &o.rounds) != 0)
                goto bad;
            set_rounds = 1;
            break;
        case OPT_MODES:
            if (rtt_modes_parse(optarg, RC_NALL, &o.modes) != 0)
                goto bad;
            break;
        default:
            if (!bench_opts_common(c, &o.common, usage, &rc))
                return rc;
            break;
        }
    }
    if (optind != argc)
        goto bad;
    if (!set_samples)
        o.samples = o.common.quick ? QUICK_SAMPLES : DEFAULT_SAMPLES;
    if (!set_warmup)
        o.warmup = o.common.quick ? QUICK_WARMUP : DEFAULT_WARMUP;
    if (!set_rounds)
        o.rounds = o.common.quick ? QUICK_ROUNDS : DEFAULT_ROUNDS;
    if ((o.samples + o.rounds - 1) / o.rounds > MAX_PER_CHILD) {
        fprintf(stderr, "rtt: at most %u samples per round\n", MAX_PER_CHILD);
        goto bad;
    }

    if (bench_quic_skipped("rtt"))
        return BENCH_EXIT_OK;
#if BENCH_HAVE_QUIC
    printf("rtt: %u-byte request/response round trips over one QUIC "
           "connection; %u samples per mode in %u rounds, %u warm-up round "
           "trips per client process\n",
           MSG_LEN, (o.samples + o.rounds - 1) / o.rounds * o.rounds,
           o.rounds, o.warmup);
    bench_print_environment(stdout, "rtt: ");
    fflush(stdout);
    return run_all(&o);
#else
    return BENCH_EXIT_OK; /* not reached: no QUIC in this build */
#endif

bad:
    return bench_opts_bad("rtt", usage);
}

const bench_scenario bench_rtt = {
    "rtt",
    "64-byte request/response over one QUIC connection: p50/p99 per mode",
    rtt_main,
    usage,
};
