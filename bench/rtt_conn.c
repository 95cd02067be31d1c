/*
 * rtt_conn: one QUIC client connection in one of five modes (see
 * rtt_conn.h), plus the little the rtt, bulk and tick-cost scenarios share
 * for reporting.
 */
#include "rtt_conn.h"

#include <stdarg.h>
#include <string.h>

const rtt_mode rtt_modes[RC_NALL] = {
    { "app-driven", "plain OpenSSL, nonblocking; the caller polls and calls "
                    "SSL_handle_events", 0, 0, 0 },
    { "native", "OSSL_QUIC_client_thread_method(), blocking calls", 0, 0,
      0 },
    { "dedicated", "tickless_conn_new(ssl, NULL, ...): a tickless thread", 1,
      0, 0 },
    { "pool-1", "a tickless pool of 1 thread", 1, 1, 1 },
    { "pool-2", "a tickless pool of 2 threads", 1, 1, 2 },
    { "app-pool", "a tickless pool of 0 threads, run by the application", 1,
      1, 0 },
};

int rtt_modes_parse(const char *s, int nmodes, unsigned *mask)
{
    return bench_parse_modes(s, &rtt_modes[0].name, sizeof(rtt_modes[0]),
                             (size_t)nmodes, mask);
}

void rtt_modes_usage(FILE *out, int nmodes, int indent)
{
    int i;

    for (i = 0; i < nmodes; i++)
        fprintf(out, "%*s%-10s %s\n", indent, "", rtt_modes[i].name,
                rtt_modes[i].what);
}

#if BENCH_HAVE_QUIC

#include <poll.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "ts_certs.h"

/* Both sides' QUIC idle timeout: a dead server ends a blocked call. */
#define QUIC_IDLE_MS 30000u

int rtt_conn_fail(rtt_conn *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->error, sizeof(c->error), fmt, ap);
    va_end(ap);
    bench_ssl_add_reason(c->error, sizeof(c->error));
    return -1;
}

static int fail_tickless(rtt_conn *c, const char *what, int rc)
{
    tickless_error_info e = TICKLESS_ERROR_INFO_INIT;

    if (c->tc != NULL)
        (void)tickless_conn_error(c->tc, &e);
    return rtt_conn_fail(c, "%s: %s%s%s", what, tickless_err_name(rc),
                         e.message[0] ? ": " : "", e.message);
}

void rtt_conn_app_wait(SSL *ssl, int max_ms)
{
    struct pollfd p = { SSL_get_fd(ssl), 0, 0 };
    struct timespec ts = { max_ms / 1000, (long)(max_ms % 1000) * 1000000L };
    struct timeval tv;
    int inf = 1;

    if (SSL_net_read_desired(ssl))
        p.events |= POLLIN;
    if (SSL_net_write_desired(ssl))
        p.events |= POLLOUT;
    /* ppoll: the event timeout has microsecond resolution, as select()'s
     * timeval in OpenSSL's demo. */
    if (SSL_get_event_timeout(ssl, &tv, &inf) && !inf
        && (tv.tv_sec < ts.tv_sec
            || (tv.tv_sec == ts.tv_sec && tv.tv_usec * 1000L < ts.tv_nsec))) {
        ts.tv_sec = tv.tv_sec;
        ts.tv_nsec = tv.tv_usec * 1000L;
    }
    (void)ppoll(&p, 1, &ts, NULL);
    (void)SSL_handle_events(ssl);
}

/* Whether the app-driven loop has waited too long for one step. */
static int step_expired(uint64_t start_ns)
{
    return bench_now_ns() - start_ns
           > (uint64_t)RC_STEP_TIMEOUT_MS * 1000000u;
}

static int app_handshake(rtt_conn *c)
{
    uint64_t t0 = bench_now_ns();
    int rc;

    while ((rc = SSL_connect(c->ssl)) != 1) {
        if (!bench_ssl_would_block(c->ssl, rc))
            return rtt_conn_fail(c, "handshake");
        if (step_expired(t0))
            return rtt_conn_fail(c, "handshake timed out");
        rtt_conn_app_wait(c->ssl, 100);
    }
    return 0;
}

/* Dissolves the socket's association with the server: the kernel then
 * delivers datagrams from any address, and the BIO names the peer of each
 * datagram it sends and receives. Before the handshake. */
static int unconnect(rtt_conn *c)
{
    struct sockaddr sa;
    BIO *bio = SSL_get_rbio(c->ssl);

    memset(&sa, 0, sizeof(sa));
    sa.sa_family = AF_UNSPEC;
    if (bio == NULL
        || BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, NULL) <= 0
        || connect(SSL_get_fd(c->ssl), &sa, sizeof(sa)) != 0)
        return rtt_conn_fail(c, "unconnecting the socket");
    return 0;
}

