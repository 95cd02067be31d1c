/*
 * busy: what happens to a connection while its application computes.
 *
 * An application writes a payload (256 KiB) through a relay with loss (5%)
 * and delay (20 ms each way), then computes for 3 s without calling into
 * the connection. Who keeps the connection going meanwhile?
 *
 * QUIC (busy_quic.c): how many bytes the server had when the computation
 * ended, and when it had them all. With tickless the assist should deliver
 * everything during the computation; an application that ticks OpenSSL
 * itself delivers only what its last ticks sent; OpenSSL's own thread
 * assist ticks at deadlines only.
 *
 * DTLS (busy_dtls.c): DTLS never retransmits application data, so the
 * question there is the handshake: the application starts the connection
 * and computes; does the handshake complete meanwhile, under loss, so that
 * the records leave as soon as the application has them?
 *
 * For each (protocol, mode) a fresh path process (lossy_path.c: ts_server
 * as a sink behind ts_relay) and a fresh client process are forked; the
 * client measures with the server's counters and timestamps (one
 * CLOCK_MONOTONIC for all) and sends its figures back through a pipe. This
 * file parses the options, runs everything and prints the tables and CSV.
 */
#include "busy.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PAYLOAD (256u << 10)
#define DEFAULT_BUSY_MS 3000u
#define DEFAULT_LOSS_PCT 5u
#define DEFAULT_DELAY_MS 20u
#define DEFAULT_SAMPLE_MS 50u
#define DEFAULT_GIVE_UP_MS 30000u
#define DEFAULT_DTLS_MSG 1024u
#define RELAY_SEED 42u

/* --quick: the same question, smaller and shorter. */
#define QUICK_PAYLOAD (64u << 10)
#define QUICK_BUSY_MS 1500u
#define QUICK_GIVE_UP_MS 10000u

static void usage(FILE *out)
{
    size_t i;

    fprintf(out,
            "usage: tickless-bench busy [options]\n"
            "  The application writes a payload through a relay with loss\n"
            "  and delay, then computes without calling into the connection.\n"
            "  QUIC: bytes the server had when the computation ended, and the\n"
            "  time until it had them all. DTLS: the application starts the\n"
            "  handshake and computes; did the handshake complete meanwhile,\n"
            "  and how soon do its records leave afterwards?\n"
            "options:\n"
            "  --modes LIST       modes to run, or 'all' (default all):\n");
    for (i = 0; i < LOSSY_MODES; i++)
        fprintf(out, "                       %-10s %s\n", lossy_modes[i].name,
                lossy_modes[i].what);
    fprintf(out,
            "  --proto LIST       quic, dtls or quic,dtls (default both)\n"
            "  --payload BYTES    what the application writes (default %u)\n"
            "  --busy-ms MS       how long it computes (default %u)\n"
            "  --compute KIND     spin (default: a computation) or sleep\n"
            "  --loss PCT         datagrams lost, each way, %% (default %u)\n"
            "  --delay-ms MS      one-way delay (default %u)\n"
            "  --dtls-msg BYTES   DTLS bytes per write/record (default %u)\n"
            "  --sample-ms MS     step of the time series (default %u; it\n"
            "                     holds %u samples at most)\n"
            "  --give-up-ms MS    after the computation (default %u)\n"
            "  --quick            %u KiB, %u ms of computing, give up after "
            "%u ms\n"
            "  --markdown         print the tables as Markdown\n"
            "  --csv DIR          also write DIR/busy.csv, with the time\n"
            "                     series of the bytes received per mode\n",
            DEFAULT_PAYLOAD, DEFAULT_BUSY_MS, DEFAULT_LOSS_PCT,
            DEFAULT_DELAY_MS, DEFAULT_DTLS_MSG, DEFAULT_SAMPLE_MS,
            LOSSY_MAX_SAMPLES, DEFAULT_GIVE_UP_MS, QUICK_PAYLOAD >> 10,
            QUICK_BUSY_MS,
            QUICK_GIVE_UP_MS);
}

/* ---- shared by the client halves ---------------------------------------- */

