/*
 * bulk: one QUIC connection's throughput, per mode (rtt_conn.h), as MiB/s
 * of delivered and verified echo.
 *
 * The client sends --mib MiB (64) on the connection's stream and reads the
 * server's echo of them back at the same time, on one application thread
 * in every mode: app-driven interleaves both directions in its one loop
 * (write while OpenSSL takes bytes, read while there are some, otherwise
 * the poll-and-handle-events wait); the blocking modes write while within
 * the lead (below) and otherwise block in a read, as a single-threaded
 * blocking client would. With --threads 2 the blocking modes use a writer
 * thread and a reader thread on the one connection instead (tickless and
 * OpenSSL's thread assist both allow that): what two application threads
 * sharing a connection cost, which app-driven has no counterpart of. Every byte
 * that comes back is compared with what was sent: the data is a position-
 * dependent pattern (ts_fill_pattern) written into one buffer before the
 * clock starts, and the echo is checked against that buffer with memcmp,
 * so that checking costs every mode the same few milliseconds.
 *
 * Every mode keeps its writer at most --lead KiB (256) ahead of the echo
 * it has read back, as a request/response client would. Unbounded, a
 * writer thread runs a whole flow-control window ahead of its reader: the
 * server's backlog and OpenSSL's stream buffers fill, and OpenSSL 3.5,
 * which grows those buffers by copying all they hold, then spends the
 * server's CPU in memcpy() (measured: dedicated 0.2-0.35x app-driven, with
 * rounds from 5 to 110 MiB/s). That would measure OpenSSL's buffering, not
 * who ticks; the single-threaded app-driven loop never ran that far ahead.
 *
 * Timed: from just before the first write to the return of the read that
 * completes the echo. MiB/s = --bytes / that time. Each (round, mode) is a
 * fresh client process against one echo server process for the run; modes
 * are rotated each round, and the table gives the median round (and the
 * lowest and highest).
 */
#include "rtt_conn.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if BENCH_HAVE_QUIC
#include "ts_certs.h"
#include "ts_util.h"
#endif

#define MIB (1024.0 * 1024.0)
#define DEFAULT_MIB 64u
#define QUICK_MIB 8u
#define DEFAULT_ROUNDS 3u
#define QUICK_ROUNDS 1u
#define MAX_ROUNDS 32u
#define CHUNK (64u * 1024u)  /* bytes per write or read call */
#define DEFAULT_LEAD_KIB 256u /* how far the writer may run ahead */
#define DEFAULT_THREADS 1u    /* application threads, blocking modes */
#define SERVER_IDLE_MS 30000u
/*
 * A transfer in which no echo byte arrives for this long has stalled: the
 * client process is ended by SIGALRM and the round counts as stalled.
 * OpenSSL's blocking calls can sleep for good when two threads use one
 * connection (openssl/openssl#24166: one thread's tick takes the datagram
 * the other one's poll() waits for), and native does exactly that here.
 */
#define STALL_S 5u

typedef struct bulk_opts {
    unsigned mib, rounds;
    unsigned lead_kib;
    unsigned threads;
    unsigned modes;
    bench_common_opts common;
} bulk_opts;

/* What one client process sends back. */
typedef struct bulk_child_result {
    int ok;
    char error[256];
    uint64_t bytes;
    uint64_t wall_ns;
    uint64_t cpu_ns;   /* process CPU over the timed transfer */
    long drops;        /* datagrams dropped on the client socket, or -1 */
} bulk_child_result;

typedef struct bulk_child_args {
    int mode;
    uint16_t port;
    uint64_t bytes;
    uint64_t lead;     /* bytes the writer may be ahead of the echo read */
    unsigned threads;  /* blocking modes: 1, or 2 (writer + reader) */
} bulk_child_args;

