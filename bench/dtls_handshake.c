/*
 * dtls-handshake: how long DTLS 1.2 handshakes take through a lossy path,
 * per mode.
 *
 * A DTLS handshake survives loss only by its retransmission timer: a lost
 * flight is sent again when the timer fires (OpenSSL: after 1 s, doubling
 * up to 60 s), and only if somebody calls DTLSv1_handle_timeout() then.
 * Here the application is attentive (it does nothing but wait for the
 * handshake), so the question is whether each mode fires the timers on
 * time and what the handshakes cost in wall time; `busy` asks what happens
 * when the application is not attentive.
 *
 * For each mode a fresh path process (lossy_path.c: a DTLS ts_server behind
 * ts_relay with loss and delay) and a fresh client process are forked. The
 * client runs N handshakes one after the other, each on a new connection
 * (a new socket, so a new client to the relay and the server), and times
 * each from its first SSL call to its completion:
 *  - app-driven: a nonblocking socket; SSL_connect(), and while it wants to
 *    wait, one iteration of its event loop: poll() the socket until
 *    DTLSv1_get_timeout(), then DTLSv1_handle_timeout();
 *  - dedicated, pool-1, pool-2: tickless_conn_handshake() while the assist
 *    does the work.
 * Each connection is then closed with one close_notify (not timed). The
 * relay serves at most 64 clients, hence N <= 64.
 */
#include "lossy.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ts_net.h"

#define MAX_HANDSHAKES 64u /* ts_relay's client limit */
#define DEFAULT_HANDSHAKES 40u
#define QUICK_HANDSHAKES 12u
#define DEFAULT_LOSS_PCT 5u
#define DEFAULT_DELAY_MS 20u
#define HANDSHAKE_TIMEOUT_MS 60000
#define TICK_MAX_MS 1000
#define RELAY_SEED 42u

typedef struct hs_opts {
    unsigned modes;
    unsigned n;
    unsigned loss_pct, delay_ms;
    int fast_timer;
    bench_common_opts common;
} hs_opts;

typedef struct hs_result {
    int ok;
    char error[256];
    unsigned n;                       /* handshakes completed */
    uint64_t ns[MAX_HANDSHAKES];      /* each one's duration */
    uint64_t total_ns;                /* first start to last completion */
    uint64_t timer_fires;             /* DTLS timers that had expired */
    uint64_t forwarded, dropped;      /* the relay's datagrams */
    uint64_t server_handshakes;
} hs_result;

typedef struct hs_args {
    const hs_opts *o;
    int mode;
    lossy_path *path;
} hs_args;

static void usage(FILE *out)
{
    size_t i;

    fprintf(out,
            "usage: tickless-bench dtls-handshake [options]\n"
            "  N DTLS 1.2 handshakes one after the other through a relay with\n"
            "  loss and delay, per mode: each one's time, and the total.\n"
            "options:\n"
            "  --modes LIST       modes to run, or 'all' (default all but\n"
            "                     native, which is QUIC only):\n");
    for (i = 0; i < LOSSY_MODES; i++)
        if (!lossy_modes[i].quic_only)
            fprintf(out, "                       %-10s %s\n",
                    lossy_modes[i].name, lossy_modes[i].what);
    fprintf(out,
            "  --handshakes N     how many, at most %u (default %u)\n"
            "  --loss PCT         datagrams lost, each way, %% (default %u)\n"
            "  --delay-ms MS      one-way delay (default %u)\n"
            "  --fast-timer       retransmit after 50 ms, doubling to 800 ms\n"
            "                     (both sides), not OpenSSL's 1 s to 60 s\n"
            "  --quick            %u handshakes\n"
            "  --markdown         print the table as Markdown\n"
            "  --csv DIR          also write DIR/dtls-handshake.csv\n",
            MAX_HANDSHAKES, DEFAULT_HANDSHAKES, DEFAULT_LOSS_PCT,
            DEFAULT_DELAY_MS, QUICK_HANDSHAKES);
}

/* ---- the client process ----------------------------------------------- */

static int fail(hs_result *res, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(res->error, sizeof(res->error), fmt, ap);
    va_end(ap);
    bench_ssl_add_reason(res->error, sizeof(res->error));
    return -1;
}