int busy_fail(busy_result *res, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(res->error, sizeof(res->error), fmt, ap);
    va_end(ap);
    bench_ssl_add_reason(res->error, sizeof(res->error));
    return -1;
}

int busy_fail_tickless(busy_result *res, tickless_conn *c, const char *what,
                       int rc)
{
    tickless_error_info e = TICKLESS_ERROR_INFO_INIT;

    if (c != NULL)
        (void)tickless_conn_error(c, &e);
    return busy_fail(res, "%s: %s%s%s", what, tickless_err_name(rc),
                     e.message[0] ? ": " : "", e.message);
}

void busy_ticks(tickless_conn *c, uint64_t *ticks, uint64_t *timer_ticks)
{
    tickless_stats st = TICKLESS_STATS_INIT;

    *ticks = *timer_ticks = 0;
    if (c != NULL && tickless_conn_stats(c, &st) == 0) {
        *ticks = st.ticks;
        *timer_ticks = st.timer_ticks;
    }
}

static uint64_t since(uint64_t t, uint64_t t0)
{
    return t > t0 ? t - t0 : 0;
}

int busy_collect(busy_result *res, lossy_path *path, uint64_t t0)
{
    lossy_status st;

    if (lossy_path_status(path, &st) != 0
        || lossy_path_series(path, res->samples, LOSSY_MAX_SAMPLES,
                             &res->nsamples)
               != 0)
        return busy_fail(res, "the server process is gone");
    res->all_ns = st.bytes_reached_ns ? since(st.bytes_reached_ns, t0) : 0;
    res->server_hs_ns = st.hs_reached_ns ? since(st.hs_reached_ns, t0) : 0;
    res->last_ns = st.last_growth_ns ? since(st.last_growth_ns, t0) : 0;
    res->received = st.bytes;
    res->pattern_errors = st.pattern_errors;
    res->forwarded = st.forwarded;
    res->dropped = st.dropped;
    return 0;
}

/* ---- the parent: runs every (protocol, mode) ---------------------------- */

typedef struct busy_runs {
    busy_result quic[LOSSY_MODES], dtls[LOSSY_MODES];
} busy_runs;

static int mode_applies(int mode, enum ts_proto proto)
{
    return proto == TS_QUIC || !lossy_modes[mode].quic_only;
}

static void run_one(const busy_opts *o, enum ts_proto proto, int mode,
                    busy_result *res)
{
    lossy_path_opts po;
    lossy_path path;
    busy_client_args a;
    char why[160];

    memset(res, 0, sizeof(*res));
    memset(&po, 0, sizeof(po));
    po.proto = proto;
    po.loss = o->loss_pct / 100.0;
    po.delay_ms = o->delay_ms;
    po.seed = RELAY_SEED;
    if (lossy_path_start(&po, &path) != 0) {
        snprintf(res->error, sizeof(res->error), "server did not start");
        return;
    }
    a.o = o;
    a.mode = mode;
    a.path = &path;
    if (bench_run_child(proto == TS_QUIC ? busy_quic_main : busy_dtls_main,
                        &a, res, sizeof(*res), why, sizeof(why))
        != 0) {
        /* A client that failed still sends its result, error included. */
        if (res->error[0] == '\0')
            snprintf(res->error, sizeof(res->error), "%s", why);
        res->ok = 0;
    }
    res->sample_ms = o->sample_ms;
    lossy_path_stop(&path);
}

static double ms(uint64_t ns)
{
    return ns / 1e6;
}

static void progress(enum ts_proto proto, int mode, const busy_result *r)
{
    fprintf(stderr, "busy: %-4s %-10s ", ts_proto_name(proto),
            lossy_modes[mode].name);
    if (!r->ok)
        fprintf(stderr, "failed: %s\n", r->error);
    else if (proto == TS_QUIC)
        fprintf(stderr,
                "%" PRIu64 " B at the end of the busy period, all %s%.0f ms "
                "after the write began\n",
                r->at_busy_end, r->all_ns ? "at " : "not by ",
                ms(r->all_ns ? r->all_ns : r->last_ns));
    else
        fprintf(stderr,
                "server handshake %s%.0f ms, %" PRIu64 " of %" PRIu64
                " B arrived\n",
                r->server_hs_ns ? "at " : "never, ", ms(r->server_hs_ns),
                r->received, r->sent);
}

