/*
 * server_scale_client: the client process of the server-scale scenario. It
 * opens N connections that the server then holds, times a burst of K new
 * handshakes against it, checks that the N are still up, and exits.
 *
 * The client should cost little, so that what is timed is the server:
 * every connection is a tickless client on one pool of 1 thread, which
 * ticks a connection only at its deadlines; an idle held connection wakes
 * it only for OpenSSL's keep-alive PING (every 15 s under the 30 s idle
 * timeout that the server's OpenSSL asks for and the client does not
 * lower). Handshakes run from --window threads at once, each blocking in
 * tickless_conn_handshake(), so that every handshake's own time from
 * connect to done is known exactly (a single thread waiting for the
 * oldest of a window would stamp the others late), and so that the server
 * gets several ClientHellos per wake-up, as a busy server does.
 */
#include "server_scale.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if BENCH_HAVE_QUIC

#include <pthread.h>
#include <stdatomic.h>

#include <tickless/tickless.h>

#include "ts_certs.h"

#define HANDSHAKE_TIMEOUT_MS 60000
/* The burst is timed in parts, 3 s apart. The held connections' keep-alive
 * PINGs come every 15 s (half the server's 30 s idle timeout), in a wave
 * as long as their opening took, and each costs the server a tick of its
 * whole listener: a burst timed in one go measured whichever moment of
 * that cycle it hit (the same run gave 760 and 162 handshakes/s). Five
 * parts 3 s apart sample the whole cycle. A smoke run (--quick) does
 * without the gaps: it checks the numbers are sane, not how fast. */
#define BURST_PARTS 5
#define PART_GAP_US 3000000

/* One client process's state. */
typedef struct held_client {
    uint16_t port;
    SSL_CTX *ctx;
    tickless_pool *pool;
    tickless_conn **conns; /* [0, N) held, [N, N + K) the burst's */
    /* The range being connected by the window's threads: */
    size_t to;
    atomic_size_t next;
    uint64_t *lat;         /* [i - from]: handshake i's time; or NULL */
    size_t from;
    atomic_int failed;
    pthread_mutex_t mu;    /* guards res->error */
    server_scale_client_result *res;
} held_client;

/* Records the first failure only: later ones are its consequences. */
static void fail(held_client *hc, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&hc->mu);
    if (!atomic_exchange(&hc->failed, 1)) {
        va_start(ap, fmt);
        vsnprintf(hc->res->error, sizeof(hc->res->error), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&hc->mu);
}

/* Opens connection |i| and waits for its handshake; 0 or -1. */
static int connect_one(held_client *hc, size_t i)
{
    tickless_error_info e = TICKLESS_ERROR_INFO_INIT;
    SSL *ssl = ts_client_new(hc->ctx, TS_QUIC, hc->port);
    int rc;

    if (ssl == NULL) {
        fail(hc, "creating connection %zu (descriptor limit?)", i);
        return -1;
    }
    /* 0: no limit of the client's own, so the server's governs and the
     * client sends keep-alives only as often as that requires. */
    ts_quic_set_idle_timeout(ssl, 0);
    if ((rc = tickless_conn_new(ssl, hc->pool, &hc->conns[i])) != 0) {
        SSL_free(ssl); /* still ours on failure */
        fail(hc, "tickless_conn_new %zu: %s", i, tickless_err_name(rc));
        return -1;
    }
    rc = tickless_conn_handshake(hc->conns[i], HANDSHAKE_TIMEOUT_MS);
    if (rc != 0) {
        (void)tickless_conn_error(hc->conns[i], &e);
        fail(hc, "handshake %zu: %s%s%s", i, tickless_err_name(rc),
             e.message[0] ? ": " : "", e.message);
        return -1;
    }
    return 0;
}

/* One of the window's threads: takes the next index until none is left. */
static void *connector(void *arg)
{
    held_client *hc = arg;

    while (!atomic_load(&hc->failed)) {
        size_t i = atomic_fetch_add(&hc->next, 1);
        uint64_t t0 = bench_now_ns();

        if (i >= hc->to || connect_one(hc, i) != 0)
            break;
        if (hc->lat != NULL)
            hc->lat[i - hc->from] = bench_now_ns() - t0;
    }
    return NULL;
}