/* app-driven: the application's own loop; the socket is nonblocking. */
static int app_handshake(hs_result *res, SSL *ssl, unsigned i)
{
    uint64_t give_up = bench_now_ns() + HANDSHAKE_TIMEOUT_MS * 1000000ull;
    int rc, ww = 0;

    if (ts_net_set_nonblock(SSL_get_fd(ssl), 1) != 0)
        return fail(res, "nonblocking socket");
    while ((rc = SSL_connect(ssl)) != 1) {
        if (!lossy_app_retry(ssl, rc, &ww))
            return fail(res, "handshake %u", i);
        if (bench_now_ns() > give_up)
            return fail(res, "handshake %u timed out", i);
        res->timer_fires += (uint64_t)lossy_app_tick(ssl, TS_DTLS, ww,
                                                     TICK_MAX_MS);
    }
    (void)SSL_shutdown(ssl); /* close_notify, once; not waited for */
    return 0;
}

static int tickless_handshake(hs_result *res, SSL *ssl, tickless_pool *pool,
                              unsigned i)
{
    tickless_stats st = TICKLESS_STATS_INIT;
    tickless_conn *c;
    int rc;

    if ((rc = tickless_conn_new(ssl, pool, &c)) != 0) {
        SSL_free(ssl);
        return fail(res, "tickless_conn_new %u: %s", i,
                    tickless_err_name(rc));
    }
    rc = tickless_conn_handshake(c, HANDSHAKE_TIMEOUT_MS);
    if (rc != 0) {
        tickless_error_info e = TICKLESS_ERROR_INFO_INIT;

        (void)tickless_conn_error(c, &e);
        fail(res, "handshake %u: %s%s%s", i, tickless_err_name(rc),
             e.message[0] ? ": " : "", e.message);
        tickless_conn_close(c);
        return -1;
    }
    if (tickless_conn_stats(c, &st) == 0)
        res->timer_fires += st.timer_ticks;
    (void)tickless_conn_shutdown(c, 0); /* close_notify, not waited for */
    tickless_conn_close(c);
    return 0;
}

static int client_main(void *arg, void *result, size_t len)
{
    const hs_args *a = arg;
    hs_result *res = result;
    tickless_pool *pool = NULL;
    SSL_CTX *ctx;
    lossy_status st;
    uint64_t t0;
    unsigned i;
    int rc = 0;

    memset(res, 0, len);
    if ((ctx = lossy_app_ctx(TS_DTLS, 0)) == NULL)
        return fail(res, "client SSL_CTX");
    if ((rc = lossy_app_pool(a->mode, &pool)) != 0) {
        SSL_CTX_free(ctx);
        return fail(res, "tickless_pool_new: %s", tickless_err_name(rc));
    }
    t0 = bench_now_ns();
    for (i = 0; i < a->o->n && rc == 0; i++) {
        SSL *ssl = ts_client_new(ctx, TS_DTLS, a->path->port);
        uint64_t s;

        if (ssl == NULL) {
            rc = fail(res, "creating connection %u", i);
            break;
        }
        if (a->o->fast_timer)
            ts_dtls_fast_timer(ssl);
        s = bench_now_ns();
        if (!lossy_modes[a->mode].tickless) {
            rc = app_handshake(res, ssl, i);
            SSL_free(ssl);
        } else {
            rc = tickless_handshake(res, ssl, pool, i);
        }
        if (rc == 0)
            res->ns[res->n++] = bench_now_ns() - s;
    }
    res->total_ns = bench_now_ns() - t0;
    if (pool != NULL)
        (void)tickless_pool_free(pool);
    SSL_CTX_free(ctx);
    if (lossy_path_status(a->path, &st) == 0) {
        res->forwarded = st.forwarded;
        res->dropped = st.dropped;
        res->server_handshakes = st.handshakes;
    }
    res->ok = rc == 0;
    return rc;
}

/* ---- the parent ------------------------------------------------------- */

static void run_one(const hs_opts *o, int mode, hs_result *res)
{
    lossy_path_opts po;
    lossy_path path;
    hs_args a;
    char why[160];

    memset(res, 0, sizeof(*res));
    memset(&po, 0, sizeof(po));
    po.proto = TS_DTLS;
    po.loss = o->loss_pct / 100.0;
    po.delay_ms = o->delay_ms;
    po.seed = RELAY_SEED;
    po.fast_dtls_timer = o->fast_timer;
    if (lossy_path_start(&po, &path) != 0) {
        snprintf(res->error, sizeof(res->error), "server did not start");
        return;
    }
    a.o = o;
    a.mode = mode;
    a.path = &path;
    if (bench_run_child(client_main, &a, res, sizeof(*res), why, sizeof(why))
            != 0
        && res->error[0] == '\0')
        snprintf(res->error, sizeof(res->error), "%s", why);
    lossy_path_stop(&path);
}

enum { C_N, C_MODE, C_TOTAL, C_MEAN, C_P50, C_P90, C_MAX, C_FIRES, C_VS_APP,
       C_RELAY, NCOLS };