/* ---- the tables --------------------------------------------------------- */

static void cell(char *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c, BENCH_TABLE_CELL, fmt, ap);
    va_end(ap);
}

static void fmt_share(char *c, uint64_t bytes, uint64_t of)
{
    char b[32];

    bench_fmt_bytes(b, sizeof(b), (double)bytes);
    cell(c, "%s (%.0f%%)", b, of ? 100.0 * (double)bytes / (double)of : 0.0);
}

static void fmt_ratio(char *c, uint64_t x, uint64_t base, int have_base)
{
    if (!have_base || base == 0 || x == 0)
        cell(c, "-");
    else
        cell(c, "%.2fx", (double)x / (double)base);
}

enum { Q_PROTO, Q_MODE, Q_HS, Q_WRITE, Q_BUSY_END, Q_ALL, Q_VS_APP,
       Q_VS_NATIVE, Q_GOAL, Q_NCOLS };

static const char *const q_titles[Q_NCOLS] = {
    "proto", "mode", "handshake ms", "write returned ms", "at busy end",
    "all delivered ms", "vs app-driven", "vs native", "goal"
};

static void quic_row(bench_table *t, const busy_opts *o, int mode,
                     const busy_result *r, const busy_result *app,
                     const busy_result *native)
{
    char c[Q_NCOLS][BENCH_TABLE_CELL];
    const char *cells[Q_NCOLS];
    size_t k;

    memset(c, 0, sizeof(c));
    cell(c[Q_PROTO], "QUIC");
    cell(c[Q_MODE], "%s", lossy_modes[mode].name);
    if (!r->ok) {
        cell(c[Q_HS], "failed");
        cell(c[Q_GOAL], "%.90s", r->error);
    } else {
        cell(c[Q_HS], "%.0f", ms(r->hs_ns));
        cell(c[Q_WRITE], "%.0f", ms(r->written_ns));
        fmt_share(c[Q_BUSY_END], r->at_busy_end, o->payload);
        if (r->all_ns)
            cell(c[Q_ALL], "%.0f", ms(r->all_ns));
        else
            cell(c[Q_ALL], "not by %.0f",
                 ms(r->busy_to_ns) + o->give_up_ms);
        fmt_ratio(c[Q_VS_APP], r->all_ns, app ? app->all_ns : 0,
                  app != NULL && mode != LOSSY_APP);
        fmt_ratio(c[Q_VS_NATIVE], r->all_ns, native ? native->all_ns : 0,
                  native != NULL && mode != LOSSY_NATIVE);
        if (!lossy_modes[mode].tickless)
            cell(c[Q_GOAL], "(baseline)");
        else
            cell(c[Q_GOAL], "busy %s",
                 r->at_busy_end >= o->payload ? "ok" : "FAIL");
    }
    for (k = 0; k < Q_NCOLS; k++)
        cells[k] = c[k];
    (void)bench_table_add(t, cells);
}

enum { D_PROTO, D_MODE, D_SERVER_HS, D_READY, D_SENT, D_RECEIVED, D_LAST,
       D_VS_APP, D_GOAL, D_NCOLS };

static const char *const d_titles[D_NCOLS] = {
    "proto", "mode", "server handshake ms", "ready at busy end",
    "sent after busy ms",
    "received", "last arrival after busy ms", "vs app-driven", "goal"
};

