/*
 * server-scale: the handshake rate of a tickless_listen() server as the
 * connections it holds grow, with 1 listener shard against several.
 *
 * Why (issue 19, part 3): an OpenSSL listener ticks every connection it
 * holds on every wake-up, so its handshake rate falls as it holds more, and
 * it runs on one core. tickless_listen() splits the port over shards (an
 * OpenSSL listener each, on a socket and a pool thread of its own): each
 * ticks only its share, and the shards use every core. The goals: with 2
 * shards on this 2-core machine, >= 1.8x the 1-shard rate at N >= 5,000;
 * and the rate at N = 10,000 within 2x of the rate at N = 100.
 *
 * For each N and each shard count S, a fresh server process
 * (server_scale_listener.c: a pool of 2 threads, S shards, workers that
 * accept and hold everything) and a fresh client process
 * (server_scale_client.c: holds N connections, then times K new
 * handshakes) are forked; the server is stopped and reports what it
 * accepted (and, for a sample, from which shard). Fresh processes keep one
 * run's connections out of the next. The shard counts alternate their
 * order from one N to the next,
 * so that a machine that drifts (2 shared vCPUs) does not favour one.
 */
#include "server_scale.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tickless/tickless.h>

#if BENCH_HAVE_QUIC
#include "ts_certs.h"
#endif

#define MAX_CONNS 15000u /* client sockets under this machine's limit */
#define DEFAULT_COUNTS "100,1000,5000,10000"
#define QUICK_COUNTS "100,1000"
#define DEFAULT_SHARDS "1,2"
#define DEFAULT_BURST 200u
#define DEFAULT_WINDOW 16u
#define SERVER_START_MS 10000
#define SERVER_STOP_MS 120000 /* closing 10,000 held connections */

/* The goals (issue 19): shards over 1 shard at N >= GOAL_SPEEDUP_N; the
 * rate at the largest N over the rate at the smallest. */
#define GOAL_SPEEDUP 1.8
#define GOAL_SPEEDUP_N 5000u
#define GOAL_FLATNESS 0.5

/* One (N, shards) run. */
typedef struct run_row {
    unsigned n, shards;
    int ok;        /* both processes reported */
    char error[256];
    server_scale_client_result client;
    server_scale_server_result server;
} run_row;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: tickless-bench server-scale [options]\n"
            "  The handshake rate of a QUIC server made with tickless_listen()\n"
            "  (a pool of 2 threads) while it holds N idle connections, with\n"
            "  1 listener shard against several. One OpenSSL listener ticks\n"
            "  every connection it holds on each wake-up and runs on one core:\n"
            "  its rate falls as N grows. Shards split the connections and the\n"
            "  cores. For each N: a server process, and a client process that\n"
            "  opens N connections, then times K new handshakes (rate, and\n"
            "  each one's time from connect to done). The shard counts take\n"
            "  turns going first, so that drift favours none.\n"
            "options:\n"
            "  --counts LIST   connections held (default %s)\n"
            "  --shards LIST   listener shards to compare (default %s)\n"
            "  --burst K       new handshakes timed per run (default %u)\n"
            "  --window W      handshakes in flight (default %u)\n"
            "  --quick         N = %s (a smoke run)\n"
            "  --csv DIR       also write DIR/server-scale.csv\n"
            "  --markdown      print the table as Markdown\n",
            DEFAULT_COUNTS, DEFAULT_SHARDS, DEFAULT_BURST, DEFAULT_WINDOW,
            QUICK_COUNTS);
}

#if BENCH_HAVE_QUIC

/* ---- running ------------------------------------------------------------ */

static void run_one(const server_scale_opts *o, run_row *row)
{
    server_scale_client_args a = { o, row->n, 0 };
    bench_peer server;
    uint32_t opened;
    char why[160];

    if (bench_peer_start(server_scale_listener_main, &row->shards, &a.port,
                         sizeof(a.port), SERVER_START_MS, &server)
            != 0
        || a.port == 0) {
        (void)bench_peer_finish(&server, NULL, 0, 0);
        snprintf(row->error, sizeof(row->error), "server did not start");
        return;
    }
    if (bench_run_child(server_scale_client_main, &a, &row->client,
                        sizeof(row->client), why, sizeof(why))
        != 0)
        snprintf(row->client.error, sizeof(row->client.error), "%s", why);
    /* The server's count to wait for: every connection the client made. */
    opened = row->client.ok ? row->n + row->client.burst : 0;
    if (write(server.fd, &opened, sizeof(opened)) != (ssize_t)sizeof(opened))
        opened = 0; /* the server is gone: bench_peer_finish() says so */
    if (bench_peer_finish(&server, &row->server, sizeof(row->server),
                          SERVER_STOP_MS)
        != 0)
        snprintf(row->server.error, sizeof(row->server.error),
                 "server sent no result");
    if (!row->client.ok || !row->server.ok)
        snprintf(row->error, sizeof(row->error), "%.180s%s%.60s",
                 row->client.error,
                 row->client.error[0] && row->server.error[0] ? "; " : "",
                 row->server.error);
    row->ok = row->client.ok && row->server.ok;
}

