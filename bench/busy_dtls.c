/*
 * busy_dtls: the client process of the busy scenario over DTLS 1.2.
 *
 * DTLS does not retransmit application data: a record, once written, is one
 * datagram that either arrives or is lost, and no timer of OpenSSL's
 * depends on it. So "write, then compute" would measure nothing: every mode
 * sends every record at once, and the relay loses the same share of them.
 * What does need ticking is the handshake: its flights are retransmitted on
 * a timer, and the client has to answer the server's flight. So here the
 * application starts the connection and computes while it comes up, the way
 * a program opens its connections early and prepares its first message
 * meanwhile. At t0:
 *  1. it starts the handshake: app-driven, one nonblocking SSL_connect (the
 *     ClientHello leaves); tickless, tickless_conn_handshake(c, 0);
 *  2. it computes for busy_ms without calling into the connection;
 *  3. it asks the server whether it has completed the handshake;
 *  4. it writes the payload in dtls_msg-byte records (app-driven: a
 *     nonblocking SSL_write_ex per record, ticking its event loop whenever
 *     OpenSSL wants to wait, which finishes the handshake first; tickless:
 *     one tickless_conn_write per record);
 *  5. it waits until the server's count has not grown for twice the
 *     one-way delay plus 200 ms: what has not arrived by then was lost.
 * The server process notes when it completed the handshake and when its
 * count last grew (both checked every ms) and samples the count every
 * sample_ms from t0.
 */
#include "busy.h"

#include <stdlib.h>
#include <string.h>

#include "ts_net.h"
#include "ts_util.h"

#define TICK_MAX_MS 100
#define WAIT_STEP_MS 10
#define SETTLE_EXTRA_MS 200

typedef struct dtls_run {
    const busy_opts *o;
    int mode;
    lossy_path *path;
    busy_result *res;
    SSL_CTX *ctx;
    tickless_pool *pool;
    SSL *ssl;          /* app-driven: ours */
    tickless_conn *tc; /* tickless modes: owns the SSL object */
} dtls_run;

static int setup(dtls_run *r)
{
    SSL *ssl;
    int rc;

    if ((r->ctx = lossy_app_ctx(TS_DTLS, 0)) == NULL)
        return busy_fail(r->res, "client SSL_CTX");
    if ((rc = lossy_app_pool(r->mode, &r->pool)) != 0)
        return busy_fail(r->res, "tickless_pool_new: %s",
                         tickless_err_name(rc));
    if ((ssl = ts_client_new(r->ctx, TS_DTLS, r->path->port)) == NULL)
        return busy_fail(r->res, "creating the connection");
    if (!lossy_modes[r->mode].tickless) {
        r->ssl = ssl;
        /* The application's own loop polls; OpenSSL must not block. */
        if (ts_net_set_nonblock(SSL_get_fd(ssl), 1) != 0)
            return busy_fail(r->res, "nonblocking socket");
        return 0;
    }
    if ((rc = tickless_conn_new(ssl, r->pool, &r->tc)) != 0) {
        SSL_free(ssl);
        return busy_fail_tickless(r->res, NULL, "tickless_conn_new", rc);
    }
    return 0;
}

/* Step 1: the first flight leaves; nobody waits. */
static int start(dtls_run *r)
{
    int rc, ww;

    if (r->tc != NULL) {
        rc = tickless_conn_handshake(r->tc, 0);
        return rc == 0 || rc == TICKLESS_ERR_TIMEOUT
                   ? 0
                   : busy_fail_tickless(r->res, r->tc, "handshake", rc);
    }
    rc = SSL_connect(r->ssl);
    return rc == 1 || lossy_app_retry(r->ssl, rc, &ww)
               ? 0
               : busy_fail(r->res, "SSL_connect");
}

static int ready(dtls_run *r)
{
    if (r->tc != NULL)
        return tickless_conn_handshake(r->tc, 0) == 0;
    return SSL_is_init_finished(r->ssl);
}