static void dtls_row(bench_table *t, int mode, const busy_result *r,
                     const busy_result *app)
{
    char c[D_NCOLS][BENCH_TABLE_CELL];
    const char *cells[D_NCOLS];
    uint64_t sent_after = 0;
    size_t k;

    memset(c, 0, sizeof(c));
    cell(c[D_PROTO], "DTLS");
    cell(c[D_MODE], "%s", lossy_modes[mode].name);
    if (!r->ok) {
        cell(c[D_SERVER_HS], "failed");
        cell(c[D_GOAL], "%.90s", r->error);
    } else {
        int in_busy = r->server_hs_ns != 0 && r->server_hs_ns <= r->busy_to_ns;

        sent_after = since(r->written_ns, r->busy_to_ns);
        if (r->server_hs_ns)
            cell(c[D_SERVER_HS], "%.0f", ms(r->server_hs_ns));
        else
            cell(c[D_SERVER_HS], "never");
        cell(c[D_READY], "%s", r->client_ready ? "yes" : "no");
        cell(c[D_SENT], "%.1f", ms(sent_after));
        fmt_share(c[D_RECEIVED], r->received, r->sent);
        cell(c[D_LAST], "%.0f", ms(since(r->last_ns, r->busy_to_ns)));
        if (app != NULL && mode != LOSSY_APP && app->ok)
            fmt_ratio(c[D_VS_APP], sent_after ? sent_after : 1,
                      since(app->written_ns, app->busy_to_ns), 1);
        else
            cell(c[D_VS_APP], "-");
        if (!lossy_modes[mode].tickless)
            cell(c[D_GOAL], "(baseline)");
        else
            cell(c[D_GOAL], "hs %s",
                 in_busy && r->client_ready ? "ok" : "FAIL");
    }
    for (k = 0; k < D_NCOLS; k++)
        cells[k] = c[k];
    (void)bench_table_add(t, cells);
}

static const busy_result *baseline(const busy_opts *o,
                                   const busy_result *res, int mode)
{
    return (o->modes & (1u << mode)) && res[mode].ok ? &res[mode] : NULL;
}

/* What the tickless assists did while the application computed. */
static void print_ticks(const busy_opts *o, const busy_result *res,
                        enum ts_proto proto)
{
    const char *sep = "assist ticks during the computation (of them for a "
                      "timer):";
    int m, any = 0;

    for (m = 0; m < LOSSY_MODES; m++)
        if ((o->modes & (1u << m)) && mode_applies(m, proto) && res[m].ok
            && res[m].have_ticks) {
            printf("%s %s %" PRIu64 " (%" PRIu64 ")", sep,
                   lossy_modes[m].name, res[m].busy_ticks,
                   res[m].busy_timer_ticks);
            sep = ",";
            any = 1;
        }
    if (any)
        printf(".\n");
}

static void print_quic(const busy_opts *o, const busy_result *res)
{
    bench_table *t = bench_table_new(Q_NCOLS, q_titles);
    int m;

    if (t == NULL)
        return;
    for (m = 0; m < LOSSY_MODES; m++)
        if (o->modes & (1u << m))
            quic_row(t, o, m, &res[m], baseline(o, res, LOSSY_APP),
                     baseline(o, res, LOSSY_NATIVE));
    printf("\nQUIC: write %u KiB, then compute %u ms\n", o->payload >> 10,
           o->busy_ms);
    bench_table_print(t, stdout, o->common.markdown);
    bench_table_free(t);
    printf("\nhandshake: before the scenario starts, for reference. Times "
           "from the start of the write:\n"
           "  write returned: OpenSSL (or tickless) had accepted every byte; "
           "the computation\n"
           "  starts then. at busy end: bytes the server had received when "
           "it ended.\n"
           "  all delivered: the server had every byte (checked every ms in "
           "the server process).\n"
           "vs app-driven, vs native: all delivered, this mode's time / "
           "theirs (below 1: sooner).\n"
           "goal busy: a tickless mode delivered everything while the "
           "application computed.\n");
    print_ticks(o, res, TS_QUIC);
    for (m = 0; m < LOSSY_MODES; m++)
        if ((o->modes & (1u << m)) && res[m].ok && res[m].pattern_errors)
            printf("! %s: the server saw %" PRIu64 " bytes off the "
                   "pattern.\n",
                   lossy_modes[m].name, res[m].pattern_errors);
}