static double rate(const run_row *r)
{
    return r->ok && r->client.burst_ns > 0
               ? r->client.burst / (r->client.burst_ns / 1e9)
               : 0.0;
}

/* The row of |n| held and |shards|, if it ran and succeeded; or NULL. */
static const run_row *find(const run_row *rows, size_t nrows, unsigned n,
                           unsigned shards)
{
    size_t i;

    for (i = 0; i < nrows; i++)
        if (rows[i].n == n && rows[i].shards == shards && rows[i].ok)
            return &rows[i];
    return NULL;
}

/* |r|'s rate over the 1-shard rate at the same N; 0 if there is none. */
static double over_one_shard(const run_row *rows, size_t nrows,
                             const run_row *r)
{
    const run_row *one = find(rows, nrows, r->n, 1);

    return one != NULL && rate(one) > 0 ? rate(r) / rate(one) : 0.0;
}

/* ---- reporting ---------------------------------------------------------- */

enum { COL_N, COL_SHARDS, COL_RATE, COL_LATENCY, COL_OVER_ONE, COL_SPREAD,
       COL_HELD_S, COL_CPU, NCOLS };

static const char *const col_titles[NCOLS] = {
    "N held", "shards", "hs/s", "latency p50/p99 ms", "vs 1 shard",
    "sample per shard", "held in s", "client CPU"
};

/* "5103 / 5097": how the server's accepts split over its listeners. */
static void fmt_spread(char *cell, const server_scale_server_result *s)
{
    size_t used = 0;
    unsigned i;

    cell[0] = '\0';
    for (i = 0; i < s->listeners && used < BENCH_TABLE_CELL; i++)
        used += (size_t)snprintf(cell + used, BENCH_TABLE_CELL - used,
                                 "%s%u", i ? " / " : "", s->per_listener[i]);
}

static void row_cells(char c[NCOLS][BENCH_TABLE_CELL], const run_row *rows,
                      size_t nrows, const run_row *r)
{
    const server_scale_client_result *cl = &r->client;
    double x = over_one_shard(rows, nrows, r);

    memset(c, 0, NCOLS * sizeof(c[0]));
    snprintf(c[COL_N], BENCH_TABLE_CELL, "%u", r->n);
    snprintf(c[COL_SHARDS], BENCH_TABLE_CELL, "%u", r->shards);
    if (!r->ok) {
        snprintf(c[COL_RATE], BENCH_TABLE_CELL, "failed");
        snprintf(c[COL_LATENCY], BENCH_TABLE_CELL, "%.90s", r->error);
        return;
    }
    snprintf(c[COL_RATE], BENCH_TABLE_CELL, "%.0f", rate(r));
    snprintf(c[COL_LATENCY], BENCH_TABLE_CELL, "%.1f / %.1f",
             cl->lat_p50_ns / 1e6, cl->lat_p99_ns / 1e6);
    if (x > 0)
        snprintf(c[COL_OVER_ONE], BENCH_TABLE_CELL, "%.2fx", x);
    else
        snprintf(c[COL_OVER_ONE], BENCH_TABLE_CELL, "-");
    fmt_spread(c[COL_SPREAD], &r->server);
    snprintf(c[COL_HELD_S], BENCH_TABLE_CELL, "%.1f", cl->held_ns / 1e9);
    snprintf(c[COL_CPU], BENCH_TABLE_CELL, "%.0f%%", cl->cpu_pct);
}

