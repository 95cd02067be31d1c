/*
 * latency_conn: one QUIC client connection in one of the five modes, for
 * the wake and rearm scenarios.
 *
 *  - app-driven: OpenSSL alone, nonblocking, and the application thread is
 *    the only one that ticks, as OpenSSL's nonblocking demos do it
 *    (demos/guide/quic-client-non-block.c): wait in select()/poll() for the
 *    socket with SSL_get_event_timeout() as the timeout, then
 *    SSL_handle_events(). Here ppoll() with the timeout at the microsecond
 *    OpenSSL gives, like the demo's select().
 *  - native: an OSSL_QUIC_client_thread_method() context, blocking calls;
 *    OpenSSL's assist thread ticks at deadlines.
 *  - dedicated, pool-1, pool-2: tickless, blocking tickless_conn_* calls.
 */
#include "latency.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#if BENCH_HAVE_QUIC

#include <sys/time.h>

#include "ts_certs.h"

#define HANDSHAKE_TIMEOUT_MS 10000

static int conn_fail(lat_conn *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->error, sizeof(c->error), fmt, ap);
    va_end(ap);
    bench_ssl_add_reason(c->error, sizeof(c->error));
    return -1;
}

static int conn_fail_tickless(lat_conn *c, const char *what, int rc)
{
    tickless_error_info e = TICKLESS_ERROR_INFO_INIT;

    if (c->tc != NULL)
        (void)tickless_conn_error(c->tc, &e);
    return conn_fail(c, "%s: %s%s%s", what, tickless_err_name(rc),
                     e.message[0] ? ": " : "", e.message);
}

/*
 * app-driven: one turn of the application's own loop. Waits until the
 * socket wants attention, |fd| (-1: none) is readable, OpenSSL's deadline
 * or |until_ns|, whichever comes first, then lets OpenSSL handle whatever
 * is due. Returns 1 if |fd| is readable, else 0.
 */
static int app_turn(lat_conn *c, int fd, uint64_t until_ns)
{
    struct pollfd p[2] = { { c->fd, 0, 0 }, { fd, POLLIN, 0 } };
    uint64_t now = bench_now_ns();
    uint64_t wait = until_ns > now ? until_ns - now : 0;
    struct timeval tv;
    struct timespec ts;
    int inf = 1;

    if (SSL_get_event_timeout(c->ssl, &tv, &inf) && !inf) {
        uint64_t t = (uint64_t)tv.tv_sec * 1000000000u
                   + (uint64_t)tv.tv_usec * 1000u;

        if (t < wait)
            wait = t;
    }
    if (SSL_net_read_desired(c->ssl))
        p[0].events |= POLLIN;
    if (SSL_net_write_desired(c->ssl))
        p[0].events |= POLLOUT;
    ts.tv_sec = (time_t)(wait / 1000000000u);
    ts.tv_nsec = (long)(wait % 1000000000u);
    if (ppoll(p, fd >= 0 ? 2 : 1, &ts, NULL) < 0 && errno != EINTR)
        return 0;
    (void)SSL_handle_events(c->ssl);
    return fd >= 0 && (p[1].revents & (POLLIN | POLLHUP)) != 0;
}

static int tickless_setup(lat_conn *c, SSL *ssl)
{
    unsigned threads = lat_modes[c->mode].pool_threads;
    int rc;

    if (threads > 0) {
        tickless_pool_options po;

        tickless_pool_options_defaults(&po);
        po.threads = threads;
        po.thread_name = "bench-pool";
        if ((rc = tickless_pool_new(&po, &c->pool)) != 0) {
            SSL_free(ssl);
            return conn_fail(c, "tickless_pool_new: %s",
                             tickless_err_name(rc));
        }
    }
    if ((rc = tickless_conn_new(ssl, c->pool, &c->tc)) != 0) {
        SSL_free(ssl); /* still ours on failure */
        return conn_fail(c, "tickless_conn_new: %s", tickless_err_name(rc));
    }
    if ((rc = tickless_conn_handshake(c->tc, HANDSHAKE_TIMEOUT_MS)) != 0)
        return conn_fail_tickless(c, "handshake", rc);
    return 0;
}