typedef struct bulk_mode_result {
    char error[256];       /* the last failed round's */
    unsigned failed;       /* rounds that failed ... */
    unsigned stalled;      /* ... of which by the stall watchdog */
    double mibps[MAX_ROUNDS];
    double cpu_pct[MAX_ROUNDS];  /* process CPU / wall, % of one core */
    double drops[MAX_ROUNDS];    /* client socket drops, -1: unknown */
    double server_pct[MAX_ROUNDS]; /* server CPU / transfer time, %; -1 */
    unsigned rounds;
} bulk_mode_result;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: tickless-bench bulk [options]\n"
            "  One QUIC connection's throughput: the client writes --mib MiB\n"
            "  and reads their echo back concurrently; MiB/s of verified\n"
            "  echo per mode, and each mode's ratio to app-driven.\n"
            "options:\n"
            "  --mib N         MiB sent (and echoed) per transfer (default %u;"
            "\n"
            "                  --quick %u)\n"
            "  --rounds R      transfers per mode, order rotated each round\n"
            "                  (default %u; --quick %u)\n"
            "  --lead KIB      the writer stays at most KIB ahead of the echo\n"
            "                  read back, in every mode (default %u)\n"
            "  --threads N     application threads in the blocking modes: 1,\n"
            "                  or 2 (a writer and a reader; default %u)\n"
            "  --modes LIST    modes to run, or 'all' (default all):\n",
            DEFAULT_MIB, QUICK_MIB, DEFAULT_ROUNDS, QUICK_ROUNDS,
            DEFAULT_LEAD_KIB, DEFAULT_THREADS);
    rtt_modes_usage(out, RC_NMODES, 20);
    fprintf(out,
            "  --quick         a few seconds: less data, one round\n"
            "  --markdown      print the table as Markdown\n"
            "  --csv DIR       also write DIR/bulk.csv\n");
}

#if BENCH_HAVE_QUIC

/* ---- the client process ------------------------------------------------- */

/* The reader's progress, which holds the writer back to the lead. */
typedef struct echo_progress {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t got;        /* echo bytes read back and checked */
    int stop;            /* the reader gave up: the writer stops too */
} echo_progress;

typedef struct writer {
    rtt_conn c;          /* a shallow copy: its own error buffer */
    const uint8_t *src;
    uint64_t total;
    uint64_t lead;
    echo_progress *progress;
    int rc;
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    uint64_t off = 0;

    w->rc = 0;
    while (off < w->total) {
        size_t n = w->total - off < CHUNK ? (size_t)(w->total - off) : CHUNK;
        echo_progress *p = w->progress;
        int stop;

        if (n > w->lead)
            n = (size_t)w->lead;
        pthread_mutex_lock(&p->mu);
        while (!p->stop && off + n - p->got > w->lead)
            pthread_cond_wait(&p->cv, &p->mu);
        stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;

        if (rtt_conn_write(&w->c, w->src + off, n) != 0) {
            w->rc = -1;
            break;
        }
        off += n;
    }
    return NULL;
}

/* How much a single-threaded loop writes next, having sent |sent| bytes
 * and read |got| back: at most a chunk, never past the lead; 0 when it
 * should read instead. */
static size_t write_len(uint64_t sent, uint64_t got, uint64_t total,
                        uint64_t lead)
{
    uint64_t room, n;

    if (sent >= total || sent - got >= lead)
        return 0;
    room = lead - (sent - got);
    n = total - sent < CHUNK ? total - sent : CHUNK;
    return (size_t)(n < room ? n : room);
}

/* Checks |n| echoed bytes at stream offset |off|. */
static int check(rtt_conn *c, const uint8_t *src, const uint8_t *buf,
                 size_t n, uint64_t off)
{
    size_t bad;

    if (memcmp(src + off, buf, n) == 0)
        return 0;
    bad = ts_check_pattern(buf, n, off);
    return rtt_conn_fail(c, "echo byte %" PRIu64 " is wrong", off + bad);
}

/* Blocking modes: a writer thread, and this thread reads. */
static int transfer_threads(rtt_conn *c, const uint8_t *src, uint64_t total,
                            uint64_t lead, uint8_t *buf)
{
    echo_progress p = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                        0, 0 };
    writer w;
    pthread_t th;
    uint64_t got = 0;
    int rc = 0;

    w.c = *c;
    w.src = src;
    w.total = total;
    w.lead = lead;
    w.progress = &p;
    if (pthread_create(&th, NULL, writer_main, &w) != 0)
        return rtt_conn_fail(c, "pthread_create");
    while (got < total) {
        size_t n = total - got < CHUNK ? (size_t)(total - got) : CHUNK;

        /* Reads exactly n: the echo comes back in whatever pieces. */
        if (rtt_conn_read(c, buf, n) != 0 || check(c, src, buf, n, got) != 0) {
            rc = -1;
            break;
        }
        got += n;
        pthread_mutex_lock(&p.mu);
        p.got = got;
        pthread_cond_signal(&p.cv);
        pthread_mutex_unlock(&p.mu);
        alarm(STALL_S); /* progress: the watchdog starts again */
    }
    if (rc != 0) {
        pthread_mutex_lock(&p.mu);
        p.stop = 1; /* a writer held back by the lead stops */
        pthread_cond_signal(&p.cv);
        pthread_mutex_unlock(&p.mu);
        /* The writer may be blocked for good on a connection nobody reads
         * any more. Abandon it rather than join it: the process exits
         * right after, and freeing the connection under it would crash. */
        pthread_detach(th);
        memset(c, 0, offsetof(rtt_conn, error));
        return -1;
    }
    pthread_join(th, NULL);
    if (w.rc != 0) {
        snprintf(c->error, sizeof(c->error), "writer: %.200s", w.c.error);
        rc = -1;
    }
    return rc;
}