/* The goals' verdicts, and what went wrong beside the numbers. */
static void print_notes(const server_scale_opts *o, const run_row *rows,
                        size_t nrows)
{
    unsigned lo = o->counts[0], hi = o->counts[0];
    size_t i;

    for (i = 0; i < o->ncounts; i++) {
        lo = o->counts[i] < lo ? o->counts[i] : lo;
        hi = o->counts[i] > hi ? o->counts[i] : hi;
    }
    for (i = 0; i < o->nshards; i++) {
        const run_row *a = find(rows, nrows, lo, o->shards[i]);
        const run_row *b = find(rows, nrows, hi, o->shards[i]);

        if (a == NULL || b == NULL || lo == hi || rate(a) <= 0)
            continue;
        printf("shards=%u: the rate at N=%u is %.2f of the rate at N=%u "
               "(goal >= %.1f: %s)\n",
               o->shards[i], hi,
               rate(b) / rate(a), lo, GOAL_FLATNESS,
               rate(b) / rate(a) >= GOAL_FLATNESS ? "ok" : "FAIL");
    }
    for (i = 0; i < nrows; i++) {
        const run_row *r = &rows[i];
        double x = over_one_shard(rows, nrows, r);

        if (r->ok && r->shards > 1 && r->n >= GOAL_SPEEDUP_N && x > 0)
            printf("N=%u: shards=%u %.2fx shards=1 (goal >= %.1fx: %s)\n",
                   r->n, r->shards, x, GOAL_SPEEDUP,
                   x >= GOAL_SPEEDUP ? "ok" : "FAIL");
        if (r->ok && r->client.held_closed > 0)
            printf("! N=%u, shards=%u: %u held connections had closed by "
                   "the end of the burst.\n",
                   r->n, r->shards, r->client.held_closed);
        if (r->ok && r->server.accepted != r->n + r->client.burst)
            printf("! N=%u, shards=%u: the server accepted %u connections, "
                   "not %u.\n",
                   r->n, r->shards, r->server.accepted,
                   r->n + r->client.burst);
        if (r->ok && r->server.late > 0)
            printf("N=%u, shards=%u: %u connections were accepted after "
                   "the client had finished, the last %.0f ms later.\n",
                   r->n, r->shards, r->server.late, r->server.late_ns / 1e6);
        if (r->ok && r->server.listeners != r->shards)
            printf("! N=%u, shards=%u: connections came from %u "
                   "listeners.\n",
                   r->n, r->shards, r->server.listeners);
    }
    printf("hs/s: %u new handshakes, %u in flight, in 5 parts %s apart "
           "(the held\n  connections' keep-alives come in waves every 15 s), "
           "/ the parts' time from\n  first start to last done.\n"
           "latency: one handshake, from the client's socket to "
           "handshake done.\n"
           "held in s: the time to open the N held connections. client "
           "CPU: the client process\n"
           "  over the burst, %% of one core (taken from the server's "
           "2 cores).\n",
           o->burst, o->window, o->common.quick ? "0 s (--quick)" : "3 s");
}

static void print_results(const server_scale_opts *o, const run_row *rows,
                          size_t nrows)
{
    bench_table *t = bench_table_new(NCOLS, col_titles);
    char c[NCOLS][BENCH_TABLE_CELL];
    size_t i;

    if (t == NULL)
        return;
    for (i = 0; i < nrows; i++) {
        row_cells(c, rows, nrows, &rows[i]);
        (void)bench_table_add_cells(t, c);
    }
    bench_table_print(t, stdout, o->common.markdown);
    bench_table_free(t);
    printf("\n");
    print_notes(o, rows, nrows);
}

/* --csv: one line per (N, shards), plain numbers; empty where none. */
static void write_csv(const server_scale_opts *o, const run_row *rows,
                      size_t nrows)
{
    FILE *f = bench_csv_open(o->common.csv_dir, "server-scale");
    size_t i;

    if (f == NULL)
        return;
    fprintf(f, "n_held,shards,ok,handshakes_per_s,latency_p50_ns,"
               "latency_p99_ns,over_one_shard,held_setup_ns,client_cpu_pct,"
               "held_closed,accepted,listeners\n");
    for (i = 0; i < nrows; i++) {
        const run_row *r = &rows[i];
        double x = over_one_shard(rows, nrows, r);

        fprintf(f, "%u,%u,%d,", r->n, r->shards, r->ok);
        if (!r->ok) {
            fprintf(f, ",,,,,,,,\n"); /* 9 empty fields */
            continue;
        }
        fprintf(f, "%.1f,%" PRIu64 ",%" PRIu64 ",", rate(r),
                r->client.lat_p50_ns, r->client.lat_p99_ns);
        if (x > 0)
            fprintf(f, "%.3f,", x);
        else
            fprintf(f, ",");
        fprintf(f, "%" PRIu64 ",%.1f,%u,%u,%u\n", r->client.held_ns,
                r->client.cpu_pct, r->client.held_closed, r->server.accepted,
                r->server.listeners);
    }
    fclose(f);
}

