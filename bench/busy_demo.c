/*
 * tickless-demo: the busy-application scenario, side by side.
 *
 * An application writes 256 KiB over QUIC through a path with 5% loss and
 * 20 ms delay, then computes for 3 s without touching the connection.
 *
 *  - app-driven: the application ticks OpenSSL from its own loop
 *    (SSL_get_event_timeout + poll + SSL_handle_events), as OpenSSL's
 *    nonblocking demos do. While it computes, nobody ticks.
 *  - tickless:   the application uses blocking tickless calls; an assist
 *    thread ticks behind its back.
 *
 * Both run in this one process against the same in-process server, one
 * after the other, with the same relay seed.
 */
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <tickless/tickless.h>

#include "ts_certs.h"
#include "ts_relay.h"
#include "ts_server.h"
#include "ts_util.h"

#if TS_HAVE_QUIC

#define PAYLOAD (256u << 10)
#define BUSY_MS 3000u
#define GIVE_UP_MS 30000u

typedef struct result {
    uint64_t delivered_while_busy;
    double all_delivered_ms; /* from the start of the write; <0: never */
} result;

typedef struct watch {
    ts_server *srv;
    uint64_t start;
    atomic_int stop;
    double all_ms;
} watch;

/* Notes when the server has the whole payload, independently of the
 * application thread, which may be busy at that moment. */
static void *watch_main(void *arg)
{
    watch *w = arg;

    w->all_ms = -1;
    while (!atomic_load(&w->stop)) {
        if (ts_server_bytes_received(w->srv) >= PAYLOAD) {
            w->all_ms = (ts_now_ns() - w->start) / 1e6;
            break;
        }
        ts_sleep_ms(1);
    }
    return NULL;
}

static int start_path(ts_server **srv, ts_relay **relay)
{
    ts_server_options so = { 0 };
    ts_relay_options ro = { 0 };

    so.proto = TS_QUIC;
    so.sink = 1;
    ro.seed = 42;
    ro.loss = 0.05;
    ro.delay_ms = 20;
    if (ts_server_start(&so, srv) != 0)
        return -1;
    if (ts_relay_start(ts_server_port(*srv), &ro, relay) != 0) {
        ts_server_stop(*srv);
        return -1;
    }
    return 0;
}

/* One iteration of an application's own event loop. */
static void app_tick(SSL *ssl, int fd)
{
    struct timeval tv;
    int infinite = 1, ms = 100;
    struct pollfd p = { fd, POLLIN, 0 };

    if (SSL_get_event_timeout(ssl, &tv, &infinite) && !infinite)
        ms = (int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
    if (ms > 100)
        ms = 100;
    poll(&p, 1, ms);
    SSL_handle_events(ssl);
}

static int run_app_driven(result *r)
{
    ts_server *srv;
    ts_relay *relay;
    SSL_CTX *ctx;
    SSL *ssl;
    static uint8_t buf[PAYLOAD];
    size_t queued = 0;
    uint64_t t0, give_up;
    int fd;

    if (start_path(&srv, &relay) != 0)
        return -1;
    ctx = ts_client_ctx(TS_QUIC);
    ssl = ts_client_new(ctx, TS_QUIC, ts_relay_port(relay));
    SSL_CTX_free(ctx);
    if (ssl == NULL)
        return -1;
    SSL_set_blocking_mode(ssl, 0);
    SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE);
    fd = SSL_get_fd(ssl);
    while (SSL_connect(ssl) != 1)
        app_tick(ssl, fd);

    ts_fill_pattern(buf, PAYLOAD, 0);
    t0 = ts_now_ns();
    while (queued < PAYLOAD) {
        size_t n = 0;

        if (SSL_write_ex(ssl, buf + queued, PAYLOAD - queued, &n))
            queued += n;
        else
            app_tick(ssl, fd);
    }
    ts_sleep_ms(BUSY_MS); /* computing: nobody ticks */
    r->delivered_while_busy = ts_server_bytes_received(srv);
    /* Back in the event loop until everything has arrived. */
    give_up = t0 + (uint64_t)GIVE_UP_MS * 1000000u;
    while (ts_server_bytes_received(srv) < PAYLOAD && ts_now_ns() < give_up)
        app_tick(ssl, fd);
    r->all_delivered_ms = ts_server_bytes_received(srv) >= PAYLOAD
                              ? (ts_now_ns() - t0) / 1e6
                              : -1;
    SSL_free(ssl);
    ts_relay_stop(relay);
    ts_server_stop(srv);
    return 0;
}