/* Step 4: one record per |msg| bytes. */
static int write_all(dtls_run *r, const uint8_t *buf, size_t len,
                     uint64_t give_up)
{
    size_t done = 0, msg = r->o->dtls_msg, n;
    int rc, ww = 0;

    while (done < len) {
        size_t chunk = len - done < msg ? len - done : msg;

        if (r->tc != NULL) {
            rc = tickless_conn_write(r->tc, buf + done, chunk, &n,
                                     (int)r->o->give_up_ms);
            if (rc != 0) {
                r->res->sent = done;
                return busy_fail_tickless(r->res, r->tc, "write", rc);
            }
            done += chunk;
            continue;
        }
        if ((rc = SSL_write_ex(r->ssl, buf + done, chunk, &n))) {
            done += n;
            continue;
        }
        if (!lossy_app_retry(r->ssl, rc, &ww) || bench_now_ns() > give_up) {
            r->res->sent = done;
            return busy_fail(r->res, "SSL_write_ex");
        }
        lossy_app_tick(r->ssl, TS_DTLS, ww, TICK_MAX_MS);
    }
    r->res->sent = done;
    return 0;
}

/* Step 5: until the count has stopped growing. */
static int settle(dtls_run *r, uint64_t give_up)
{
    uint64_t quiet = ((uint64_t)r->o->delay_ms * 2 + SETTLE_EXTRA_MS)
                     * 1000000u;
    uint64_t written = bench_now_ns();
    lossy_status st;

    for (;;) {
        lossy_app_sleep_ms(WAIT_STEP_MS);
        if (lossy_path_status(r->path, &st) != 0)
            return busy_fail(r->res, "the server process is gone");
        if (st.now_ns > give_up
            || (st.now_ns >= written + quiet
                && st.now_ns >= st.last_growth_ns + quiet))
            return 0;
    }
}

static void teardown(dtls_run *r)
{
    if (r->tc != NULL)
        tickless_conn_close(r->tc);
    SSL_free(r->ssl);
    if (r->pool != NULL)
        (void)tickless_pool_free(r->pool);
    SSL_CTX_free(r->ctx);
}

static int run(dtls_run *r)
{
    const busy_opts *o = r->o;
    busy_result *res = r->res;
    uint64_t t0, give_up, ticks0, timer0;
    lossy_status st;
    uint8_t *buf;
    int rc;

    if (setup(r) != 0)
        return -1;
    if ((buf = malloc(o->payload)) == NULL)
        return busy_fail(res, "out of memory");
    ts_fill_pattern(buf, o->payload, 0);

    t0 = bench_now_ns();
    if (lossy_path_watch(r->path, t0, o->payload, 1, o->sample_ms) != 0) {
        free(buf);
        return busy_fail(res, "the server process is gone");
    }
    if (start(r) != 0) {
        free(buf);
        return -1;
    }
    res->busy_from_ns = bench_now_ns() - t0;
    busy_ticks(r->tc, &ticks0, &timer0);
    lossy_app_compute_until(t0 + (uint64_t)o->busy_ms * 1000000u, o->spin);
    busy_ticks(r->tc, &res->busy_ticks, &res->busy_timer_ticks);
    res->busy_ticks -= ticks0;
    res->busy_timer_ticks -= timer0;
    res->have_ticks = r->tc != NULL;
    res->client_ready = ready(r);
    if (lossy_path_status(r->path, &st) != 0) {
        free(buf);
        return busy_fail(res, "the server process is gone");
    }
    res->busy_to_ns = st.now_ns - t0;
    res->at_busy_end = st.bytes;
    res->hs_at_busy_end = st.handshakes;
    give_up = st.now_ns + (uint64_t)o->give_up_ms * 1000000u;
    rc = write_all(r, buf, o->payload, give_up);
    free(buf);
    if (rc != 0)
        return -1;
    res->written_ns = bench_now_ns() - t0;
    if (settle(r, give_up) != 0)
        return -1;
    return busy_collect(res, r->path, t0);
}

int busy_dtls_main(void *arg, void *result, size_t len)
{
    const busy_client_args *a = arg;
    dtls_run r;
    int rc;

    memset(result, 0, len);
    memset(&r, 0, sizeof(r));
    r.o = a->o;
    r.mode = a->mode;
    r.path = a->path;
    r.res = result;
    rc = run(&r);
    teardown(&r);
    r.res->ok = rc == 0;
    return rc;
}