/* Blocking modes, one thread: write while within the lead, otherwise block
 * reading what has come back, as a single-threaded blocking client would. */
static int transfer_one_thread(rtt_conn *c, const uint8_t *src,
                               uint64_t total, uint64_t lead, uint8_t *buf)
{
    uint64_t sent = 0, got = 0;

    while (got < total) {
        size_t n = write_len(sent, got, total, lead);

        if (n > 0) {
            if (rtt_conn_write(c, src + sent, n) != 0)
                return -1;
            sent += n;
            continue;
        }
        if (rtt_conn_read_some(c, buf, CHUNK, &n) != 0
            || check(c, src, buf, n, got) != 0)
            return -1;
        got += n;
        alarm(STALL_S); /* progress: the watchdog starts again */
    }
    return 0;
}

/* app-driven: both directions in one loop, as a nonblocking application
 * would; waits only when neither direction can move. */
static int transfer_loop(rtt_conn *c, const uint8_t *src, uint64_t total,
                         uint64_t lead, uint8_t *buf)
{
    uint64_t sent = 0, got = 0, idle_since = bench_now_ns();
    SSL *ssl = c->ssl;

    while (got < total) {
        size_t n, len = write_len(sent, got, total, lead);
        int moved = 0;

        if (len > 0) {
            if (SSL_write_ex(ssl, src + sent, len, &n)) {
                sent += n;
                moved = 1;
            } else if (SSL_get_error(ssl, 0) != SSL_ERROR_WANT_WRITE
                       && SSL_get_error(ssl, 0) != SSL_ERROR_WANT_READ) {
                return rtt_conn_fail(c, "SSL_write_ex");
            }
        }
        if (SSL_read_ex(ssl, buf, CHUNK, &n)) {
            if (check(c, src, buf, n, got) != 0)
                return -1;
            got += n;
            moved = 1;
            alarm(STALL_S); /* progress: the watchdog starts again */
        } else if (SSL_get_error(ssl, 0) != SSL_ERROR_WANT_READ
                   && SSL_get_error(ssl, 0) != SSL_ERROR_WANT_WRITE) {
            return rtt_conn_fail(c, "SSL_read_ex (error %d)",
                                 SSL_get_error(ssl, 0));
        }
        if (moved) {
            idle_since = bench_now_ns();
            continue;
        }
        if (bench_now_ns() - idle_since
            > (uint64_t)RC_STEP_TIMEOUT_MS * 1000000u)
            return rtt_conn_fail(c, "no progress for %d ms",
                                 RC_STEP_TIMEOUT_MS);
        rtt_conn_app_wait(ssl, 100);
    }
    return 0;
}

static int child_main(void *arg, void *result, size_t len)
{
    const bulk_child_args *a = arg;
    bulk_child_result *res = result;
    uint8_t *src = malloc(a->bytes), *buf = malloc(CHUNK);
    uint64_t t0, cpu0;
    rtt_conn c;
    int rc;

    memset(res, 0, len);
    memset(&c, 0, sizeof(c));
    if (src == NULL || buf == NULL) {
        snprintf(res->error, sizeof(res->error), "out of memory");
        free(src);
        free(buf);
        return -1;
    }
    ts_fill_pattern(src, a->bytes, 0);
    if (rtt_conn_open(&c, a->mode, a->port, 0) != 0)
        goto fail;
    alarm(STALL_S);
    cpu0 = bench_process_cpu_ns();
    t0 = bench_now_ns();
    if (a->mode == RC_APP)
        rc = transfer_loop(&c, src, a->bytes, a->lead, buf);
    else if (a->threads == 2)
        rc = transfer_threads(&c, src, a->bytes, a->lead, buf);
    else
        rc = transfer_one_thread(&c, src, a->bytes, a->lead, buf);
    res->wall_ns = bench_now_ns() - t0;
    res->cpu_ns = bench_process_cpu_ns() - cpu0;
    alarm(0);
    res->drops = rtt_conn_socket_drops(&c);
    if (rc != 0)
        goto fail;
    res->bytes = a->bytes;
    rtt_conn_close(&c);
    free(src);
    free(buf);
    res->ok = 1;
    return 0;

fail:
    snprintf(res->error, sizeof(res->error), "%s", c.error);
    rtt_conn_close(&c);
    free(src);
    free(buf);
    return -1;
}