static int run_tickless(result *r)
{
    ts_server *srv;
    ts_relay *relay;
    tickless_conn *c;
    SSL_CTX *ctx;
    SSL *ssl;
    static uint8_t buf[PAYLOAD];
    pthread_t watcher;
    watch w;
    size_t n;
    uint64_t give_up;
    int rc;

    if (start_path(&srv, &relay) != 0)
        return -1;
    ctx = ts_client_ctx(TS_QUIC);
    ssl = ts_client_new(ctx, TS_QUIC, ts_relay_port(relay));
    SSL_CTX_free(ctx);
    if (ssl == NULL || tickless_conn_new(ssl, NULL, &c) != 0)
        return -1;
    rc = tickless_conn_handshake(c, 20000);
    if (rc != 0) {
        fprintf(stderr, "handshake: %s\n", tickless_strerror(rc));
        return -1;
    }
    ts_fill_pattern(buf, PAYLOAD, 0);
    w.srv = srv;
    w.start = ts_now_ns();
    atomic_init(&w.stop, 0);
    pthread_create(&watcher, NULL, watch_main, &w);

    rc = tickless_conn_write(c, buf, PAYLOAD, &n, 20000);
    ts_sleep_ms(BUSY_MS); /* computing: the assist ticks */
    r->delivered_while_busy = ts_server_bytes_received(srv);
    give_up = w.start + (uint64_t)GIVE_UP_MS * 1000000u;
    while (ts_server_bytes_received(srv) < PAYLOAD && ts_now_ns() < give_up)
        ts_sleep_ms(10);
    atomic_store(&w.stop, 1);
    pthread_join(watcher, NULL);
    r->all_delivered_ms = w.all_ms;
    tickless_conn_close(c);
    ts_relay_stop(relay);
    ts_server_stop(srv);
    return rc == 0 ? 0 : -1;
}

static void print_row(const char *name, const result *r)
{
    char all[32];

    if (r->all_delivered_ms < 0)
        snprintf(all, sizeof(all), "not within %us", GIVE_UP_MS / 1000);
    else
        snprintf(all, sizeof(all), "%.0f ms", r->all_delivered_ms);
    printf("%-12s %10" PRIu64 " / %u (%5.1f%%)   %s\n", name,
           r->delivered_while_busy, PAYLOAD,
           100.0 * (double)r->delivered_while_busy / PAYLOAD, all);
}

int main(void)
{
    result app = { 0, -1 }, tl = { 0, -1 };

    printf("Busy application: write %u KiB over QUIC (5%% loss, 20 ms "
           "delay), then compute %u ms.\n%s\n\n",
           PAYLOAD >> 10, BUSY_MS, OpenSSL_version(OPENSSL_VERSION));
    if (run_app_driven(&app) != 0 || run_tickless(&tl) != 0) {
        fprintf(stderr, "demo failed to run\n");
        return 1;
    }
    printf("%-12s %31s   %s\n", "mode", "delivered while app was busy",
           "time to deliver all");
    print_row("app-driven", &app);
    print_row("tickless", &tl);
    if (app.all_delivered_ms > 0 && tl.all_delivered_ms > 0)
        printf("\ntickless delivered everything %.1fx sooner.\n",
               app.all_delivered_ms / tl.all_delivered_ms);
    return 0;
}

#else /* !TS_HAVE_QUIC */

int main(void)
{
    fprintf(stderr, "tickless-demo needs OpenSSL >= 3.5 for its QUIC server; "
                    "this build has %s.\nRun it with scripts/demo, which uses "
                    "a Debian 13 root.\n",
            OpenSSL_version(OPENSSL_VERSION));
    return 2;
}

#endif