int lat_conn_open(lat_conn *c, int mode, uint16_t port, uint64_t idle_ms)
{
    uint64_t give_up = bench_now_ns() + HANDSHAKE_TIMEOUT_MS * 1000000ull;
    SSL *ssl;
    int rc;

    memset(c, 0, sizeof(*c));
    c->mode = mode;
    c->fd = -1;
    c->ctx = mode == LAT_NATIVE ? bench_ssl_native_ctx() : ts_client_ctx(TS_QUIC);
    if (c->ctx == NULL)
        return conn_fail(c, "client SSL_CTX");
    if ((ssl = ts_client_new(c->ctx, TS_QUIC, port)) == NULL)
        return conn_fail(c, "client SSL");
    ts_quic_set_idle_timeout(ssl, idle_ms);
    c->fd = SSL_get_fd(ssl);
    if (lat_modes[mode].tickless)
        return tickless_setup(c, ssl);
    c->ssl = ssl;
    if (mode == LAT_NATIVE) {
        /* Blocking, as native is meant to be used: OpenSSL polls the
         * socket itself while a call blocks. */
        if (SSL_connect(ssl) != 1)
            return conn_fail(c, "handshake");
        return 0;
    }
    if (!SSL_set_blocking_mode(ssl, 0))
        return conn_fail(c, "SSL_set_blocking_mode");
    while ((rc = SSL_connect(ssl)) != 1) {
        if (!bench_ssl_would_block(ssl, rc))
            return conn_fail(c, "handshake");
        if (bench_now_ns() > give_up)
            return conn_fail(c, "handshake timed out");
        (void)app_turn(c, -1, give_up);
    }
    return 0;
}

int lat_conn_write(lat_conn *c, const void *buf, size_t len)
{
    size_t done = 0, n;
    int rc;

    if (c->tc != NULL) {
        rc = tickless_conn_write(c->tc, buf, len, &n, HANDSHAKE_TIMEOUT_MS);
        return rc == 0 ? 0 : conn_fail_tickless(c, "write", rc);
    }
    while (done < len) {
        if (SSL_write_ex(c->ssl, (const char *)buf + done, len - done, &n)) {
            done += n;
            continue;
        }
        if (c->mode == LAT_NATIVE || !bench_ssl_would_block(c->ssl, 0))
            return conn_fail(c, "SSL_write_ex");
        (void)app_turn(c, -1, bench_now_ns() + 1000000000u);
    }
    return 0;
}

int lat_conn_read(lat_conn *c, void *buf, size_t len, int timeout_ms)
{
    uint64_t end = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
    size_t done = 0, n;
    int rc;

    while (done < len) {
        uint64_t now = bench_now_ns();
        int left = now >= end ? 0 : (int)((end - now) / 1000000u) + 1;

        if (c->tc != NULL) {
            rc = tickless_conn_read(c->tc, (char *)buf + done, len - done,
                                    &n, left);
            if (rc != 0)
                return conn_fail_tickless(c, "read", rc);
            done += n;
            continue;
        }
        if (SSL_read_ex(c->ssl, (char *)buf + done, len - done, &n)) {
            done += n;
            continue;
        }
        if (c->mode == LAT_NATIVE || !bench_ssl_would_block(c->ssl, 0))
            return conn_fail(c, "SSL_read_ex");
        if (now >= end)
            return conn_fail(c, "read timed out");
        (void)app_turn(c, -1, end);
    }
    return 0;
}