static const char *const titles[NCOLS] = {
    "handshakes", "mode", "total s", "mean ms", "p50 ms", "p90 ms", "max ms",
    "timer fires", "vs app-driven", "relay dropped/forwarded"
};

static void print_table(const hs_opts *o, hs_result *res)
{
    bench_table *t = bench_table_new(NCOLS, titles);
    const hs_result *app = NULL;
    int m;

    if (t == NULL)
        return;
    if ((o->modes & (1u << LOSSY_APP)) && res[LOSSY_APP].ok)
        app = &res[LOSSY_APP];
    for (m = 0; m < LOSSY_MODES; m++) {
        char c[NCOLS][BENCH_TABLE_CELL];
        const char *cells[NCOLS];
        hs_result *r = &res[m];
        uint64_t sorted[MAX_HANDSHAKES], sum = 0;
        unsigned k;

        if (!(o->modes & (1u << m)) || lossy_modes[m].quic_only)
            continue;
        memset(c, 0, sizeof(c));
        snprintf(c[C_MODE], BENCH_TABLE_CELL, "%s", lossy_modes[m].name);
        if (!r->ok) {
            snprintf(c[C_N], BENCH_TABLE_CELL, "failed");
            snprintf(c[C_RELAY], BENCH_TABLE_CELL, "%.90s", r->error);
        } else {
            memcpy(sorted, r->ns, r->n * sizeof(sorted[0]));
            for (k = 0; k < r->n; k++)
                sum += sorted[k];
            snprintf(c[C_N], BENCH_TABLE_CELL, "%u", r->n);
            snprintf(c[C_TOTAL], BENCH_TABLE_CELL, "%.2f", r->total_ns / 1e9);
            snprintf(c[C_MEAN], BENCH_TABLE_CELL, "%.0f",
                     r->n ? sum / 1e6 / r->n : 0.0);
            snprintf(c[C_P50], BENCH_TABLE_CELL, "%.0f",
                     bench_percentile(sorted, r->n, 50) / 1e6);
            snprintf(c[C_P90], BENCH_TABLE_CELL, "%.0f",
                     bench_percentile(sorted, r->n, 90) / 1e6);
            snprintf(c[C_MAX], BENCH_TABLE_CELL, "%.0f",
                     bench_percentile(sorted, r->n, 100) / 1e6);
            snprintf(c[C_FIRES], BENCH_TABLE_CELL, "%" PRIu64, r->timer_fires);
            if (app != NULL && m != LOSSY_APP && app->total_ns > 0)
                snprintf(c[C_VS_APP], BENCH_TABLE_CELL, "%.2fx",
                         (double)r->total_ns / (double)app->total_ns);
            else
                snprintf(c[C_VS_APP], BENCH_TABLE_CELL, "-");
            snprintf(c[C_RELAY], BENCH_TABLE_CELL, "%" PRIu64 " / %" PRIu64,
                     r->dropped, r->forwarded);
        }
        for (k = 0; k < NCOLS; k++)
            cells[k] = c[k];
        (void)bench_table_add(t, cells);
    }
    bench_table_print(t, stdout, o->common.markdown);
    bench_table_free(t);
    printf("\nEach handshake: from its first SSL call to its completion on "
           "the client, one after\n"
           "the other on new connections. total: first start to last "
           "completion (connection\n"
           "setup included). timer fires: app-driven, DTLSv1_handle_timeout() "
           "calls that found\n"
           "the timer expired; tickless, the connections' deadline ticks "
           "(tickless_conn_stats).\n"
           "vs app-driven: total, this mode's / app-driven's. The relay's "
           "seed is the same for\n"
           "every mode, but its decisions follow the order datagrams arrive "
           "in, so the losses\n"
           "can differ. No goal is stated for this scenario.\n");
}