/* ---- the parent --------------------------------------------------------- */

/* CPU time of process |pid| so far (/proc/PID/stat utime + stime, in clock
 * ticks of 10 ms here), in ns; UINT64_MAX if unknown. */
static uint64_t proc_cpu_ns(pid_t pid)
{
    unsigned long long utime, stime;
    char path[64], buf[1024], *p;
    long hz = sysconf(_SC_CLK_TCK);
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return UINT64_MAX;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields 14 and 15, counted after the command name's closing paren. */
    if ((p = strrchr(buf, ')')) == NULL || hz <= 0
        || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
                         "%llu", &utime, &stime) != 2)
        return UINT64_MAX;
    return (utime + stime) * (1000000000ull / (unsigned long long)hz);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* The median of |n| values (sorted copy); the lower middle for even n. */
static double median(const double *v, unsigned n)
{
    double s[MAX_ROUNDS];

    if (n == 0)
        return 0;
    memcpy(s, v, n * sizeof(*s));
    qsort(s, n, sizeof(*s), cmp_double);
    return s[(n - 1) / 2];
}

enum { COL_MODE, COL_MIBPS, COL_RANGE, COL_RATIO, COL_CPU, COL_SRV_CPU,
       COL_DROPS, COL_NOTE, NCOLS };

static const char *const col_titles[NCOLS] = {
    "mode", "MiB/s (median)", "lowest - highest", "/app-driven",
    "client CPU", "server CPU", "client drops",
    "rounds lost"
};

