/*
 * busy_quic: the client process of the busy scenario over QUIC.
 *
 * One connection through the lossy relay. After the handshake (not timed
 * as part of the scenario), at t0:
 *  1. the application writes the payload (ts_fill_pattern bytes) on the
 *     default stream:
 *      - app-driven: nonblocking SSL_write_ex in a loop, one iteration of
 *        its event loop (poll + SSL_handle_events) whenever OpenSSL accepts
 *        nothing more, until OpenSSL has accepted every byte;
 *      - native: one blocking SSL_write_ex;
 *      - tickless: one tickless_conn_write;
 *  2. it computes for busy_ms without calling into the connection;
 *  3. it asks the server how many bytes it had then;
 *  4. it resumes: app-driven and native go back to the event loop
 *     (native's SSL_handle_events ticks just as well); the tickless modes
 *     have nothing to do, their assist works on;
 *  5. until the server has every byte, or give_up_ms after the busy period.
 * The server process notes when it had every byte (checked every ms) and
 * samples its count every sample_ms from t0.
 */
#include "busy.h"

#include <stdlib.h>
#include <string.h>

#include "ts_util.h"

#if BENCH_HAVE_QUIC

#include <openssl/quic.h>

#define HANDSHAKE_TIMEOUT_MS 30000
#define TICK_MAX_MS 100
#define WAIT_STEP_MS 5

typedef struct quic_run {
    const busy_opts *o;
    int mode;
    lossy_path *path;
    busy_result *res;
    SSL_CTX *ctx;
    tickless_pool *pool;
    SSL *ssl;          /* app-driven, native: ours */
    tickless_conn *tc; /* tickless modes: owns the SSL object */
} quic_run;

static int handshake(quic_run *r)
{
    uint64_t give_up = bench_now_ns() + HANDSHAKE_TIMEOUT_MS * 1000000ull;
    int rc, ww = 0;

    if (r->tc != NULL) {
        rc = tickless_conn_handshake(r->tc, HANDSHAKE_TIMEOUT_MS);
        return rc == 0 ? 0 : busy_fail_tickless(r->res, r->tc, "handshake",
                                                rc);
    }
    if (r->mode == LOSSY_NATIVE)
        return SSL_connect(r->ssl) == 1 ? 0
                                        : busy_fail(r->res, "SSL_connect");

    for (;;) {
        if ((rc = SSL_connect(r->ssl)) == 1)
            return 0;
        if (!lossy_app_retry(r->ssl, rc, &ww))
            return busy_fail(r->res, "SSL_connect");
        if (bench_now_ns() > give_up)
            return busy_fail(r->res, "handshake timed out");
        lossy_app_tick(r->ssl, TS_QUIC, ww, TICK_MAX_MS);
    }
}

static int setup(quic_run *r)
{
    SSL *ssl;
    int rc;

    if ((r->ctx = lossy_app_ctx(TS_QUIC, r->mode == LOSSY_NATIVE)) == NULL)
        return busy_fail(r->res, "client SSL_CTX");
    if ((rc = lossy_app_pool(r->mode, &r->pool)) != 0)
        return busy_fail(r->res, "tickless_pool_new: %s",
                         tickless_err_name(rc));
    if ((ssl = ts_client_new(r->ctx, TS_QUIC, r->path->port)) == NULL)
        return busy_fail(r->res, "creating the connection");
    if (!lossy_modes[r->mode].tickless) {
        r->ssl = ssl;
        if (r->mode == LOSSY_APP
            && (!SSL_set_blocking_mode(ssl, 0)
                || !(SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE)
                     & SSL_MODE_ENABLE_PARTIAL_WRITE)))
            return busy_fail(r->res, "nonblocking mode");
        return 0;
    }
    if ((rc = tickless_conn_new(ssl, r->pool, &r->tc)) != 0) {
        SSL_free(ssl);
        return busy_fail_tickless(r->res, NULL, "tickless_conn_new", rc);
    }
    return 0;
}

