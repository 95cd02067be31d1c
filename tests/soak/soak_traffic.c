/*
 * soak_traffic: the application threads of the soak.
 *
 * Each thread owns a contiguous share of the connections and is the only
 * one to call into them, so a connection's stream offsets need no lock. It
 * first opens its share (QUIC handshakes through the lossy relay), then
 * loops until told to stop, each time on a connection picked at random:
 *  - mostly an echo of a random size (log-uniform, 1 byte to max_echo):
 *    the pattern of tests/support written at the connection's send offset,
 *    the echo read back and checked byte for byte at its receive offset;
 *  - now and then (reopen_per_mille) a close and a fresh connection in its
 *    place. The close is one of three kinds, at random: a graceful
 *    shutdown then close; an abrupt close right after writing bytes whose
 *    echo is still on its way; an abrupt close of an idle connection.
 * Any failed call or mismatch is counted as an error, reported on stderr
 * (the first few), and the connection is closed and later re-opened: the
 * run goes on so that one failure does not hide the figures.
 */
#include "soak.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts_certs.h"
#include "ts_util.h"

/* Errors described on stderr; the rest are only counted. */
#define REPORT_ERRORS 20

typedef struct slot {
    tickless_conn *c; /* NULL: to be (re-)opened */
    uint64_t tx, rx;  /* stream offsets: bytes written, bytes read back */
} slot;

typedef struct worker {
    soak_traffic *t;
    unsigned index;
    slot *slots; /* this thread's share; touched by this thread only */
    unsigned n;
    uint64_t rng;
    uint8_t *out, *in; /* max_echo bytes each */
    pthread_t thread;
    int started;
} worker;

struct soak_traffic {
    soak_traffic_options o; /* read-only after start */
    tickless_pool *pool;
    SSL_CTX *ctx;
    soak_counters *cnt;
    atomic_int stop;
    atomic_uint ready; /* threads that have opened their share */
    atomic_uint reported;
    worker *w;
    slot *slots;
};

static uint64_t rnd(worker *w, uint64_t n)
{
    return n == 0 ? 0 : ts_splitmix64(&w->rng) % n;
}

static void note_slowest(soak_counters *cnt, uint64_t ns)
{
    uint_fast64_t cur = atomic_load(&cnt->slowest_ns);

    while (ns > cur && !atomic_compare_exchange_weak(&cnt->slowest_ns, &cur, ns))
        ;
}

/* Counts an error and describes it (the first REPORT_ERRORS). */
static void fail(worker *w, slot *s, const char *what, int rc)
{
    soak_traffic *t = w->t;
    tickless_error_info ei = TICKLESS_ERROR_INFO_INIT;

    atomic_fetch_add(&t->cnt->errors, 1);
    if (atomic_fetch_add(&t->reported, 1) >= REPORT_ERRORS)
        return;
    if (s->c != NULL)
        (void)tickless_conn_error(s->c, &ei);
    fprintf(stderr,
            "soak: thread %u, connection %u: %s: %s (%s); offsets %" PRIu64
            "/%" PRIu64 "\n",
            w->index, (unsigned)(s - t->slots), what, tickless_err_name(rc),
            ei.message[0] != '\0' ? ei.message : "no details", s->tx, s->rx);
}

static void echo(worker *w, slot *s, size_t len);

static void open_slot(worker *w, slot *s)
{
    soak_traffic *t = w->t;
    SSL *ssl = ts_client_new(t->ctx, TS_QUIC, t->o.port);
    int rc;

    s->c = NULL;
    s->tx = s->rx = 0;
    if (ssl == NULL) {
        fail(w, s, "ts_client_new", TICKLESS_ERR_SSL);
        return;
    }
    if ((rc = tickless_conn_new(ssl, t->pool, &s->c)) != 0) {
        SSL_free(ssl);
        s->c = NULL;
        fail(w, s, "tickless_conn_new", rc);
        return;
    }
    if ((rc = tickless_conn_handshake(s->c, t->o.call_timeout_ms)) != 0) {
        fail(w, s, "handshake", rc);
        tickless_conn_close(s->c);
        s->c = NULL;
        return;
    }
    atomic_fetch_add(&t->cnt->opened, 1);
    /* The largest echo first: OpenSSL's stream buffers grow to the most
     * they have held and stay so. Filled at once, a connection's memory is
     * what it will be for life; otherwise the process's total would creep
     * up for several connection lifetimes (a minute or more each) as the
     * population ages, a trend that only looks like a leak. */
    echo(w, s, t->o.max_echo);
}

static void close_slot(worker *w, slot *s)
{
    tickless_conn_close(s->c);
    s->c = NULL;
    atomic_fetch_add(&w->t->cnt->closed, 1);
}

/* A random size, log-uniform from 1 to max_echo. */
static size_t echo_size(worker *w)
{
    size_t max = w->t->o.max_echo, top = 1;
    unsigned bits = 0;

    while (((size_t)2 << bits) <= max)
        bits++;
    top = (size_t)1 << rnd(w, bits + 1); /* a power of two up to max */
    return 1 + (size_t)rnd(w, top < max ? top : max);
}