/* Connections [from, to) with |window| handshakes in flight, the time of
 * each in lat[i - from] if |lat|; returns the wall time, or 0 on failure. */
static uint64_t connect_range(held_client *hc, size_t from, size_t to,
                              unsigned window, uint64_t *lat)
{
    pthread_t th[SERVER_SCALE_MAX_WINDOW];
    uint64_t t0 = bench_now_ns();
    unsigned n = 0;

    hc->from = from;
    hc->to = to;
    hc->lat = lat;
    atomic_store(&hc->next, from);
    while (n < window && n < to - from
           && pthread_create(&th[n], NULL, connector, hc) == 0)
        n++;
    if (n == 0 && to > from)
        fail(hc, "no connector thread");
    while (n > 0)
        pthread_join(th[--n], NULL);
    return atomic_load(&hc->failed) ? 0 : bench_now_ns() - t0;
}

/* 1 if |c| has closed or is closing. */
static int conn_closed(tickless_conn *c)
{
    SSL_CONN_CLOSE_INFO info;
    SSL *ssl = tickless_conn_lock(c);
    int closed;

    if (ssl == NULL)
        return 1;
    closed = SSL_get_conn_close_info(ssl, &info, sizeof(info)) == 1;
    tickless_conn_unlock(c);
    return closed;
}

/* Holds N, times the burst of K in BURST_PARTS parts; 0 or -1 with
 * res->error set. */
static int measure(held_client *hc, const server_scale_opts *o, unsigned n)
{
    server_scale_client_result *res = hc->res;
    uint64_t *lat = calloc(o->burst, sizeof(*lat));
    uint64_t cpu0, cpu = 0, burst = 0;
    size_t per = (o->burst + BURST_PARTS - 1) / BURST_PARTS;
    size_t from, to, i;

    if (lat == NULL) {
        fail(hc, "out of memory");
        return -1;
    }
    res->held_ns = connect_range(hc, 0, n, o->window, NULL);
    for (from = n; from < n + o->burst && !atomic_load(&hc->failed);
         from = to) {
        uint64_t part;

        to = from + per < n + o->burst ? from + per : n + o->burst;
        if (from > n && !o->common.quick)
            usleep(PART_GAP_US);
        cpu0 = bench_process_cpu_ns();
        part = connect_range(hc, from, to, o->window, lat + (from - n));
        cpu += bench_process_cpu_ns() - cpu0;
        burst += part;
    }
    res->burst_ns = atomic_load(&hc->failed) ? 0 : burst;
    if (res->burst_ns > 0)
        res->cpu_pct = 100.0 * (double)cpu / (double)res->burst_ns;
    res->lat_p50_ns = bench_percentile(lat, o->burst, 50);
    res->lat_p99_ns = bench_percentile(lat, o->burst, 99);
    free(lat);
    for (i = 0; i < n && !atomic_load(&hc->failed); i++)
        res->held_closed += (unsigned)conn_closed(hc->conns[i]);
    return atomic_load(&hc->failed) ? -1 : 0;
}

int server_scale_client_main(void *arg, void *result, size_t len)
{
    const server_scale_client_args *a = arg;
    static held_client hc;
    int rc;

    memset(result, 0, len);
    hc.res = result;
    hc.port = a->port;
    hc.res->held = a->n;
    hc.res->burst = a->o->burst;
    pthread_mutex_init(&hc.mu, NULL);
    if ((hc.conns = calloc(a->n + a->o->burst, sizeof(*hc.conns))) == NULL
        || (hc.ctx = ts_client_ctx(TS_QUIC)) == NULL
        || bench_pool_new(1, "bench-client", &hc.pool) != 0) {
        fail(&hc, "client setup");
        return -1;
    }
    /* Nothing is closed: the process ends with every connection open, and
     * its sockets go without a word. A CONNECTION_CLOSE would race the
     * server's accepts (a connection closed before its accept leaves the
     * queue), and the server is to show that it accepted all of them. */
    rc = measure(&hc, a->o, a->n);
    hc.res->ok = rc == 0;
    return rc;
}

#endif /* BENCH_HAVE_QUIC: without, server_scale.c never forks this */