/* Step 1: hands the payload to OpenSSL (or tickless). */
static int write_all(quic_run *r, const uint8_t *buf, size_t len)
{
    size_t done = 0, n;
    int rc, ww = 0;

    if (r->tc != NULL) {
        rc = tickless_conn_write(r->tc, buf, len, &n,
                                 (int)r->o->give_up_ms);
        r->res->sent = n;
        return rc == 0 ? 0 : busy_fail_tickless(r->res, r->tc, "write", rc);
    }
    if (r->mode == LOSSY_NATIVE) {
        rc = SSL_write_ex(r->ssl, buf, len, &n);
        r->res->sent = rc ? n : 0;
        return rc ? 0 : busy_fail(r->res, "SSL_write_ex");
    }
    while (done < len) {
        if ((rc = SSL_write_ex(r->ssl, buf + done, len - done, &n))) {
            done += n;
            continue;
        }
        if (!lossy_app_retry(r->ssl, rc, &ww)) {
            r->res->sent = done;
            return busy_fail(r->res, "SSL_write_ex");
        }
        lossy_app_tick(r->ssl, TS_QUIC, ww, TICK_MAX_MS);
    }
    r->res->sent = done;
    return 0;
}

/* Steps 4-5: back to work until the server has everything. */
static int resume(quic_run *r, uint64_t give_up)
{
    lossy_status st;

    for (;;) {
        if (lossy_path_status(r->path, &st) != 0)
            return busy_fail(r->res, "the server process is gone");
        if (st.bytes_reached_ns != 0 || bench_now_ns() > give_up)
            return 0;
        if (r->tc != NULL)
            lossy_app_sleep_ms(WAIT_STEP_MS);
        else
            lossy_app_tick(r->ssl, TS_QUIC, 0, TICK_MAX_MS);
    }
}

static void teardown(quic_run *r)
{
    if (r->tc != NULL)
        tickless_conn_close(r->tc);
    SSL_free(r->ssl);
    if (r->pool != NULL)
        (void)tickless_pool_free(r->pool);
    SSL_CTX_free(r->ctx);
}

static int run(quic_run *r)
{
    const busy_opts *o = r->o;
    busy_result *res = r->res;
    uint8_t *buf;
    uint64_t t0, hs0, ticks0, timer0;
    lossy_status st;

    if (setup(r) != 0)
        return -1;
    hs0 = bench_now_ns();
    if (handshake(r) != 0)
        return -1;
    res->hs_ns = bench_now_ns() - hs0;
    if ((buf = malloc(o->payload)) == NULL)
        return busy_fail(res, "out of memory");
    ts_fill_pattern(buf, o->payload, 0);

    t0 = bench_now_ns();
    if (lossy_path_watch(r->path, t0, o->payload, 0, o->sample_ms) != 0) {
        free(buf);
        return busy_fail(res, "the server process is gone");
    }
    if (write_all(r, buf, o->payload) != 0) {
        free(buf);
        return -1;
    }
    free(buf);
    res->written_ns = bench_now_ns() - t0;
    res->busy_from_ns = res->written_ns;
    busy_ticks(r->tc, &ticks0, &timer0);
    lossy_app_compute_until(t0 + res->busy_from_ns
                                + (uint64_t)o->busy_ms * 1000000u,
                            o->spin);
    busy_ticks(r->tc, &res->busy_ticks, &res->busy_timer_ticks);
    res->busy_ticks -= ticks0;
    res->busy_timer_ticks -= timer0;
    res->have_ticks = r->tc != NULL;
    if (lossy_path_status(r->path, &st) != 0)
        return busy_fail(res, "the server process is gone");
    res->busy_to_ns = st.now_ns - t0;
    res->at_busy_end = st.bytes;
    res->hs_at_busy_end = st.handshakes;
    if (resume(r, st.now_ns + (uint64_t)o->give_up_ms * 1000000u) != 0)
        return -1;
    return busy_collect(res, r->path, t0);
}

int busy_quic_main(void *arg, void *result, size_t len)
{
    const busy_client_args *a = arg;
    quic_run r;
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

#else /* !BENCH_HAVE_QUIC */

int busy_quic_main(void *arg, void *result, size_t len)
{
    (void)arg;
    memset(result, 0, len);
    return -1;
}

#endif /* BENCH_HAVE_QUIC */