/* Writes |len| pattern bytes at the send offset; 0 or the error. */
static int send_pattern(worker *w, slot *s, size_t len)
{
    size_t done = 0;
    int rc;

    ts_fill_pattern(w->out, len, s->tx);
    rc = tickless_conn_write(s->c, w->out, len, &done, w->t->o.call_timeout_ms);
    s->tx += done;
    return rc;
}

/* One echo of |len| bytes, checked; on failure the connection is closed. */
static void echo(worker *w, slot *s, size_t len)
{
    soak_traffic *t = w->t;
    size_t got = 0;
    uint64_t t0 = ts_now_ns();
    int rc;

    if ((rc = send_pattern(w, s, len)) != 0) {
        fail(w, s, "write", rc);
        close_slot(w, s);
        return;
    }
    while (got < len) {
        size_t n = 0, bad;

        rc = tickless_conn_read(s->c, w->in, len - got, &n,
                                t->o.call_timeout_ms);
        if (rc != 0) {
            fail(w, s, "read", rc);
            close_slot(w, s);
            return;
        }
        if ((bad = ts_check_pattern(w->in, n, s->rx)) != n) {
            s->rx += bad;
            fail(w, s, "echo differs from what was sent", 0);
            close_slot(w, s);
            return;
        }
        s->rx += n;
        got += n;
    }
    note_slowest(t->cnt, ts_now_ns() - t0);
    atomic_fetch_add(&t->cnt->exchanges, 1);
    atomic_fetch_add(&t->cnt->bytes, len);
}

/* Closes |s| one of three ways, at random, and opens a fresh one. */
static void reopen(worker *w, slot *s)
{
    soak_traffic *t = w->t;
    int rc;

    switch (rnd(w, 3)) {
    case 0: /* graceful */
        if ((rc = tickless_conn_shutdown(s->c, t->o.call_timeout_ms)) != 0)
            fail(w, s, "shutdown", rc);
        else
            atomic_fetch_add(&t->cnt->graceful, 1);
        break;
    case 1: /* abrupt, with an echo on its way back */
        if ((rc = send_pattern(w, s, echo_size(w))) != 0)
            fail(w, s, "write before close", rc);
        break;
    default: /* abrupt, idle */
        break;
    }
    close_slot(w, s);
    open_slot(w, s);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    soak_traffic *t = w->t;
    unsigned i;

    for (i = 0; i < w->n && !atomic_load(&t->stop); i++)
        open_slot(w, &w->slots[i]);
    atomic_fetch_add(&t->ready, 1);
    while (!atomic_load(&t->stop)) {
        slot *s = &w->slots[rnd(w, w->n)];

        if (s->c == NULL)
            open_slot(w, s);
        else if (rnd(w, 1000) < t->o.reopen_per_mille)
            reopen(w, s);
        else
            echo(w, s, echo_size(w));
    }
    return NULL;
}

static void traffic_free(soak_traffic *t)
{
    unsigned i;

    for (i = 0; i < t->o.threads; i++) {
        free(t->w[i].out);
        free(t->w[i].in);
    }
    for (i = 0; i < t->o.conns; i++)
        if (t->slots[i].c != NULL)
            tickless_conn_close(t->slots[i].c);
    free(t->w);
    free(t->slots);
    free(t);
}

int soak_traffic_start(const soak_traffic_options *o, tickless_pool *pool,
                       SSL_CTX *ctx, soak_counters *cnt, soak_traffic **out)
{
    soak_traffic *t = calloc(1, sizeof(*t));
    unsigned i, first = 0;

    *out = NULL;
    if (t == NULL)
        return -1;
    t->o = *o;
    t->pool = pool;
    t->ctx = ctx;
    t->cnt = cnt;
    t->w = calloc(o->threads, sizeof(*t->w));
    t->slots = calloc(o->conns, sizeof(*t->slots));
    if (t->w == NULL || t->slots == NULL || o->threads == 0
        || o->conns < o->threads) {
        free(t->w);
        free(t->slots);
        free(t);
        return -1;
    }
    for (i = 0; i < o->threads; i++) {
        worker *w = &t->w[i];
        unsigned share = o->conns / o->threads + (i < o->conns % o->threads);

        w->t = t;
        w->index = i;
        w->slots = t->slots + first;
        w->n = share;
        first += share;
        w->rng = o->seed * 1000003u + i;
        w->out = malloc(o->max_echo);
        w->in = malloc(o->max_echo);
        if (w->out == NULL || w->in == NULL)
            break;
    }
    for (i = 0; i < o->threads && t->w[i].in != NULL; i++) {
        if (pthread_create(&t->w[i].thread, NULL, worker_main, &t->w[i]) != 0)
            break;
        t->w[i].started = 1;
    }
    if (i < o->threads) {
        atomic_store(&t->stop, 1);
        while (i-- > 0)
            pthread_join(t->w[i].thread, NULL);
        traffic_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int soak_traffic_ready(soak_traffic *t)
{
    return atomic_load(&t->ready) == t->o.threads;
}

void soak_traffic_stop(soak_traffic *t)
{
    unsigned i;

    if (t == NULL)
        return;
    atomic_store(&t->stop, 1);
    for (i = 0; i < t->o.threads; i++)
        if (t->w[i].started)
            pthread_join(t->w[i].thread, NULL);
    traffic_free(t);
}