static void print_dtls(const busy_opts *o, const busy_result *res)
{
    bench_table *t = bench_table_new(D_NCOLS, d_titles);
    int m;

    if (t == NULL)
        return;
    for (m = 0; m < LOSSY_MODES; m++)
        if ((o->modes & (1u << m)) && mode_applies(m, TS_DTLS))
            dtls_row(t, m, &res[m], baseline(o, res, LOSSY_APP));
    printf("\nDTLS 1.2: start the handshake, compute %u ms, then write %u "
           "KiB in %u-byte records\n",
           o->busy_ms, o->payload >> 10, o->dtls_msg);
    bench_table_print(t, stdout, o->common.markdown);
    bench_table_free(t);
    printf("\nserver handshake: when the server completed it, from the "
           "start (the computation\n"
           "  ended at %u ms). ready: the client's handshake was complete "
           "when it ended.\n"
           "sent after busy: from the end of the computation until every "
           "record was written\n"
           "  (the rest of the handshake first, if needed). received: of "
           "what was sent; DTLS\n"
           "  does not retransmit, so the rest was lost on the way (relay, "
           "socket buffers).\n"
           "last arrival: when the server's count last grew, from the end "
           "of the computation.\n"
           "vs app-driven: sent after busy, this mode's / app-driven's.\n"
           "goal hs: the handshake completed on both sides while the "
           "application computed.\n",
           o->busy_ms);
    print_ticks(o, res, TS_DTLS);
    printf("relay, datagrams dropped / read (both ways):");
    for (m = 0; m < LOSSY_MODES; m++)
        if ((o->modes & (1u << m)) && mode_applies(m, TS_DTLS) && res[m].ok)
            printf(" %s %" PRIu64 " / %" PRIu64 ";", lossy_modes[m].name,
                   res[m].dropped, res[m].dropped + res[m].forwarded);
    printf("\n  other records missing were lost in socket buffers on the "
           "way (the relay's or the server's).\n");
}

/* ---- CSV --------------------------------------------------------------- */

static void csv_row(FILE *f, enum ts_proto proto, int mode, const char *what,
                    double value, const char *unit)
{
    fprintf(f, "%s,%s,%s,,%.6g,%s\n", proto == TS_QUIC ? "quic" : "dtls",
            lossy_modes[mode].name, what, value, unit);
}

static void csv_result(FILE *f, enum ts_proto proto, int mode,
                       const busy_result *r)
{
    size_t k;

    csv_row(f, proto, mode, "ok", r->ok, "1");
    if (!r->ok)
        return;
    if (proto == TS_QUIC)
        csv_row(f, proto, mode, "handshake", ms(r->hs_ns), "ms");
    csv_row(f, proto, mode, "written", ms(r->written_ns), "ms");
    csv_row(f, proto, mode, "busy_from", ms(r->busy_from_ns), "ms");
    csv_row(f, proto, mode, "busy_to", ms(r->busy_to_ns), "ms");
    csv_row(f, proto, mode, "received_at_busy_end", (double)r->at_busy_end,
            "B");
    csv_row(f, proto, mode, "sent", (double)r->sent, "B");
    csv_row(f, proto, mode, "received", (double)r->received, "B");
    if (proto == TS_QUIC) {
        csv_row(f, proto, mode, "all_delivered", r->all_ns != 0, "1");
        if (r->all_ns)
            csv_row(f, proto, mode, "all_delivered_at", ms(r->all_ns), "ms");
    } else {
        csv_row(f, proto, mode, "client_ready_at_busy_end", r->client_ready,
                "1");
        if (r->server_hs_ns)
            csv_row(f, proto, mode, "server_handshake_at",
                    ms(r->server_hs_ns), "ms");
    }
    csv_row(f, proto, mode, "last_arrival_at", ms(r->last_ns), "ms");
    csv_row(f, proto, mode, "relay_forwarded", (double)r->forwarded,
            "datagrams");
    csv_row(f, proto, mode, "relay_dropped", (double)r->dropped,
            "datagrams");
    if (r->have_ticks) {
        csv_row(f, proto, mode, "assist_ticks_while_busy",
                (double)r->busy_ticks, "1");
        csv_row(f, proto, mode, "assist_timer_ticks_while_busy",
                (double)r->busy_timer_ticks, "1");
    }
    for (k = 0; k < r->nsamples; k++)
        fprintf(f, "%s,%s,received_series,%u,%" PRIu64 ",B\n",
                proto == TS_QUIC ? "quic" : "dtls", lossy_modes[mode].name,
                (unsigned)(k * r->sample_ms), r->samples[k]);
}