static int write_csv(const hs_opts *o, const hs_result *res)
{
    FILE *f = bench_csv_open(o->common.csv_dir, "dtls-handshake");
    int m;

    if (f == NULL)
        return -1;
    /* index: the handshake's number for per-handshake rows, else empty. */
    fprintf(f, "mode,measurement,index,value,unit\n");
    for (m = 0; m < LOSSY_MODES; m++) {
        const hs_result *r = &res[m];
        const char *name = lossy_modes[m].name;
        unsigned k;

        if (!(o->modes & (1u << m)) || lossy_modes[m].quic_only)
            continue;
        fprintf(f, "%s,ok,,%d,1\n", name, r->ok);
        if (!r->ok)
            continue;
        fprintf(f, "%s,handshakes,,%u,1\n", name, r->n);
        fprintf(f, "%s,total,,%.3f,ms\n", name, r->total_ns / 1e6);
        fprintf(f, "%s,timer_fires,,%" PRIu64 ",1\n", name, r->timer_fires);
        fprintf(f, "%s,relay_forwarded,,%" PRIu64 ",datagrams\n", name,
                r->forwarded);
        fprintf(f, "%s,relay_dropped,,%" PRIu64 ",datagrams\n", name,
                r->dropped);
        for (k = 0; k < r->n; k++)
            fprintf(f, "%s,handshake,%u,%.3f,ms\n", name, k, r->ns[k] / 1e6);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "dtls-handshake: writing %s/dtls-handshake.csv: %s\n",
                o->common.csv_dir, strerror(errno));
        return -1;
    }
    return 0;
}

static int run_all(const hs_opts *o)
{
    static hs_result res[LOSSY_MODES];
    int m;

    if (ts_cert_get0() == NULL) {
        fprintf(stderr, "dtls-handshake: could not generate a certificate\n");
        return BENCH_EXIT_FAILED;
    }
    printf("dtls-handshake: %u DTLS 1.2 handshakes one after the other; "
           "relay: %u%% loss each way, %u ms delay each way; %s timer\n",
           o->n, o->loss_pct, o->delay_ms,
           o->fast_timer ? "fast (50 ms to 800 ms)" : "OpenSSL's default");
    bench_print_environment(stdout, "dtls-handshake: ");
    fflush(stdout);
    for (m = 0; m < LOSSY_MODES; m++) {
        hs_result *r = &res[m];

        if (!(o->modes & (1u << m)) || lossy_modes[m].quic_only)
            continue;
        fprintf(stderr, "dtls-handshake: %-10s ", lossy_modes[m].name);
        run_one(o, m, r);
        if (r->ok)
            fprintf(stderr, "%u handshakes in %.2f s, %" PRIu64
                    " timer fires\n",
                    r->n, r->total_ns / 1e9, r->timer_fires);
        else
            fprintf(stderr, "failed: %s\n", r->error);
    }
    print_table(o, res);
    if (o->common.csv_dir != NULL && write_csv(o, res) != 0)
        return BENCH_EXIT_FAILED;
    return BENCH_EXIT_OK;
}

static int hs_main(int argc, char **argv)
{
    enum { OPT_MODES = BENCH_OPT_OWN, OPT_N, OPT_LOSS, OPT_DELAY,
           OPT_FAST };
    static const struct option longopts[] = {
        { "modes", required_argument, NULL, OPT_MODES },
        { "handshakes", required_argument, NULL, OPT_N },
        { "loss", required_argument, NULL, OPT_LOSS },
        { "delay-ms", required_argument, NULL, OPT_DELAY },
        { "fast-timer", no_argument, NULL, OPT_FAST },
        BENCH_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    hs_opts o;
    int c, rc, n_set = 0;

    memset(&o, 0, sizeof(o));
    o.modes = ((1u << LOSSY_MODES) - 1) & ~(1u << LOSSY_NATIVE);
    o.n = DEFAULT_HANDSHAKES;
    o.loss_pct = DEFAULT_LOSS_PCT;
    o.delay_ms = DEFAULT_DELAY_MS;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_MODES:
            if (lossy_parse_modes(optarg, &o.modes) != 0)
                goto bad;
            o.modes &= ~(1u << LOSSY_NATIVE); /* QUIC only */
            if (o.modes == 0)
                goto bad;
            break;
        case OPT_N:
            if (bench_parse_uint(optarg, 1, MAX_HANDSHAKES, &o.n) != 0)
                goto bad;
            n_set = 1;
            break;
        case OPT_LOSS:
            if (bench_parse_uint(optarg, 0, 100, &o.loss_pct) != 0)
                goto bad;
            break;
        case OPT_DELAY:
            if (bench_parse_uint(optarg, 0, 10000, &o.delay_ms) != 0)
                goto bad;
            break;
        case OPT_FAST:
            o.fast_timer = 1;
            break;
        default:
            if (!bench_opts_common(c, &o.common, usage, &rc))
                return rc;
            break;
        }
    }
    if (optind != argc)
        goto bad;
    if (o.common.quick && !n_set)
        o.n = QUICK_HANDSHAKES;
    return run_all(&o);

bad:
    return bench_opts_bad("dtls-handshake", usage);
}

const bench_scenario bench_dtls_handshake = {
    "dtls-handshake",
    "DTLS handshakes through loss and delay: time per handshake per mode",
    hs_main,
    usage,
};