static void print_results(const bulk_opts *o, bulk_mode_result *mr)
{
    bench_table *t = bench_table_new(NCOLS, col_titles);
    double app = 0;
    FILE *csv = NULL;
    int m;

    if (t == NULL)
        return;
    if ((o->modes & (1u << RC_APP)) && mr[RC_APP].rounds > 0)
        app = median(mr[RC_APP].mibps, mr[RC_APP].rounds);
    if (o->common.csv_dir != NULL
        && (csv = bench_csv_open(o->common.csv_dir, "bulk")) != NULL)
        fprintf(csv, "mode,measurement,value,unit\n");
    for (m = 0; m < RC_NMODES; m++) {
        char c[NCOLS][BENCH_TABLE_CELL];
        const char *cells[NCOLS];
        bulk_mode_result *r = &mr[m];
        double med, lo = 1e300, hi = 0;
        unsigned k;

        if (!(o->modes & (1u << m)))
            continue;
        memset(c, 0, sizeof(c));
        snprintf(c[COL_MODE], BENCH_TABLE_CELL, "%s", rtt_modes[m].name);
        if (r->failed > 0)
            snprintf(c[COL_NOTE], BENCH_TABLE_CELL, "%u of %u %s", r->failed,
                     r->failed + r->rounds,
                     r->stalled == r->failed ? "stalled" : "failed");
        if (r->rounds == 0) {
            snprintf(c[COL_MIBPS], BENCH_TABLE_CELL, "-");
        } else {
            med = median(r->mibps, r->rounds);
            for (k = 0; k < r->rounds; k++) {
                lo = r->mibps[k] < lo ? r->mibps[k] : lo;
                hi = r->mibps[k] > hi ? r->mibps[k] : hi;
            }
            snprintf(c[COL_MIBPS], BENCH_TABLE_CELL, "%.1f", med);
            snprintf(c[COL_RANGE], BENCH_TABLE_CELL, "%.1f - %.1f", lo, hi);
            if (app > 0)
                snprintf(c[COL_RATIO], BENCH_TABLE_CELL, "%.3f", med / app);
            else
                snprintf(c[COL_RATIO], BENCH_TABLE_CELL, "?");
            snprintf(c[COL_CPU], BENCH_TABLE_CELL, "%.0f%%",
                     median(r->cpu_pct, r->rounds));
            snprintf(c[COL_SRV_CPU], BENCH_TABLE_CELL, "%.0f%%",
                     median(r->server_pct, r->rounds));
            snprintf(c[COL_DROPS], BENCH_TABLE_CELL, "%.0f",
                     median(r->drops, r->rounds));
            if (csv != NULL) {
                fprintf(csv, "%s,throughput,%.0f,B/s\n", rtt_modes[m].name,
                        med * MIB);
                fprintf(csv, "%s,throughput_lowest,%.0f,B/s\n",
                        rtt_modes[m].name, lo * MIB);
                fprintf(csv, "%s,throughput_highest,%.0f,B/s\n",
                        rtt_modes[m].name, hi * MIB);
                if (app > 0)
                    fprintf(csv, "%s,throughput_ratio,%.4f,ratio\n",
                            rtt_modes[m].name, med / app);
                fprintf(csv, "%s,client_cpu,%.3f,cores\n",
                        rtt_modes[m].name,
                        median(r->cpu_pct, r->rounds) / 100);
                fprintf(csv, "%s,server_cpu,%.3f,cores\n",
                        rtt_modes[m].name,
                        median(r->server_pct, r->rounds) / 100);
                fprintf(csv, "%s,client_socket_drops,%.0f,count\n",
                        rtt_modes[m].name, median(r->drops, r->rounds));
            }
        }
        if (csv != NULL) {
            fprintf(csv, "%s,app_threads,%u,count\n", rtt_modes[m].name,
                    m == RC_APP ? 1u : o->threads);
            fprintf(csv, "%s,rounds_ok,%u,count\n", rtt_modes[m].name,
                    r->rounds);
            fprintf(csv, "%s,rounds_stalled,%u,count\n", rtt_modes[m].name,
                    r->stalled);
            fprintf(csv, "%s,rounds_failed,%u,count\n", rtt_modes[m].name,
                    r->failed);
        }
        for (k = 0; k < NCOLS; k++)
            cells[k] = c[k];
        (void)bench_table_add(t, cells);
    }
    if (csv != NULL)
        fclose(csv);
    bench_table_print(t, stdout, o->common.markdown);
    bench_table_free(t);
    for (m = 0; m < RC_NMODES; m++)
        if ((o->modes & (1u << m)) && mr[m].failed > 0)
            printf("! %s: %s\n", rtt_modes[m].name, mr[m].error);
    printf("\nMiB/s: %u MiB written and their echo read back and checked, "
           "/ the time from the first\n"
           "  write to the last byte of echo; the median of %u round(s). "
           "client CPU: the client\n"
           "  process's CPU time (all threads) / that time, %% of one "
           "core (median round).\n"
           "server CPU: the echo server process's CPU time over the "
           "client process's life (its\n"
           "  handshake included; 10 ms resolution) / the transfer time, "
           "%% of one core.\n"
           "client drops: datagrams the kernel dropped on the client's "
           "UDP socket because its\n"
           "  receive buffer was full (SO_MEMINFO), median round; each "
           "loss costs QUIC a\n"
           "  retransmission and congestion window.\n",
           o->mib, o->rounds);
}