static int write_csv(const busy_opts *o, const busy_runs *runs)
{
    FILE *f = bench_csv_open(o->common.csv_dir, "busy");
    int m;

    if (f == NULL)
        return -1;
    /* t_ms: the time a series sample stands for, from t0 (QUIC: the write
     * began; DTLS: the handshake began); empty for the other rows. */
    fprintf(f, "proto,mode,measurement,t_ms,value,unit\n");
    for (m = 0; m < LOSSY_MODES; m++)
        if (o->quic && (o->modes & (1u << m)))
            csv_result(f, TS_QUIC, m, &runs->quic[m]);
    for (m = 0; m < LOSSY_MODES; m++)
        if (o->dtls && (o->modes & (1u << m)) && mode_applies(m, TS_DTLS))
            csv_result(f, TS_DTLS, m, &runs->dtls[m]);
    if (fclose(f) != 0) {
        fprintf(stderr, "busy: writing %s/busy.csv: %s\n", o->common.csv_dir,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- main -------------------------------------------------------------- */

static int quic_runnable(void)
{
#if BENCH_HAVE_QUIC
    return (tickless_features() & TICKLESS_FEATURE_QUIC)
           && OpenSSL_version_num() >= 0x30500000L;
#else
    return 0;
#endif
}

static int run_all(busy_opts *o)
{
    busy_runs *runs = calloc(1, sizeof(*runs));
    int m, rc = BENCH_EXIT_OK;

    if (runs == NULL)
        return BENCH_EXIT_FAILED;
    if (ts_cert_get0() == NULL) {
        fprintf(stderr, "busy: could not generate a certificate\n");
        free(runs);
        return BENCH_EXIT_FAILED;
    }
    printf("busy: %u KiB, then %u ms of computing (%s); relay: %u%% loss "
           "each way, %u ms delay each way\n",
           o->payload >> 10, o->busy_ms, o->spin ? "spinning" : "sleeping",
           o->loss_pct, o->delay_ms);
    bench_print_environment(stdout, "busy: ");
    if (o->quic && !quic_runnable()) {
        printf("busy: QUIC skipped: it needs OpenSSL >= 3.5 (a QUIC "
               "listener for the server); this is %s.\n",
               OpenSSL_version(OPENSSL_VERSION));
        o->quic = 0;
    }
    fflush(stdout);
    for (m = 0; o->quic && m < LOSSY_MODES; m++) {
        if (!(o->modes & (1u << m)))
            continue;
        run_one(o, TS_QUIC, m, &runs->quic[m]);
        progress(TS_QUIC, m, &runs->quic[m]);
    }
    if (o->quic)
        print_quic(o, runs->quic);
    fflush(stdout);
    for (m = 0; o->dtls && m < LOSSY_MODES; m++) {
        if (!(o->modes & (1u << m)) || !mode_applies(m, TS_DTLS))
            continue;
        run_one(o, TS_DTLS, m, &runs->dtls[m]);
        progress(TS_DTLS, m, &runs->dtls[m]);
    }
    if (o->dtls)
        print_dtls(o, runs->dtls);
    if (o->common.csv_dir != NULL && write_csv(o, runs) != 0)
        rc = BENCH_EXIT_FAILED;
    free(runs);
    return rc;
}

static int parse_protos(const char *s, busy_opts *o)
{
    o->quic = o->dtls = 0;
    while (*s != '\0') {
        size_t len = strcspn(s, ",");

        if (len == 4 && strncmp(s, "quic", 4) == 0)
            o->quic = 1;
        else if (len == 4 && strncmp(s, "dtls", 4) == 0)
            o->dtls = 1;
        else
            return -1;
        s += len;
        if (*s == ',')
            s++;
    }
    return o->quic || o->dtls ? 0 : -1;
}

static int busy_main(int argc, char **argv)
{
    enum { OPT_MODES = BENCH_OPT_OWN, OPT_PROTO, OPT_PAYLOAD, OPT_BUSY,
           OPT_COMPUTE, OPT_LOSS, OPT_DELAY, OPT_DTLS_MSG, OPT_SAMPLE,
           OPT_GIVE_UP };
    static const struct option longopts[] = {
        { "modes", required_argument, NULL, OPT_MODES },
        { "proto", required_argument, NULL, OPT_PROTO },
        { "payload", required_argument, NULL, OPT_PAYLOAD },
        { "busy-ms", required_argument, NULL, OPT_BUSY },
        { "compute", required_argument, NULL, OPT_COMPUTE },
        { "loss", required_argument, NULL, OPT_LOSS },
        { "delay-ms", required_argument, NULL, OPT_DELAY },
        { "dtls-msg", required_argument, NULL, OPT_DTLS_MSG },
        { "sample-ms", required_argument, NULL, OPT_SAMPLE },
        { "give-up-ms", required_argument, NULL, OPT_GIVE_UP },
        BENCH_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    busy_opts o;
    int c, rc, payload_set = 0, busy_set = 0, give_up_set = 0;

    memset(&o, 0, sizeof(o));
    o.modes = (1u << LOSSY_MODES) - 1;
    o.quic = o.dtls = 1;
    o.payload = DEFAULT_PAYLOAD;
    o.busy_ms = DEFAULT_BUSY_MS;
    o.loss_pct = DEFAULT_LOSS_PCT;
    o.delay_ms = DEFAULT_DELAY_MS;
    o.sample_ms = DEFAULT_SAMPLE_MS;
    o.give_up_ms = DEFAULT_GIVE_UP_MS;
    o.dtls_msg = DEFAULT_DTLS_MSG;
    o.spin = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_MODES:
            if (lossy_parse_modes(optarg, &o.modes) != 0)
                goto bad;
            break;
        case OPT_PROTO:
            if (parse_protos(optarg, &o) != 0)
                goto bad;
            break;
        case OPT_PAYLOAD:
            if (bench_parse_uint(optarg, 1, 64u << 20, &o.payload) != 0)
                goto bad;
            payload_set = 1;
            break;
        case OPT_BUSY:
            if (bench_parse_uint(optarg, 0, 600000, &o.busy_ms) != 0)
                goto bad;
            busy_set = 1;
            break;
        case OPT_COMPUTE:
            if (strcmp(optarg, "spin") == 0)
                o.spin = 1;
            else if (strcmp(optarg, "sleep") == 0)
                o.spin = 0;
            else
                goto bad;
            break;
        case OPT_LOSS:
            if (bench_parse_uint(optarg, 0, 100, &o.loss_pct) != 0)
                goto bad;
            break;
        case OPT_DELAY:
            if (bench_parse_uint(optarg, 0, 10000, &o.delay_ms) != 0)
                goto bad;
            break;
        case OPT_DTLS_MSG:
            if (bench_parse_uint(optarg, 1, 1200, &o.dtls_msg) != 0)
                goto bad;
            break;
        case OPT_SAMPLE:
            if (bench_parse_uint(optarg, 1, 60000, &o.sample_ms) != 0)
                goto bad;
            break;
        case OPT_GIVE_UP:
            if (bench_parse_uint(optarg, 100, 600000, &o.give_up_ms) != 0)
                goto bad;
            give_up_set = 1;
            break;
        default:
            if (!bench_opts_common(c, &o.common, usage, &rc))
                return rc;
            break;
        }
    }
    if (optind != argc)
        goto bad;
    /* --quick sets what was not given explicitly. */
    if (o.common.quick && !payload_set)
        o.payload = QUICK_PAYLOAD;
    if (o.common.quick && !busy_set)
        o.busy_ms = QUICK_BUSY_MS;
    if (o.common.quick && !give_up_set)
        o.give_up_ms = QUICK_GIVE_UP_MS;
    if (!o.quic && !(o.modes & ~(1u << LOSSY_NATIVE)))
        goto bad; /* native alone has no DTLS */
    return run_all(&o);

bad:
    return bench_opts_bad("busy", usage);
}

const bench_scenario bench_busy = {
    "busy",
    "an application computes after writing: what its connection delivers",
    busy_main,
    usage,
};