/* An application-driven pool has nobody else to run it: the handshake
 * alternates a try with a run of the pool. */
static int app_pool_handshake(rtt_conn *c)
{
    uint64_t t0 = bench_now_ns();
    int rc;

    while ((rc = tickless_conn_handshake(c->tc, 0)) != 0) {
        if (rc != TICKLESS_ERR_TIMEOUT)
            return fail_tickless(c, "handshake", rc);
        if (step_expired(t0))
            return rtt_conn_fail(c, "handshake timed out");
        if ((rc = tickless_pool_run(c->pool, 100)) < 0)
            return fail_tickless(c, "tickless_pool_run", rc);
    }
    return 0;
}

int rtt_conn_open(rtt_conn *c, int mode, uint16_t port, unsigned flags)
{
    int rc;

    memset(c, 0, sizeof(*c));
    c->mode = mode;
    c->fd = -1;
    c->ctx = mode == RC_NATIVE ? bench_ssl_native_ctx() : ts_client_ctx(TS_QUIC);
    if (c->ctx == NULL)
        return rtt_conn_fail(c, "client SSL_CTX");
    if ((c->ssl = ts_client_new(c->ctx, TS_QUIC, port)) == NULL)
        return rtt_conn_fail(c, "client SSL");
    c->fd = SSL_get_fd(c->ssl);
    ts_quic_set_idle_timeout(c->ssl, QUIC_IDLE_MS);
    if ((flags & RC_UNCONNECTED) && unconnect(c) != 0)
        return -1;
    if (mode == RC_NATIVE) {
        /* Blocking: OpenSSL waits on the socket in the calling thread. */
        if (SSL_connect(c->ssl) != 1)
            return rtt_conn_fail(c, "handshake");
        return 0;
    }
    if (mode == RC_APP) {
        if (!SSL_set_blocking_mode(c->ssl, 0))
            return rtt_conn_fail(c, "SSL_set_blocking_mode");
        SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE);
        return app_handshake(c);
    }
    if (rtt_modes[mode].pool) {
        tickless_pool_options po;

        tickless_pool_options_defaults(&po);
        po.threads = rtt_modes[mode].pool_threads;
        po.thread_name = "bench-pool";
        if ((rc = tickless_pool_new(&po, &c->pool)) != 0)
            return fail_tickless(c, "tickless_pool_new", rc);
    }
    if ((rc = tickless_conn_new(c->ssl, c->pool, &c->tc)) != 0) {
        rc = fail_tickless(c, "tickless_conn_new", rc);
        SSL_free(c->ssl); /* still ours */
        c->ssl = NULL;
        return rc;
    }
    if (mode == RC_APP_POOL)
        return app_pool_handshake(c);
    if ((rc = tickless_conn_handshake(c->tc, RC_STEP_TIMEOUT_MS)) != 0)
        return fail_tickless(c, "handshake", rc);
    return 0;
}

/*
 * app-pool: tickless calls that only try (timeout 0), and while they cannot
 * complete, the calling thread runs the pool itself: it sleeps in the
 * pool's epoll set and ticks the connection when the response arrives.
 * No thread hands anything to another: what remains over app-driven is
 * tickless's own bookkeeping around the tick.
 */
static int app_pool_wait(rtt_conn *c, uint64_t t0)
{
    int rc;

    if (step_expired(t0))
        return rtt_conn_fail(c, "no progress for %d ms", RC_STEP_TIMEOUT_MS);
    if ((rc = tickless_pool_run(c->pool, 100)) < 0)
        return fail_tickless(c, "tickless_pool_run", rc);
    return 0;
}

static int app_pool_write(rtt_conn *c, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint64_t t0 = bench_now_ns();
    size_t done = 0, n;
    int rc;

    while (done < len) {
        rc = tickless_conn_write(c->tc, p + done, len - done, &n, 0);
        done += n;
        if (rc == 0)
            break;
        if (rc != TICKLESS_ERR_TIMEOUT)
            return fail_tickless(c, "tickless_conn_write", rc);
        if (n > 0)
            t0 = bench_now_ns();
        if (app_pool_wait(c, t0) != 0)
            return -1;
    }
    return 0;
}

static int app_pool_read_some(rtt_conn *c, void *buf, size_t cap,
                              size_t *n)
{
    uint64_t t0 = bench_now_ns();
    int rc;

    for (;;) {
        rc = tickless_conn_read(c->tc, buf, cap, n, 0);
        if (rc == 0)
            return 0;
        if (rc != TICKLESS_ERR_TIMEOUT)
            return fail_tickless(c, "tickless_conn_read", rc);
        if (app_pool_wait(c, t0) != 0)
            return -1;
    }
}