static int run_all(const bulk_opts *o)
{
    bulk_mode_result mr[RC_NMODES];
    bench_server srv;
    unsigned r;
    int m;

    memset(mr, 0, sizeof(mr));
    if (ts_cert_get0() == NULL
        || bench_server_start(SERVER_IDLE_MS, &srv) != 0) {
        fprintf(stderr, "bulk: the echo server did not start\n");
        return BENCH_EXIT_FAILED;
    }
    for (r = 0; r < o->rounds; r++) {
        int k;

        for (k = 0; k < RC_NMODES; k++) {
            bulk_child_args a;
            bulk_child_result cr;
            uint64_t srv0, srv1;
            char why[160];

            m = (k + (int)r) % RC_NMODES;
            if (!(o->modes & (1u << m)))
                continue;
            memset(&cr, 0, sizeof(cr));
            srv0 = proc_cpu_ns(srv.pids[0]);
            fprintf(stderr, "\rbulk: round %u/%u %-10s", r + 1, o->rounds,
                    rtt_modes[m].name);
            a.mode = m;
            a.port = srv.port;
            a.bytes = (uint64_t)o->mib << 20;
            a.lead = (uint64_t)o->lead_kib << 10;
            a.threads = o->threads;
            if (bench_run_child(child_main, &a, &cr, sizeof(cr), why,
                                sizeof(why))
                != 0) {
                mr[m].failed++;
                if (strstr(why, "signal 14") != NULL) {
                    mr[m].stalled++;
                    snprintf(mr[m].error, sizeof(mr[m].error),
                             "no echo byte for %u s: stalled (watchdog)",
                             STALL_S);
                } else {
                    snprintf(mr[m].error, sizeof(mr[m].error), "%s", why);
                }
            } else if (!cr.ok) {
                mr[m].failed++;
                snprintf(mr[m].error, sizeof(mr[m].error), "%s", cr.error);
            } else {
                mr[m].mibps[mr[m].rounds] =
                    (double)cr.bytes / MIB / (cr.wall_ns / 1e9);
                mr[m].drops[mr[m].rounds] = (double)cr.drops;
                srv1 = proc_cpu_ns(srv.pids[0]);
                mr[m].server_pct[mr[m].rounds] =
                    srv0 == UINT64_MAX || srv1 == UINT64_MAX
                        ? -1
                        : 100.0 * (double)(srv1 - srv0) / (double)cr.wall_ns;
                mr[m].cpu_pct[mr[m].rounds++] =
                    100.0 * (double)cr.cpu_ns / (double)cr.wall_ns;
            }
            if (cr.ok == 0)
                fprintf(stderr, "\nbulk: %s: %s\n", rtt_modes[m].name,
                        mr[m].error);
        }
    }
    fprintf(stderr, "\rbulk: done%40s\n", "");
    bench_server_stop(&srv);
    print_results(o, mr);
    return BENCH_EXIT_OK;
}

#endif /* BENCH_HAVE_QUIC */

static int bulk_main(int argc, char **argv)
{
    enum { OPT_MIB = BENCH_OPT_OWN, OPT_ROUNDS, OPT_LEAD, OPT_THREADS,
           OPT_MODES };
    static const struct option longopts[] = {
        { "mib", required_argument, NULL, OPT_MIB },
        { "lead", required_argument, NULL, OPT_LEAD },
        { "threads", required_argument, NULL, OPT_THREADS },
        { "rounds", required_argument, NULL, OPT_ROUNDS },
        { "modes", required_argument, NULL, OPT_MODES },
        BENCH_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    bulk_opts o;
    int c, rc, set_mib = 0, set_rounds = 0;

    memset(&o, 0, sizeof(o));
    o.modes = RC_ALL_MODES;
    o.lead_kib = DEFAULT_LEAD_KIB;
    o.threads = DEFAULT_THREADS;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_MIB:
            if (bench_parse_uint(optarg, 1, 4096, &o.mib) != 0)
                goto bad;
            set_mib = 1;
            break;
        case OPT_ROUNDS:
            if (bench_parse_uint(optarg, 1, MAX_ROUNDS, &o.rounds) != 0)
                goto bad;
            set_rounds = 1;
            break;
        case OPT_LEAD:
            if (bench_parse_uint(optarg, 64, 1u << 20, &o.lead_kib) != 0)
                goto bad;
            break;
        case OPT_THREADS:
            if (bench_parse_uint(optarg, 1, 2, &o.threads) != 0)
                goto bad;
            break;
        case OPT_MODES:
            if (rtt_modes_parse(optarg, RC_NMODES, &o.modes) != 0)
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
    if (!set_mib)
        o.mib = o.common.quick ? QUICK_MIB : DEFAULT_MIB;
    if (!set_rounds)
        o.rounds = o.common.quick ? QUICK_ROUNDS : DEFAULT_ROUNDS;

    if (bench_quic_skipped("bulk"))
        return BENCH_EXIT_OK;
#if BENCH_HAVE_QUIC
    printf("bulk: %u MiB written and echoed back concurrently over one QUIC "
           "connection, the writer at most %u KiB ahead of the echo; %u "
           "round(s) per mode; %s\n",
           o.mib, o.lead_kib, o.rounds,
           o.threads == 2 ? "blocking modes: a writer and a reader thread"
                          : "one application thread");
    bench_print_environment(stdout, "bulk: ");
    fflush(stdout);
    return run_all(&o);
#else
    return BENCH_EXIT_OK; /* not reached: no QUIC in this build */
#endif

bad:
    return bench_opts_bad("bulk", usage);
}

const bench_scenario bench_bulk = {
    "bulk",
    "one QUIC connection's throughput, 64 MiB echoed: MiB/s per mode",
    bulk_main,
    usage,
};
