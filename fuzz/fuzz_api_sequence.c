/*
 * fuzz_api_sequence: the public API driven by arbitrary call sequences
 * from two threads at once.
 *
 * An input is a list of 3-byte ops: opcode (bit 7 picks the thread, the
 * rest the call: fz_api_ops.c), then two argument bytes. Each thread runs
 * its ops in order, at most MAX_OPS of them, both at the same time, on one
 * shared table of connections, pools and a listener (fz_api.h), with real
 * connections to in-process QUIC, DTLS and TLS echo servers, to a port
 * that never answers, and to the table's own listener. Every call must
 * return within its timeout, with a code from its documented list (bad
 * arguments: exactly the one promised), failures must be sticky and wake
 * the calls blocked on the connection; after the input everything is
 * closed and every pool must free. ASan and LSan watch memory.
 *
 * Timeouts are short and each thread's add up to at most BUDGET_MS, so
 * one input costs well under a second. The servers and the two threads
 * live across inputs.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fz_api.h"
#include "ts_net.h"

#define MAX_OPS 32
#define BUDGET_MS 200

static fz_world g_w;
static int g_blackhole_fd = -1;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t gen;        /* bumped for each input */
    int done;            /* workers finished with this one */
    const uint8_t *data;
    size_t size;
} g_run = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0,
            NULL, 0 };

static uint64_t g_inputs, g_ops;

static void run_ops(int id, const uint8_t *data, size_t size)
{
    fz_worker k = { &g_w, id, BUDGET_MS, 0 };
    size_t i;

    for (i = 0; i + 3 <= size && k.ops < MAX_OPS; i += 3)
        if ((data[i] >> 7) == id)
            fz_api_op(&k, data[i] & 0x7f, data[i + 1], data[i + 2]);
    pthread_mutex_lock(&g_run.mu);
    g_ops += k.ops;
    pthread_mutex_unlock(&g_run.mu);
}

static void *worker_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t seen = 0;

    for (;;) {
        const uint8_t *data;
        size_t size;

        pthread_mutex_lock(&g_run.mu);
        while (g_run.gen == seen)
            pthread_cond_wait(&g_run.cv, &g_run.mu);
        seen = g_run.gen;
        data = g_run.data;
        size = g_run.size;
        pthread_mutex_unlock(&g_run.mu);

        run_ops(id, data, size);

        pthread_mutex_lock(&g_run.mu);
        g_run.done++;
        pthread_cond_broadcast(&g_run.cv);
        pthread_mutex_unlock(&g_run.mu);
    }
    return NULL;
}

static void teardown(void)
{
    int p;

    fprintf(stderr, "fuzz: API: inputs %llu, calls %llu\n",
            (unsigned long long)g_inputs, (unsigned long long)g_ops);
    fz_api_clear(&g_w);
    for (p = 0; p < 3; p++) {
        ts_server_stop(g_w.servers[p]);
        SSL_CTX_free(g_w.client_ctx[p]);
    }
    SSL_CTX_free(g_w.listener_ctx);
    close(g_blackhole_fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    pthread_t t;
    int p;

    (void)argc;
    (void)argv;
    pthread_mutex_init(&g_w.mu, NULL);
    pthread_cond_init(&g_w.cv, NULL);
    for (p = 0; p < 3; p++) {
        ts_server_options o = { .proto = (enum ts_proto)p,
                                .fast_dtls_timer = 1 };

        if (ts_server_start(&o, &g_w.servers[p]) != 0 ||
            (g_w.client_ctx[p] = ts_client_ctx((enum ts_proto)p)) == NULL)
            fz_die("could not start the %s test server",
                   ts_proto_name((enum ts_proto)p));
        g_w.echo_port[p] = ts_server_port(g_w.servers[p]);
    }
    g_w.listener_ctx = ts_server_ctx(TS_QUIC);
    g_blackhole_fd = ts_net_bind(SOCK_DGRAM, 0, 0, &g_w.blackhole_port);
    if (g_w.listener_ctx == NULL || g_blackhole_fd < 0 ||
        ts_net_set_nonblock(g_blackhole_fd, 1) != 0)
        fz_die("could not set up the listener context or the black hole");
    for (p = 0; p < 2; p++)
        if (pthread_create(&t, NULL, worker_main, (void *)(intptr_t)p) != 0 ||
            pthread_detach(t) != 0)
            fz_die("could not start the worker threads");
    atexit(teardown);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t start = fz_now_ns(), t0, t1;
    uint8_t junk[2048];
    int p;

    pthread_mutex_lock(&g_run.mu);
    g_run.data = data;
    g_run.size = size;
    g_run.done = 0;
    g_run.gen++;
    pthread_cond_broadcast(&g_run.cv);
    while (g_run.done < 2)
        pthread_cond_wait(&g_run.cv, &g_run.mu);
    pthread_mutex_unlock(&g_run.mu);

    g_inputs++;
    t0 = fz_now_ns();
    fz_api_clear(&g_w);
    t1 = fz_now_ns();
    /* What this input's connections left on the servers goes, so that
     * inputs do not pile up state there. */
    for (p = 0; p < 3; p++)
        if (atomic_exchange(&g_w.used[p], 0))
            ts_server_abort_connections(g_w.servers[p]);
    while (recv(g_blackhole_fd, junk, sizeof(junk), MSG_DONTWAIT) >= 0) {
    }
    fz_note("input: ops %.1f ms, clear %.1f ms, servers %.1f ms",
            (double)(t0 - start) / 1e6, (double)(t1 - t0) / 1e6,
            (double)(fz_now_ns() - t1) / 1e6);
    return 0;
}