static int run_all(const server_scale_opts *o)
{
    size_t nrows = o->ncounts * o->nshards, i, k;
    run_row *rows = calloc(nrows, sizeof(*rows));

    if (rows == NULL)
        return BENCH_EXIT_FAILED;
    printf("server-scale: handshakes/s of a tickless_listen() server "
           "holding N connections, per shard count; burst %u, window %u, "
           "descriptor limit %" PRIu64 "\n",
           o->burst, o->window, bench_raise_nofile());
    bench_print_environment(stdout, "server-scale: ");
    fflush(stdout);
    /* One identity, generated before forking, shared by every process. */
    if (ts_cert_get0() == NULL) {
        fprintf(stderr, "server-scale: could not generate a certificate\n");
        free(rows);
        return BENCH_EXIT_FAILED;
    }
    for (i = 0; i < o->ncounts; i++)
        for (k = 0; k < o->nshards; k++) {
            /* Odd counts take the shard counts in reverse. */
            size_t s = i % 2 ? o->nshards - 1 - k : k;
            run_row *r = &rows[i * o->nshards + s];

            r->n = o->counts[i];
            r->shards = o->shards[s];
            fprintf(stderr, "server-scale: N=%-6u shards=%u ", r->n,
                    r->shards);
            run_one(o, r);
            if (r->ok)
                fprintf(stderr, "%.0f hs/s (held in %.1f s)\n", rate(r),
                        r->client.held_ns / 1e9);
            else
                fprintf(stderr, "failed: %s\n", r->error);
        }
    print_results(o, rows, nrows);
    if (o->common.csv_dir != NULL)
        write_csv(o, rows, nrows);
    free(rows);
    return BENCH_EXIT_OK;
}

#else /* !BENCH_HAVE_QUIC: bench_quic_skipped() said why */

static int run_all(const server_scale_opts *o)
{
    (void)o;
    return BENCH_EXIT_OK;
}

#endif /* BENCH_HAVE_QUIC */

/* ---- options ------------------------------------------------------------ */

enum { OPT_COUNTS = BENCH_OPT_OWN, OPT_SHARDS, OPT_BURST, OPT_WINDOW };

static const struct option longopts[] = {
    { "counts", required_argument, NULL, OPT_COUNTS },
    { "shards", required_argument, NULL, OPT_SHARDS },
    { "burst", required_argument, NULL, OPT_BURST },
    { "window", required_argument, NULL, OPT_WINDOW },
    BENCH_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
};

/* A list of N or of shard counts into |out| (*n values); 0 or -1. */
static int parse_list(const char *s, unsigned *out, size_t max,
                      unsigned limit, size_t *n)
{
    int got = bench_parse_counts(s, out, max, limit);

    if (got < 0)
        return -1;
    *n = (size_t)got;
    return 0;
}

/* One option |c| into |o|: 0, or -1 if its value is bad. */
static int take_option(int c, server_scale_opts *o)
{
    switch (c) {
    case BENCH_OPT_QUICK: /* at once: a later --counts still wins */
        o->common.quick = 1;
        return parse_list(QUICK_COUNTS, o->counts, SERVER_SCALE_MAX_COUNTS,
                          MAX_CONNS, &o->ncounts);
    case OPT_COUNTS:
        return parse_list(optarg, o->counts, SERVER_SCALE_MAX_COUNTS,
                          MAX_CONNS, &o->ncounts);
    case OPT_SHARDS:
        return parse_list(optarg, o->shards, SERVER_SCALE_MAX_SHARDS,
                          SERVER_SCALE_MAX_SHARDS, &o->nshards);
    case OPT_BURST:
        return bench_parse_uint(optarg, 1, 100000, &o->burst);
    default: /* OPT_WINDOW */
        return bench_parse_uint(optarg, 1, SERVER_SCALE_MAX_WINDOW,
                                &o->window);
    }
}

static int server_scale_main(int argc, char **argv)
{
    server_scale_opts o = { .burst = DEFAULT_BURST, .window = DEFAULT_WINDOW };
    int c, rc;

    (void)parse_list(DEFAULT_COUNTS, o.counts, SERVER_SCALE_MAX_COUNTS,
                     MAX_CONNS, &o.ncounts);
    (void)parse_list(DEFAULT_SHARDS, o.shards, SERVER_SCALE_MAX_SHARDS,
                     SERVER_SCALE_MAX_SHARDS, &o.nshards);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c < BENCH_OPT_OWN && c != BENCH_OPT_QUICK) {
            if (!bench_opts_common(c, &o.common, usage, &rc))
                return rc;
        } else if (take_option(c, &o) != 0) {
            return bench_opts_bad("server-scale", usage);
        }
    }
    if (optind != argc)
        return bench_opts_bad("server-scale", usage);
    return bench_quic_skipped("server-scale") ? BENCH_EXIT_OK : run_all(&o);
}

const bench_scenario bench_server_scale = {
    "server-scale",
    "a QUIC server holding N connections: handshakes/s, 1 shard vs several",
    server_scale_main,
    usage,
};
