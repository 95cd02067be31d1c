/*
 * tick-cost: what one tick costs. The floor is what any reactor pays, one
 * SSL_handle_events() call on a connection with nothing due; tickless adds
 * its own work around that call (epoll, the shard's and the connection's
 * mutexes, the deadline heap, re-reading OpenSSL's deadline and interest,
 * waking blocked callers). How close does tickless get to the floor?
 *
 * One established, idle QUIC connection to the bench echo server, in a
 * client process of its own per measurement group. Its UDP socket is not
 * connected (RC_UNCONNECTED), so that the bench can make it tick at will by
 * sending it a stray 1-byte datagram from another socket of the same
 * process: the kernel queues it at once (loopback), epoll reports the
 * socket readable, and OpenSSL reads the datagram and drops it (too short
 * to be a QUIC packet) without any cryptography or reply. Nothing is due
 * otherwise: the connection's idle timeout is 30 s and the measurements
 * start after post-handshake traffic has settled.
 *
 * Four pairs, each floor and tickless measured the same way:
 *  1. nothing due, same thread: SSL_handle_events() in a tight loop
 *     (plain OpenSSL, app-driven) against tickless_pool_run(pool, 0) on an
 *     application-driven pool (threads == 0) holding the connection, which
 *     finds nothing to do (an epoll_wait with no events, the heap's top).
 *     Batches of calls timed as a whole; the median batch's mean per call.
 *  2. one stray datagram, same thread, no wake-up: a datagram is sent
 *     (untimed), then one SSL_handle_events() is timed, against one
 *     tickless_pool_run(pool, 0), which collects the socket's readiness and
 *     ticks the connection (it must report 1 tick). Median per call.
 *  3. and 4. a wake-up and a tick, in a thread that sleeps in between:
 *     stray datagrams every --interval-us from the bench thread; the floor
 *     is a thread of the app-driven client that poll()s the socket and
 *     calls SSL_handle_events() when it is readable (its own thread CPU
 *     time, CLOCK_THREAD_CPUTIME_ID, per tick); tickless is the assist of
 *     a pool of 1 thread (tickless_pool_stats cpu_ns / ticks) and a
 *     dedicated assist (tickless_conn_stats assist_cpu_ns / ticks). These
 *     include the kernel's work to wake the thread and put it back to
 *     sleep, which CPU time counts, but not the time the thread waits for
 *     a CPU.
 */
#include "rtt_conn.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if BENCH_HAVE_QUIC
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/quic.h>

#include "ts_certs.h"
#endif

#define DEFAULT_CALLS 100000u   /* per same-thread measurement */
#define QUICK_CALLS 10000u
#define DEFAULT_SECONDS 2u      /* per wake-up measurement */
#define QUICK_SECONDS 1u
#define DEFAULT_INTERVAL_US 500u
#define BATCHES 25u             /* pair 1: calls are timed in batches */
#define SETTLE_MS 300           /* post-handshake traffic, before timing */
#define SERVER_IDLE_MS 30000u

typedef struct tc_opts {
    unsigned calls, seconds, interval_us;
    bench_common_opts common;
} tc_opts;

/* What one client process sends back (fields its group measures). */
typedef struct tc_result {
    int ok;
    char error[256];
    double idle_ns;        /* pair 1: per call, median batch */
    double dgram_ns;       /* pair 2: median per call */
    double dgram_mean_ns;
    uint64_t dgram_missed; /* pair 2: calls that did not tick / drain */
    double wake_cpu_ns;    /* pairs 3, 4: thread CPU per tick */
    uint64_t wake_ticks;
    uint64_t sent;         /* stray datagrams sent in the wake-up window */
    double write_ns;       /* a 64-byte write call, median */
    double read_miss_ns;   /* a read call that finds nothing, median */
    uint64_t read_hits;    /* ... times it found the echo already */
} tc_result;

typedef struct tc_args {
    const tc_opts *o;
    int group;
    uint16_t port;
} tc_args;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: tickless-bench tick-cost [options]\n"
            "  The cost of one handle-events call with nothing due (the\n"
            "  floor any reactor pays) against tickless's cost per tick\n"
            "  (epoll, locking, re-arming, the wake-up), on one idle QUIC\n"
            "  connection that stray datagrams make tick.\n"
            "options:\n"
            "  --calls N         calls per same-thread measurement (default "
            "%u;\n"
            "                    --quick %u)\n"
            "  --seconds S       per wake-up measurement (default %u; --quick "
            "%u)\n"
            "  --interval-us U   between stray datagrams then (default %u)\n"
            "  --quick           a few seconds\n"
            "  --markdown        print the table as Markdown\n"
            "  --csv DIR         also write DIR/tick-cost.csv\n",
            DEFAULT_CALLS, QUICK_CALLS, DEFAULT_SECONDS, QUICK_SECONDS,
            DEFAULT_INTERVAL_US);
}