int rtt_conn_write(rtt_conn *c, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint64_t t0;
    size_t done = 0, n;
    int rc;

    if (c->mode == RC_APP_POOL)
        return app_pool_write(c, buf, len);
    if (c->tc != NULL) {
        rc = tickless_conn_write(c->tc, buf, len, &n, RC_STEP_TIMEOUT_MS);
        return rc == 0 ? 0 : fail_tickless(c, "tickless_conn_write", rc);
    }
    if (c->mode == RC_NATIVE) {
        /* Blocking, no partial writes: all or an error. */
        if (!SSL_write_ex(c->ssl, buf, len, &n) || n != len)
            return rtt_conn_fail(c, "SSL_write_ex");
        return 0;
    }
    t0 = bench_now_ns();
    while (done < len) {
        if (SSL_write_ex(c->ssl, p + done, len - done, &n)) {
            done += n;
            t0 = bench_now_ns();
            continue;
        }
        if (!bench_ssl_would_block(c->ssl, 0))
            return rtt_conn_fail(c, "SSL_write_ex");
        if (step_expired(t0))
            return rtt_conn_fail(c, "write timed out");
        rtt_conn_app_wait(c->ssl, 100);
    }
    return 0;
}

int rtt_conn_read_some(rtt_conn *c, void *buf, size_t cap, size_t *n)
{
    uint64_t t0 = bench_now_ns();
    int rc;

    *n = 0;
    if (c->mode == RC_APP_POOL)
        return app_pool_read_some(c, buf, cap, n);
    if (c->tc != NULL) {
        rc = tickless_conn_read(c->tc, buf, cap, n, RC_STEP_TIMEOUT_MS);
        return rc == 0 ? 0 : fail_tickless(c, "tickless_conn_read", rc);
    }
    for (;;) {
        if (SSL_read_ex(c->ssl, buf, cap, n))
            return 0;
        /* Native blocks inside SSL_read_ex: a failure there is final. */
        if (c->mode == RC_NATIVE || !bench_ssl_would_block(c->ssl, 0))
            return rtt_conn_fail(c, "SSL_read_ex (error %d)",
                                 SSL_get_error(c->ssl, 0));
        if (step_expired(t0))
            return rtt_conn_fail(c, "read timed out");
        rtt_conn_app_wait(c->ssl, 100);
    }
}

long rtt_conn_socket_drops(const rtt_conn *c)
{
    uint32_t mem[SK_MEMINFO_VARS];
    socklen_t len = sizeof(mem);

    if (c->fd < 0
        || getsockopt(c->fd, SOL_SOCKET, SO_MEMINFO, mem, &len) != 0
        || len <= SK_MEMINFO_DROPS * sizeof(mem[0]))
        return -1;
    return (long)mem[SK_MEMINFO_DROPS];
}

void rtt_conn_close(rtt_conn *c)
{
    if (c->tc != NULL)
        tickless_conn_close(c->tc); /* frees the SSL object too */
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

int rtt_conn_fail(rtt_conn *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->error, sizeof(c->error), fmt, ap);
    va_end(ap);
    return -1;
}

int rtt_conn_open(rtt_conn *c, int mode, uint16_t port, unsigned flags)
{
    (void)port;
    (void)flags;
    memset(c, 0, sizeof(*c));
    c->mode = mode;
    c->fd = -1;
    return rtt_conn_fail(c, "QUIC needs OpenSSL >= 3.5");
}

int rtt_conn_write(rtt_conn *c, const void *buf, size_t len)
{
    (void)buf;
    (void)len;
    return rtt_conn_fail(c, "QUIC needs OpenSSL >= 3.5");
}

int rtt_conn_read_some(rtt_conn *c, void *buf, size_t cap, size_t *n)
{
    (void)buf;
    (void)cap;
    *n = 0;
    return rtt_conn_fail(c, "QUIC needs OpenSSL >= 3.5");
}

void rtt_conn_app_wait(SSL *ssl, int max_ms)
{
    (void)ssl;
    (void)max_ms;
}

long rtt_conn_socket_drops(const rtt_conn *c)
{
    (void)c;
    return -1;
}

void rtt_conn_close(rtt_conn *c)
{
    (void)c;
}

#endif /* BENCH_HAVE_QUIC */

/* Both builds: exactly |len| bytes, in whatever pieces they come. */
int rtt_conn_read(rtt_conn *c, void *buf, size_t len)
{
    uint8_t *p = buf;
    size_t got = 0, n;

    while (got < len) {
        if (rtt_conn_read_some(c, p + got, len - got, &n) != 0)
            return -1;
        got += n;
    }
    return 0;
}