int lat_conn_idle(lat_conn *c, int fd, uint64_t until_ns)
{
    for (;;) {
        uint64_t now = bench_now_ns();
        struct pollfd p = { fd, POLLIN, 0 };
        int rc;

        if (c->mode == LAT_APP) {
            if (app_turn(c, fd, until_ns))
                return 1;
            if (bench_now_ns() >= until_ns)
                return 0;
            continue;
        }
        if (now >= until_ns)
            return 0;
        /* Millisecond resolution is enough here: nothing is timed by this
         * thread's wake-up (the relay stamps the datagrams). */
        rc = poll(&p, fd >= 0 ? 1 : 0,
                  (int)((until_ns - now + 999999u) / 1000000u));
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

int lat_conn_deadline(lat_conn *c, uint64_t *deadline_ns, uint64_t *assist_ns)
{
    SSL *ssl = c->ssl;
    struct timeval tv;
    uint64_t t0;
    int inf = 1, ok;

    if (assist_ns != NULL)
        *assist_ns = 0;
    if (c->tc != NULL && (ssl = tickless_conn_lock(c->tc)) == NULL)
        return conn_fail(c, "tickless_conn_lock");
    /* Read after the lock is held: waiting for it is not part of the
     * timeout OpenSSL computes. */
    t0 = bench_now_ns();
    ok = SSL_get_event_timeout(ssl, &tv, &inf);
    if (c->tc != NULL)
        tickless_conn_unlock(c->tc);
    if (!ok || inf)
        return conn_fail(c, "SSL_get_event_timeout: no deadline");
    *deadline_ns = t0 + (uint64_t)tv.tv_sec * 1000000000u
                 + (uint64_t)tv.tv_usec * 1000u;
    if (c->tc != NULL && assist_ns != NULL) {
        tickless_stats st = TICKLESS_STATS_INIT;

        if (tickless_conn_stats(c->tc, &st) == 0)
            *assist_ns = st.deadline_ns;
    }
    return 0;
}

int lat_conn_assist_lateness(lat_conn *c, uint64_t *p50_ns, uint64_t *p99_ns,
                             uint64_t *timer_ticks, uint64_t *wakeups)
{
    if (c->pool != NULL) {
        struct tickless_pool_stats st = TICKLESS_POOL_STATS_INIT;

        if (tickless_pool_stats(c->pool, &st) != 0)
            return -1;
        *p50_ns = st.lateness_p50_ns;
        *p99_ns = st.lateness_p99_ns;
        *timer_ticks = st.timer_ticks;
        *wakeups = st.wakeups;
        return 0;
    }
    if (c->tc != NULL) {
        tickless_stats st = TICKLESS_STATS_INIT;

        if (tickless_conn_stats(c->tc, &st) != 0)
            return -1;
        *p50_ns = st.lateness_p50_ns;
        *p99_ns = st.lateness_p99_ns;
        *timer_ticks = st.timer_ticks;
        *wakeups = st.wakeups;
        return 0;
    }
    return -1;
}

int lat_conn_ticks(lat_conn *c, uint64_t *io_ticks, uint64_t *timer_ticks)
{
    tickless_stats st = TICKLESS_STATS_INIT;

    if (c->tc == NULL || tickless_conn_stats(c->tc, &st) != 0)
        return -1;
    *io_ticks = st.io_ticks;
    *timer_ticks = st.timer_ticks;
    return 0;
}

void lat_conn_close(lat_conn *c)
{
    if (c->tc != NULL)
        tickless_conn_close(c->tc);
    else
        SSL_free(c->ssl);
    c->tc = NULL;
    c->ssl = NULL;
    if (c->pool != NULL)
        (void)tickless_pool_free(c->pool);
    c->pool = NULL;
    SSL_CTX_free(c->ctx);
    c->ctx = NULL;
}

#else /* !BENCH_HAVE_QUIC */

int lat_conn_open(lat_conn *c, int mode, uint16_t port, uint64_t idle_ms)
{
    (void)port;
    (void)idle_ms;
    memset(c, 0, sizeof(*c));
    c->mode = mode;
    snprintf(c->error, sizeof(c->error), "no QUIC in this build");
    return -1;
}

int lat_conn_write(lat_conn *c, const void *buf, size_t len)
{
    (void)c;
    (void)buf;
    (void)len;
    return -1;
}

int lat_conn_read(lat_conn *c, void *buf, size_t len, int timeout_ms)
{
    (void)c;
    (void)buf;
    (void)len;
    (void)timeout_ms;
    return -1;
}

int lat_conn_idle(lat_conn *c, int fd, uint64_t until_ns)
{
    (void)c;
    (void)fd;
    (void)until_ns;
    return -1;
}

int lat_conn_deadline(lat_conn *c, uint64_t *deadline_ns, uint64_t *assist_ns)
{
    (void)c;
    (void)deadline_ns;
    (void)assist_ns;
    return -1;
}

int lat_conn_assist_lateness(lat_conn *c, uint64_t *p50_ns, uint64_t *p99_ns,
                             uint64_t *timer_ticks, uint64_t *wakeups)
{
    (void)c;
    (void)p50_ns;
    (void)p99_ns;
    (void)timer_ticks;
    (void)wakeups;
    return -1;
}

int lat_conn_ticks(lat_conn *c, uint64_t *io_ticks, uint64_t *timer_ticks)
{
    (void)c;
    (void)io_ticks;
    (void)timer_ticks;
    return -1;
}

void lat_conn_close(lat_conn *c)
{
    (void)c;
}

#endif /* BENCH_HAVE_QUIC */
