/*
 * server_scale_listener: the server process of the server-scale scenario.
 *
 * A pool of 2 assist threads and tickless_listen() with S shards on
 * 127.0.0.1, a free port: S OpenSSL listeners, each on its own UDP socket
 * (SO_REUSEPORT) and its own pool thread. A few worker threads accept
 * every connection and hold it, sending nothing, until the parent says
 * stop: the held connections are what each listener must tick on every
 * wake-up, so they are what slows a new handshake down. At the end the
 * server waits for every connection the client opened to be accepted:
 * one that never is was lost, one that is late says how far the accepts
 * lag behind the handshakes.
 *
 * After the measurement the server notes, for a sample of the accepted
 * connections, which OpenSSL listener each came from (SSL_get0_listener),
 * so that the table shows whether the kernel spread the clients over the
 * shards at all. Not on each accept: tickless_conn_lock() ticks the
 * connection's whole listener engine, every connection it holds, which
 * would slow down the very accepts being timed.
 */
#include "server_scale.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if BENCH_HAVE_QUIC

#include <pthread.h>

#include <tickless/tickless.h>

#include "ts_certs.h"

#define POOL_THREADS 2
#define WORKERS 2
#define SERVER_SCALE_MAX_PENDING 16384
#define ACCEPT_WAIT_NS 10000000000ull /* for the last accepts */
#define TALLY_SAMPLE 256 /* connections whose listener is looked up */
#define TALLY_STRIDE 7919 /* a prime: see tally_sample() */

typedef struct held_server {
    tickless_pool *pool;
    SSL_CTX *ctx;
    tickless_listener *l;
    pthread_t workers[WORKERS];
    unsigned nworkers;
    pthread_mutex_t mu;     /* guards what follows */
    pthread_cond_t more;    /* signalled on each accept */
    tickless_conn **conns;  /* accepted, held until the stop */
    size_t n, cap;
    const SSL *listeners[SERVER_SCALE_MAX_SHARDS]; /* in order first seen */
    server_scale_server_result res;
} held_server;

/* Notes which OpenSSL listener |c| came from. Caller holds hs->mu. */
static void tally_listener(held_server *hs, tickless_conn *c)
{
    SSL *ssl = tickless_conn_lock(c);
    const SSL *lst = ssl != NULL ? SSL_get0_listener(ssl) : NULL;
    unsigned i;

    if (ssl == NULL)
        return; /* closed already: its listener is not known */
    tickless_conn_unlock(c);
    for (i = 0; i < hs->res.listeners && hs->listeners[i] != lst; i++)
        ;
    if (i == hs->res.listeners && i < SERVER_SCALE_MAX_SHARDS)
        hs->listeners[hs->res.listeners++] = lst;
    if (i < SERVER_SCALE_MAX_SHARDS)
        hs->res.per_listener[i]++;
}

/* Keeps |c| until the stop; 0, or -1 (out of memory: |c| is closed). */
static int hold(held_server *hs, tickless_conn *c)
{
    int rc = 0;

    pthread_mutex_lock(&hs->mu);
    if (hs->n == hs->cap) {
        size_t cap = hs->cap ? hs->cap * 2 : 1024;
        tickless_conn **v = realloc(hs->conns, cap * sizeof(*v));

        if (v != NULL) {
            hs->conns = v;
            hs->cap = cap;
        }
    }
    if (hs->n < hs->cap) {
        hs->conns[hs->n++] = c;
        hs->res.accepted++;
        pthread_cond_signal(&hs->more);
    } else {
        rc = -1;
    }
    pthread_mutex_unlock(&hs->mu);
    if (rc != 0)
        tickless_conn_close(c);
    return rc;
}

/* A worker: accepts until the listener is closed. */
static void *worker(void *arg)
{
    held_server *hs = arg;
    tickless_conn *c;
    int rc;

    while ((rc = tickless_listener_accept(hs->l, &c, TICKLESS_FOREVER)) == 0)
        if (hold(hs, c) != 0)
            break;
    if (rc != 0 && rc != TICKLESS_ERR_CLOSED) {
        pthread_mutex_lock(&hs->mu);
        snprintf(hs->res.error, sizeof(hs->res.error),
                 "tickless_listener_accept: %s", tickless_err_name(rc));
        pthread_mutex_unlock(&hs->mu);
    }
    return NULL;
}