#if BENCH_HAVE_QUIC

/* The measurement groups, one client process each. */
enum { G_FLOOR, G_APP_POOL, G_POOL1, G_DEDICATED, NGROUPS };

static const int group_mode[NGROUPS] = { RC_APP, RC_APP_POOL, RC_POOL1,
                                         RC_DEDICATED };

/* ---- the client process ------------------------------------------------- */

/* A socket that sends stray datagrams to the client's socket. */
typedef struct stray {
    int fd;
} stray;

static int stray_open(stray *s, rtt_conn *c)
{
    struct sockaddr_in to;
    socklen_t len = sizeof(to);

    if (getsockname(SSL_get_fd(c->ssl), (struct sockaddr *)&to, &len) != 0)
        return rtt_conn_fail(c, "getsockname: %s", strerror(errno));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0
        || connect(s->fd, (struct sockaddr *)&to, sizeof(to)) != 0)
        return rtt_conn_fail(c, "stray socket: %s", strerror(errno));
    return 0;
}

static void stray_send(stray *s)
{
    static const uint8_t junk[1] = { 0 };

    (void)send(s->fd, junk, sizeof(junk), 0);
}

/* Whether the client's socket still holds a datagram. */
static int socket_readable(int fd)
{
    struct pollfd p = { fd, POLLIN, 0 };

    return poll(&p, 1, 0) == 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Lets post-handshake traffic (HANDSHAKE_DONE, tokens, ACKs) settle. */
static void settle(rtt_conn *c)
{
    uint64_t end = bench_now_ns() + SETTLE_MS * 1000000ull;

    while (bench_now_ns() < end) {
        if (c->mode == RC_APP)
            rtt_conn_app_wait(c->ssl, 10);
        else if (c->mode == RC_APP_POOL)
            (void)tickless_pool_run(c->pool, 10);
        else
            break;
    }
    if (c->mode != RC_APP && c->mode != RC_APP_POOL) {
        struct timespec ts = { 0, SETTLE_MS * 1000000L };

        nanosleep(&ts, NULL);
    }
}

/* One step of pair 1 or 2: a handle-events call, or a run of the pool. */
static int step(rtt_conn *c)
{
    if (c->mode == RC_APP)
        return SSL_handle_events(c->ssl) == 1 ? 1 : -1;
    return tickless_pool_run(c->pool, 0);
}

/* Pair 1: nothing due, in batches; the median batch's mean per call. */
static int measure_idle(rtt_conn *c, unsigned calls, tc_result *res)
{
    unsigned per = calls / BATCHES ? calls / BATCHES : 1, b, i;
    uint64_t batch[BATCHES];

    for (b = 0; b < BATCHES; b++) {
        uint64_t t0 = bench_now_ns();

        for (i = 0; i < per; i++)
            if (step(c) < 0)
                return rtt_conn_fail(c, "idle step failed");
        batch[b] = bench_now_ns() - t0;
    }
    qsort(batch, BATCHES, sizeof(batch[0]), cmp_u64);
    res->idle_ns = (double)batch[BATCHES / 2] / per;
    return 0;
}

/* Pair 2: one stray datagram, then one timed call. */
static int measure_dgram(rtt_conn *c, stray *s, unsigned calls,
                         tc_result *res)
{
    uint64_t *v = malloc(calls * sizeof(*v));
    double sum = 0;
    unsigned i;
    int fd = SSL_get_fd(c->ssl);

    if (v == NULL)
        return rtt_conn_fail(c, "out of memory");
    for (i = 0; i < calls; i++) {
        uint64_t t0;
        int rc;

        stray_send(s);
        t0 = bench_now_ns();
        rc = step(c);
        v[i] = bench_now_ns() - t0;
        sum += (double)v[i];
        if (rc < 0) {
            free(v);
            return rtt_conn_fail(c, "datagram step failed");
        }
        /* The floor must have drained the datagram; the pool must have
         * ticked the connection for it. */
        if (c->mode == RC_APP ? socket_readable(fd) : rc != 1)
            res->dgram_missed++;
        if (socket_readable(fd))
            (void)step(c); /* do not let one miss spill into the next */
    }
    res->dgram_mean_ns = sum / calls;
    res->dgram_ns = (double)bench_percentile(v, calls, 50);
    free(v);
    return 0;
}

/*
 * The calls around a round trip, for rtt's sake: a 64-byte write (OpenSSL
 * sends it at once, from the calling thread, in either mode), then a read
 * that finds nothing yet and would block. Each is timed alone; the echo is
 * then collected untimed (app-driven: its poll loop; app-pool: its pool).
 * The two modes do the same OpenSSL work; the difference is tickless's.
 */
static int measure_calls(rtt_conn *c, unsigned calls, tc_result *res)
{
    uint64_t *w = malloc(calls * sizeof(*w)), *r = malloc(calls * sizeof(*r));
    uint8_t msg[64], echo[64];
    unsigned i, miss = 0;
    size_t n;

    memset(msg, 'x', sizeof(msg));
    if (w == NULL || r == NULL) {
        free(w);
        free(r);
        return rtt_conn_fail(c, "out of memory");
    }
    for (i = 0; i < calls; i++) {
        uint64_t t0 = bench_now_ns();
        int ok, rc;

        if (c->mode == RC_APP)
            ok = SSL_write_ex(c->ssl, msg, sizeof(msg), &n)
                 && n == sizeof(msg);
        else
            ok = tickless_conn_write(c->tc, msg, sizeof(msg), &n, 0) == 0;
        w[i] = bench_now_ns() - t0;
        t0 = bench_now_ns();
        if (c->mode == RC_APP)
            rc = SSL_read_ex(c->ssl, echo, sizeof(echo), &n);
        else
            rc = tickless_conn_read(c->tc, echo, sizeof(echo), &n, 0) == 0;
        r[miss] = bench_now_ns() - t0;
        if (!ok) {
            free(w);
            free(r);
            return rtt_conn_fail(c, "write call %u failed", i);
        }
        if (rc) { /* the echo was already there: not a miss */
            res->read_hits++;
            if (n < sizeof(echo) && rtt_conn_read(c, echo, sizeof(echo) - n))
                break;
            continue;
        }
        miss++;
        if (rtt_conn_read(c, echo, sizeof(echo)) != 0)
            break;
    }
    res->write_ns = (double)bench_percentile(w, i, 50);
    res->read_miss_ns = (double)bench_percentile(r, miss, 50);
    free(w);
    free(r);
    return i == calls ? 0 : -1;
}

/* The floor of pairs 3 and 4: an application thread that sleeps in poll()
 * and ticks when the socket is readable. */
typedef struct floor_thread {
    SSL *ssl;
    atomic_int stop;
    uint64_t cpu_ns, ticks;
} floor_thread;

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *floor_main(void *arg)
{
    floor_thread *f = arg;
    uint64_t cpu0 = thread_cpu_ns();

    while (!atomic_load(&f->stop)) {
        struct pollfd p = { SSL_get_fd(f->ssl), POLLIN, 0 };

        /* 50 ms: only to notice |stop|; nothing is due meanwhile. */
        if (poll(&p, 1, 50) == 1) {
            (void)SSL_handle_events(f->ssl);
            f->ticks++;
        }
    }
    f->cpu_ns = thread_cpu_ns() - cpu0;
    return NULL;
}

/* Sends stray datagrams every interval for |seconds|. */
static uint64_t send_for(stray *s, const tc_opts *o)
{
    uint64_t end = bench_now_ns() + (uint64_t)o->seconds * 1000000000u;
    struct timespec gap = { 0, (long)o->interval_us * 1000L };
    uint64_t n = 0;

    while (bench_now_ns() < end) {
        stray_send(s);
        n++;
        nanosleep(&gap, NULL);
    }
    return n;
}

/* Pairs 3 and 4: thread CPU per tick while stray datagrams arrive. */
static int measure_wake(rtt_conn *c, stray *s, const tc_opts *o,
                        tc_result *res)
{
    uint64_t cpu0 = 0, ticks0 = 0, cpu1, ticks1;
    struct timespec drain = { 0, 20 * 1000000L };
    int rc;

    if (c->mode == RC_APP) {
        floor_thread f;
        pthread_t th;

        memset(&f, 0, sizeof(f));
        f.ssl = c->ssl;
        atomic_init(&f.stop, 0);
        if (pthread_create(&th, NULL, floor_main, &f) != 0)
            return rtt_conn_fail(c, "pthread_create");
        res->sent = send_for(s, o);
        nanosleep(&drain, NULL); /* the last datagram's tick */
        atomic_store(&f.stop, 1);
        pthread_join(th, NULL);
        res->wake_ticks = f.ticks;
        res->wake_cpu_ns = f.ticks ? (double)f.cpu_ns / f.ticks : 0;
        return 0;
    }
    if (c->pool != NULL) {
        struct tickless_pool_stats st = TICKLESS_POOL_STATS_INIT;

        if ((rc = tickless_pool_stats(c->pool, &st)) != 0)
            return rtt_conn_fail(c, "tickless_pool_stats: %d", rc);
        cpu0 = st.cpu_ns;
        ticks0 = st.ticks;
    } else {
        tickless_stats st = TICKLESS_STATS_INIT;

        if ((rc = tickless_conn_stats(c->tc, &st)) != 0)
            return rtt_conn_fail(c, "tickless_conn_stats: %d", rc);
        cpu0 = st.assist_cpu_ns;
        ticks0 = st.ticks;
    }
    res->sent = send_for(s, o);
    nanosleep(&drain, NULL);
    if (c->pool != NULL) {
        struct tickless_pool_stats st = TICKLESS_POOL_STATS_INIT;

        (void)tickless_pool_stats(c->pool, &st);
        cpu1 = st.cpu_ns;
        ticks1 = st.ticks;
    } else {
        tickless_stats st = TICKLESS_STATS_INIT;

        (void)tickless_conn_stats(c->tc, &st);
        cpu1 = st.assist_cpu_ns;
        ticks1 = st.ticks;
    }
    res->wake_ticks = ticks1 - ticks0;
    res->wake_cpu_ns =
        res->wake_ticks ? (double)(cpu1 - cpu0) / res->wake_ticks : 0;
    return 0;
}

static int child_main(void *arg, void *result, size_t len)
{
    const tc_args *a = arg;
    tc_result *res = result;
    stray s = { -1 };
    rtt_conn c;
    int rc = -1;

    memset(res, 0, len);
    alarm(600); /* a hang ends the process, not the bench */
    if (rtt_conn_open(&c, group_mode[a->group], a->port, RC_UNCONNECTED) != 0
        || stray_open(&s, &c) != 0)
        goto out;
    settle(&c);
    switch (a->group) {
    case G_FLOOR:
        rc = measure_idle(&c, a->o->calls, res);
        if (rc == 0)
            rc = measure_dgram(&c, &s, a->o->calls, res);
        if (rc == 0)
            rc = measure_wake(&c, &s, a->o, res);
        if (rc == 0)
            rc = measure_calls(&c, a->o->calls / 10, res);
        break;
    case G_APP_POOL:
        rc = measure_idle(&c, a->o->calls, res);
        if (rc == 0)
            rc = measure_dgram(&c, &s, a->o->calls, res);
        if (rc == 0)
            rc = measure_calls(&c, a->o->calls / 10, res);
        break;
    default:
        rc = measure_wake(&c, &s, a->o, res);
        break;
    }
out:
    if (rc != 0)
        snprintf(res->error, sizeof(res->error), "%s", c.error);
    res->ok = rc == 0;
    if (s.fd >= 0)
        close(s.fd);
    rtt_conn_close(&c);
    return rc;
}

/* ---- the parent --------------------------------------------------------- */

enum { COL_WHAT, COL_FLOOR, COL_TL, COL_OVER, COL_RATIO, COL_NOTE, NCOLS };

static const char *const col_titles[NCOLS] = {
    "per tick", "floor ns", "tickless ns", "overhead ns", "tickless/floor",
    "tickless is"
};

static void add_row(bench_table *t, FILE *csv, const char *what,
                    const char *key, const char *tl_mode,
                    const tc_result *fl, const tc_result *tl, double floor_ns,
                    double tl_ns)
{
    char c[NCOLS][BENCH_TABLE_CELL];
    const char *cells[NCOLS];
    size_t k;

    memset(c, 0, sizeof(c));
    snprintf(c[COL_WHAT], BENCH_TABLE_CELL, "%s", what);
    snprintf(c[COL_NOTE], BENCH_TABLE_CELL, "%s", tl_mode);
    if (fl->ok)
        snprintf(c[COL_FLOOR], BENCH_TABLE_CELL, "%.0f", floor_ns);
    else
        snprintf(c[COL_FLOOR], BENCH_TABLE_CELL, "failed");
    if (tl->ok)
        snprintf(c[COL_TL], BENCH_TABLE_CELL, "%.0f", tl_ns);
    else
        snprintf(c[COL_TL], BENCH_TABLE_CELL, "failed");
    if (fl->ok && tl->ok && floor_ns > 0) {
        snprintf(c[COL_OVER], BENCH_TABLE_CELL, "%+.0f", tl_ns - floor_ns);
        snprintf(c[COL_RATIO], BENCH_TABLE_CELL, "%.2f", tl_ns / floor_ns);
    }
    for (k = 0; k < NCOLS; k++)
        cells[k] = c[k];
    (void)bench_table_add(t, cells);
    if (csv == NULL)
        return;
    if (fl->ok)
        fprintf(csv, "floor,%s,%.7f,ms\n", key, floor_ns / 1e6);
    if (tl->ok)
        fprintf(csv, "%s,%s,%.7f,ms\n", tl_mode, key, tl_ns / 1e6);
    if (fl->ok && tl->ok && floor_ns > 0)
        fprintf(csv, "%s,%s_ratio,%.4f,ratio\n", tl_mode, key,
                tl_ns / floor_ns);
}

static void print_results(const tc_opts *o, const tc_result *r)
{
    bench_table *t = bench_table_new(NCOLS, col_titles);
    const tc_result *fl = &r[G_FLOOR];
    FILE *csv = NULL;
    int g;

    if (t == NULL)
        return;
    if (o->common.csv_dir != NULL
        && (csv = bench_csv_open(o->common.csv_dir, "tick-cost")) != NULL)
        fprintf(csv, "mode,measurement,value,unit\n");
    add_row(t, csv, "nothing due, same thread", "idle_call", "app-pool", fl,
            &r[G_APP_POOL], fl->idle_ns, r[G_APP_POOL].idle_ns);
    add_row(t, csv, "stray datagram, same thread", "dgram_call", "app-pool",
            fl, &r[G_APP_POOL], fl->dgram_ns, r[G_APP_POOL].dgram_ns);
    add_row(t, csv, "64-byte write call, same thread", "write_call",
            "app-pool", fl, &r[G_APP_POOL], fl->write_ns,
            r[G_APP_POOL].write_ns);
    add_row(t, csv, "read call that would block", "read_miss_call",
            "app-pool", fl, &r[G_APP_POOL], fl->read_miss_ns,
            r[G_APP_POOL].read_miss_ns);
    add_row(t, csv, "wake-up + tick, thread CPU", "wake_cpu", "pool-1", fl,
            &r[G_POOL1], fl->wake_cpu_ns, r[G_POOL1].wake_cpu_ns);
    add_row(t, csv, "wake-up + tick, thread CPU", "wake_cpu", "dedicated",
            fl, &r[G_DEDICATED], fl->wake_cpu_ns, r[G_DEDICATED].wake_cpu_ns);
    if (csv != NULL)
        fclose(csv);
    bench_table_print(t, stdout, o->common.markdown);
    bench_table_free(t);
    printf("\nfloor: plain OpenSSL, app-driven; same thread: "
           "SSL_handle_events() against tickless_pool_run(pool, 0)\n"
           "  on an application-driven pool (app-pool). nothing due: "
           "median of %u batches' mean per\n"
           "  call. stray datagram: one 1-byte datagram queued (untimed), "
           "then one call timed; median\n"
           "  of %u. wake-up + tick: datagrams every %u us for %u s; the "
           "floor is a thread that poll()s\n"
           "  and calls SSL_handle_events() (its CPU time per tick); "
           "tickless, the assist's CPU time\n"
           "  per tick (pool stats cpu_ns, conn stats assist_cpu_ns).\n"
           "write call: SSL_write_ex of 64 bytes against "
           "tickless_conn_write(timeout 0), which both\n"
           "  send at once; read call: SSL_read_ex against "
           "tickless_conn_read(timeout 0) right after,\n"
           "  before the echo is back (both tick OpenSSL once and report "
           "would-block). Medians of %u.\n",
           BATCHES, o->calls, o->interval_us, o->seconds, o->calls / 10);
    for (g = 0; g < NGROUPS; g++) {
        if (!r[g].ok)
            printf("! %s failed: %s\n", rtt_modes[group_mode[g]].name,
                   r[g].error);
        else if (r[g].dgram_missed > 0)
            printf("! %s: %" PRIu64 " of %u stray datagrams were not "
                   "consumed by the timed call.\n",
                   rtt_modes[group_mode[g]].name, r[g].dgram_missed,
                   o->calls);
        if (r[g].ok && r[g].sent > 0)
            printf("%s: %" PRIu64 " datagrams sent, %" PRIu64 " ticks in "
                   "the wake-up window.\n",
                   g == G_FLOOR ? "floor" : rtt_modes[group_mode[g]].name,
                   r[g].sent, r[g].wake_ticks);
    }
    if (r[G_APP_POOL].ok)
        printf("same thread, stray datagram: mean %.0f ns (floor) and %.0f "
               "ns (app-pool).\n",
               fl->dgram_mean_ns, r[G_APP_POOL].dgram_mean_ns);
}

static int run_all(const tc_opts *o)
{
    tc_result r[NGROUPS];
    bench_server srv;
    int g;

    memset(r, 0, sizeof(r));
    if (ts_cert_get0() == NULL
        || bench_server_start(SERVER_IDLE_MS, &srv) != 0) {
        fprintf(stderr, "tick-cost: the echo server did not start\n");
        return BENCH_EXIT_FAILED;
    }
    for (g = 0; g < NGROUPS; g++) {
        tc_args a = { o, g, srv.port };
        char why[160];

        fprintf(stderr, "\rtick-cost: %-10s", rtt_modes[group_mode[g]].name);
        if (bench_run_child(child_main, &a, &r[g], sizeof(r[g]), why,
                            sizeof(why))
            != 0) {
            memset(&r[g], 0, sizeof(r[g]));
            snprintf(r[g].error, sizeof(r[g].error), "%s", why);
        }
    }
    fprintf(stderr, "\rtick-cost: done%30s\n", "");
    bench_server_stop(&srv);
    print_results(o, r);
    return BENCH_EXIT_OK;
}

#endif /* BENCH_HAVE_QUIC */

static int tick_cost_main(int argc, char **argv)
{
    enum { OPT_CALLS = BENCH_OPT_OWN, OPT_SECONDS, OPT_INTERVAL };
    static const struct option longopts[] = {
        { "calls", required_argument, NULL, OPT_CALLS },
        { "seconds", required_argument, NULL, OPT_SECONDS },
        { "interval-us", required_argument, NULL, OPT_INTERVAL },
        BENCH_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    tc_opts o;
    int c, rc, set_calls = 0, set_seconds = 0;

    memset(&o, 0, sizeof(o));
    o.interval_us = DEFAULT_INTERVAL_US;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_CALLS:
            if (bench_parse_uint(optarg, BATCHES, 10000000, &o.calls) != 0)
                goto bad;
            set_calls = 1;
            break;
        case OPT_SECONDS:
            if (bench_parse_uint(optarg, 1, 3600, &o.seconds) != 0)
                goto bad;
            set_seconds = 1;
            break;
        case OPT_INTERVAL:
            if (bench_parse_uint(optarg, 10, 999999, &o.interval_us) != 0)
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
    if (!set_calls)
        o.calls = o.common.quick ? QUICK_CALLS : DEFAULT_CALLS;
    if (!set_seconds)
        o.seconds = o.common.quick ? QUICK_SECONDS : DEFAULT_SECONDS;

    if (bench_quic_skipped("tick-cost"))
        return BENCH_EXIT_OK;
#if BENCH_HAVE_QUIC
    printf("tick-cost: one idle QUIC connection made to tick by stray "
           "datagrams; %u calls per same-thread figure, %u s per wake-up "
           "figure\n",
           o.calls, o.seconds);
    bench_print_environment(stdout, "tick-cost: ");
    fflush(stdout);
    return run_all(&o);
#else
    return BENCH_EXIT_OK; /* not reached: no QUIC in this build */
#endif

bad:
    return bench_opts_bad("tick-cost", usage);
}

const bench_scenario bench_tick_cost = {
    "tick-cost",
    "one tick: SSL_handle_events with nothing due vs tickless's per tick",
    tick_cost_main,
    usage,
};
