/*
 * ts_server: the protocol-independent part of the test servers: start and
 * stop, counters, the abort handshake and the echo output queue.
 */
#include "ts_server_local.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <unistd.h>

#include "ts_util.h"

static void *server_thread(void *arg)
{
    ts_server *s = arg;
    sigset_t pipe_only;

    /* A server writing to a client that has gone must get EPIPE, not kill
     * the test process with SIGPIPE. Blocked here, it stays pending on this
     * thread and is never delivered. */
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, NULL);

    switch (s->opt.proto) {
    case TS_QUIC:
        ts_server_quic_run(s);
        break;
    case TS_DTLS:
        ts_server_dtls_run(s);
        break;
    case TS_TLS:
        ts_server_tls_run(s);
        break;
    }
    /* Nobody may wait for an abort that this thread will never carry out. */
    pthread_mutex_lock(&s->mu);
    s->thread_exited = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void server_free(ts_server *s)
{
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    SSL_CTX_free(s->ctx);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int ts_server_start(const ts_server_options *o, ts_server **out)
{
    ts_server *s;
    int rc = -1;

    if (o == NULL || out == NULL)
        return -1;
    *out = NULL;
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return -1;
    s->opt = *o;
    s->wake_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if ((s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        goto fail;
    if ((s->ctx = ts_server_ctx(o->proto)) == NULL)
        goto fail;

    switch (o->proto) {
    case TS_QUIC:
        rc = ts_server_quic_open(s);
        break;
    case TS_DTLS:
        rc = ts_server_dtls_open(s);
        break;
    case TS_TLS:
        rc = ts_server_tls_open(s);
        break;
    }
    if (rc != 0)
        goto fail;
    if (pthread_create(&s->thread, NULL, server_thread, s) != 0) {
        /* The run function frees impl; run it with stop already set. */
        atomic_store(&s->stop, 1);
        server_thread(s);
        goto fail;
    }
    s->thread_started = 1;
    *out = s;
    return 0;

fail:
    server_free(s);
    return -1;
}

static void server_wake(ts_server *s)
{
    uint64_t one = 1;

    /* Can only fail if the counter is about to overflow: it is awake then. */
    if (write(s->wake_fd, &one, sizeof(one)) < 0) {
        /* nothing to do */
    }
}

void ts_server_drain_wake(ts_server *s)
{
    uint64_t v;

    if (read(s->wake_fd, &v, sizeof(v)) < 0) {
        /* EAGAIN: already drained */
    }
}

void ts_server_stop(ts_server *s)
{
    if (s == NULL)
        return;
    atomic_store(&s->stop, 1);
    server_wake(s);
    if (s->thread_started)
        pthread_join(s->thread, NULL);
    server_free(s);
}

uint16_t ts_server_port(const ts_server *s)
{
    return s->port;
}

uint64_t ts_server_bytes_received(ts_server *s)
{
    return atomic_load(&s->bytes_received);
}

uint64_t ts_server_pattern_errors(ts_server *s)
{
    return atomic_load(&s->pattern_errors);
}

uint64_t ts_server_connections_accepted(ts_server *s)
{
    return atomic_load(&s->accepted);
}

int ts_server_handshakes_completed(ts_server *s)
{
    return atomic_load(&s->handshakes);
}

int ts_server_connections_open(ts_server *s)
{
    return atomic_load(&s->open_conns);
}

int ts_server_wait_bytes_received(ts_server *s, uint64_t n,
                                  unsigned timeout_ms)
{
    uint64_t deadline = ts_now_ns() + (uint64_t)timeout_ms * 1000000u;

    /* Polling is fine here: a test helper, 1 ms granularity, bounded. */
    while (atomic_load(&s->bytes_received) < n) {
        if (ts_now_ns() >= deadline)
            return -1;
        ts_sleep_ms(1);
    }
    return 0;
}

void ts_server_abort_connections(ts_server *s)
{
    uint64_t gen;

    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    gen = ++s->abort_requested;
    server_wake(s);
    while (s->abort_done < gen && !s->thread_exited)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

uint64_t ts_server_abort_pending(ts_server *s)
{
    uint64_t gen = 0;

    pthread_mutex_lock(&s->mu);
    if (s->abort_requested > s->abort_done)
        gen = s->abort_requested;
    pthread_mutex_unlock(&s->mu);
    return gen;
}

void ts_server_abort_ack(ts_server *s, uint64_t gen)
{
    pthread_mutex_lock(&s->mu);
    if (gen > s->abort_done)
        s->abort_done = gen;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int ts_server_timeout_ms(const struct timeval *tv, int is_infinite)
{
    uint64_t ms;

    if (is_infinite)
        return TS_MAX_SLEEP_MS;
    ms = (uint64_t)tv->tv_sec * 1000u + ((uint64_t)tv->tv_usec + 999u) / 1000u;
    return ms > TS_MAX_SLEEP_MS ? TS_MAX_SLEEP_MS : (int)ms;
}

