/* The QUIC echo service: see echo_service.h. */
#define _POSIX_C_SOURCE 200809L

#include "echo_service.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_WORKERS 256

struct echo_service {
    tickless_listener *listener;
    pthread_t threads[MAX_WORKERS];
    int nthreads;
    int stall_ms;
    atomic_uint_fast64_t accepted, streams, resets, bytes;
};

/* Echoes |s| until the client's FIN (then concludes ours) or an error. */
static void echo_stream(echo_service *svc, tickless_stream *s)
{
    char buf[16384];
    size_t n, written;
    int rc;

    while ((rc = tickless_stream_read(s, buf, sizeof(buf), &n,
                                      svc->stall_ms)) == 0) {
        rc = tickless_stream_write(s, buf, n, &written, svc->stall_ms);
        atomic_fetch_add(&svc->bytes, written);
        if (rc != 0)
            break;
    }
    if (rc == TICKLESS_ERR_EOF && tickless_stream_conclude(s) == 0)
        atomic_fetch_add(&svc->streams, 1);
    else if (rc == TICKLESS_ERR_STREAM_RESET)
        atomic_fetch_add(&svc->resets, 1);
    else if (rc == TICKLESS_ERR_TIMEOUT)
        (void)tickless_stream_reset(s, 0); /* stalled: let it go */
    /* Otherwise (TICKLESS_ERR_PEER, _CLOSED) the connection is gone. */
}

static void *worker(void *arg)
{
    echo_service *svc = arg;
    tickless_stream *s;

    /* Ends when echo_service_stop() closes the listener. */
    while (tickless_listener_accept_stream(svc->listener, &s,
                                           TICKLESS_FOREVER)
           == 0) {
        atomic_fetch_add(&svc->accepted, 1);
        echo_stream(svc, s);
        tickless_stream_close(s);
    }
    return NULL;
}

int echo_service_start(SSL *listener, tickless_pool *pool, int workers,
                       int stall_ms, echo_service **out)
{
    echo_service *svc;
    int rc;

    *out = NULL;
    if (workers < 1 || workers > MAX_WORKERS || stall_ms < 1) {
        SSL_free(listener);
        return TICKLESS_ERR_INVALID;
    }
    svc = calloc(1, sizeof(*svc));
    if (svc == NULL) {
        SSL_free(listener);
        return TICKLESS_ERR_NOMEM;
    }
    svc->stall_ms = stall_ms;
    rc = tickless_listener_new(listener, pool, &svc->listener);
    if (rc != 0) {
        SSL_free(listener);
        free(svc);
        return rc;
    }
    for (; svc->nthreads < workers; svc->nthreads++) {
        if (pthread_create(&svc->threads[svc->nthreads], NULL, worker, svc)
            != 0) {
            echo_service_stop(svc);
            return TICKLESS_ERR_SYS;
        }
    }
    *out = svc;
    return 0;
}

void echo_service_get_stats(echo_service *svc, echo_service_stats *out)
{
    out->accepted = atomic_load(&svc->accepted);
    out->streams = atomic_load(&svc->streams);
    out->resets = atomic_load(&svc->resets);
    out->bytes = atomic_load(&svc->bytes);
}

void echo_service_stop(echo_service *svc)
{
    int i;

    if (svc == NULL)
        return;
    /* Wakes the workers' accepts and ends the connections they serve. */
    tickless_listener_close(svc->listener);
    for (i = 0; i < svc->nthreads; i++)
        pthread_join(svc->threads[i], NULL);
    tickless_listener_free(svc->listener);
    free(svc);
}