/* Starts the listener and its workers; returns the port, or 0. */
static uint16_t start(held_server *hs, unsigned shards)
{
    tickless_listen_options lo;
    int rc;

    tickless_listen_options_defaults(&lo);
    lo.shards = shards;
    /* No Retry round trip: a handshake is what is timed, not address
     * validation. */
    lo.listener_flags = SSL_LISTENER_FLAG_NO_VALIDATE;
    /* Room for every connection the workers have not taken yet. With
     * OpenSSL's 256 the queue filled at N = 1,000 (measured: the accepts
     * lag behind the handshakes the shards complete), and each client
     * past it lost a second to its retransmission: the 1 s handshake
     * tails of earlier runs. How far the accepts lag is printed as late
     * accepts. */
    lo.max_pending = SERVER_SCALE_MAX_PENDING;
    if ((rc = bench_pool_new(POOL_THREADS, "bench-server", &hs->pool)) != 0
        || (hs->ctx = ts_server_ctx(TS_QUIC)) == NULL
        || (rc = tickless_listen(hs->ctx, "127.0.0.1", "0", &lo, hs->pool,
                                 &hs->l))
               != 0) {
        fprintf(stderr, "server-scale: server: %s\n",
                hs->ctx == NULL && rc == 0 ? "no SSL_CTX"
                                           : tickless_err_name(rc));
        return 0;
    }
    for (; hs->nworkers < WORKERS; hs->nworkers++)
        if (pthread_create(&hs->workers[hs->nworkers], NULL, worker, hs) != 0)
            return 0;
    rc = tickless_listener_port(hs->l);
    return rc > 0 ? (uint16_t)rc : 0;
}

/* Waits until |expected| connections have been accepted, or a while. */
static void await_accepts(held_server *hs, uint32_t expected)
{
    uint64_t t0 = bench_now_ns();
    struct timespec until;
    unsigned before;

    clock_gettime(CLOCK_REALTIME, &until); /* the condition's clock */
    until.tv_sec += (time_t)(ACCEPT_WAIT_NS / 1000000000ull);
    pthread_mutex_lock(&hs->mu);
    before = hs->res.accepted;
    while (hs->res.accepted < expected
           && pthread_cond_timedwait(&hs->more, &hs->mu, &until) == 0)
        ;
    hs->res.late = hs->res.accepted - before;
    if (hs->res.late > 0)
        hs->res.late_ns = bench_now_ns() - t0;
    pthread_mutex_unlock(&hs->mu);
}

/* Which listener each of up to TALLY_SAMPLE connections came from, picked
 * by a prime stride through the accept order: an even stride would alias
 * with the order in which the workers drain the shards (one worker's
 * accepts, then the other's) and count one shard only. */
static void tally_sample(held_server *hs)
{
    size_t k, n;

    pthread_mutex_lock(&hs->mu);
    n = hs->n < TALLY_SAMPLE ? hs->n : TALLY_SAMPLE;
    for (k = 0; k < n; k++)
        tally_listener(hs, hs->conns[hs->n <= TALLY_SAMPLE
                                         ? k
                                         : (k * TALLY_STRIDE) % hs->n]);
    pthread_mutex_unlock(&hs->mu);
}

/* Closes everything, in the order tickless_listener_close() asks for. */
static void stop(held_server *hs)
{
    size_t i;

    if (hs->l != NULL)
        tickless_listener_close(hs->l);
    while (hs->nworkers > 0)
        pthread_join(hs->workers[--hs->nworkers], NULL);
    for (i = 0; i < hs->n; i++)
        tickless_conn_close(hs->conns[i]);
    free(hs->conns);
    tickless_listener_free(hs->l);
    if (hs->pool != NULL && tickless_pool_free(hs->pool) != 0)
        snprintf(hs->res.error, sizeof(hs->res.error),
                 "tickless_pool_free failed");
    SSL_CTX_free(hs->ctx);
}

int server_scale_listener_main(void *arg, int fd)
{
    static held_server hs;
    uint32_t expected = 0;
    uint16_t port;

    pthread_mutex_init(&hs.mu, NULL);
    pthread_cond_init(&hs.more, NULL);
    port = start(&hs, *(const unsigned *)arg);
    if (write(fd, &port, sizeof(port)) != (ssize_t)sizeof(port) || port == 0)
        return -1; /* the parent kills us */
    /* Hold everything until the parent says how many to expect (or just
     * shuts its side: 0). */
    if (read(fd, &expected, sizeof(expected)) != (ssize_t)sizeof(expected))
        expected = 0;
    await_accepts(&hs, expected);
    tally_sample(&hs);
    stop(&hs);
    hs.res.ok = hs.res.error[0] == '\0';
    return write(fd, &hs.res, sizeof(hs.res)) == (ssize_t)sizeof(hs.res)
               ? 0
               : -1;
}

#endif /* BENCH_HAVE_QUIC: without, server_scale.c never forks this */
