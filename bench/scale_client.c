/*
 * scale_client: the client process of the scale scenario, the one that is
 * measured. It establishes N QUIC connections in one assist mode, reads
 * /proc/self at start, at N/2 and at N, idles, then sends light traffic
 * and collects tickless's lateness figures over it, closes everything and
 * hands a scale_result to the parent.
 *
 * Lateness is measured over steady traffic, not over the handshakes: while
 * N handshakes are established the CPU is saturated (client, assist and
 * server all do public-key crypto on the same cores), and a deadline that
 * comes due then waits for a core whoever ticks. Nor over the idle window:
 * with no idle timeout there are no timers at all. So after the idle
 * window the figures are reset and the bench thread writes 1 byte on one
 * connection after another at --traffic-rate writes per second for
 * --traffic-seconds: each write and its echo arm OpenSSL's timers (loss
 * detection, delayed ACKs), which the assist must tick on time.
 *
 * How connections are established (every mode alike): a sliding window of
 * --window handshakes in flight from the one bench thread. A connection is
 * started without waiting (its first flight leaves), then, once the window
 * is full, the oldest is waited for: plain polls its socket until
 * SSL_connect() succeeds (nobody else ever ticks it), native calls
 * SSL_connect() in blocking mode, tickless calls tickless_conn_handshake()
 * (its assist has been working on it meanwhile). The window lets the
 * single-threaded server answer many ClientHellos per wake-up: its cost per
 * wake-up grows with the connections it holds (OpenSSL's listener ticks
 * every one), so one handshake at a time would mostly measure the server.
 */
#include "scale.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tickless/tickless.h>

#if BENCH_HAVE_QUIC

#include <poll.h>
#include <sys/time.h>

#include "canary.h"
#include "ts_certs.h"

#define HANDSHAKE_TIMEOUT_MS 30000
#define FD_RESERVE 64  /* descriptors left for the process itself */
#define SETTLE_MS 1000 /* after the last handshake, before the idle window */
#define SLEEPER_PERIOD_NS 2000000u /* the canary's deadlines: 500 a second */

typedef struct conn_slot {
    SSL *ssl;          /* plain, native: ours */
    tickless_conn *tc; /* tickless modes: owns the SSL object */
} conn_slot;

/* One client process's state. */
typedef struct scale_run {
    const scale_opts *o;
    int mode;
    uint16_t port;
    SSL_CTX *ctx;
    tickless_pool *pool;
    conn_slot *conns;
    size_t started;    /* conns[0 .. started) hold a connection */
    scale_result *res;
} scale_run;

static int fail(scale_run *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->res->error, sizeof(r->res->error), fmt, ap);
    va_end(ap);
    bench_ssl_add_reason(r->res->error, sizeof(r->res->error));
    return -1;
}

static int fail_tickless(scale_run *r, tickless_conn *c, const char *what,
                         size_t i, int rc)
{
    tickless_error_info e = TICKLESS_ERROR_INFO_INIT;

    if (c != NULL)
        (void)tickless_conn_error(c, &e);
    return fail(r, "%s of connection %zu: %s%s%s", what, i,
                tickless_err_name(rc), e.message[0] ? ": " : "", e.message);
}

/* Starts connection |i|: its first flight leaves, nobody waits. */
static int conn_start(scale_run *r, size_t i)
{
    conn_slot *cs = &r->conns[i];
    SSL *ssl = ts_client_new(r->ctx, TS_QUIC, r->port);
    int rc;

    if (ssl == NULL)
        return fail(r, "creating connection %zu (socket limit?)", i);
    ts_quic_set_idle_timeout(ssl, r->o->quic_idle_ms);
    if (!scale_modes[r->mode].tickless) {
        cs->ssl = ssl;
        r->started = i + 1;
        if (!SSL_set_blocking_mode(ssl, 0))
            return fail(r, "SSL_set_blocking_mode");
        rc = SSL_connect(ssl);
        if (rc != 1 && !bench_ssl_would_block(ssl, rc))
            return fail(r, "starting handshake %zu", i);
        /* native finishes with a blocking call; plain keeps polling. */
        if (r->mode == MODE_NATIVE && !SSL_set_blocking_mode(ssl, 1))
            return fail(r, "SSL_set_blocking_mode");
        return 0;
    }
    rc = tickless_conn_new(ssl, r->pool, &cs->tc);
    if (rc != 0) {
        SSL_free(ssl); /* still ours on failure */
        return fail_tickless(r, NULL, "tickless_conn_new", i, rc);
    }
    r->started = i + 1;
    rc = tickless_conn_handshake(cs->tc, 0);
    if (rc != 0 && rc != TICKLESS_ERR_TIMEOUT)
        return fail_tickless(r, cs->tc, "starting handshake", i, rc);
    return 0;
}

/* plain: the application's own loop, as OpenSSL's nonblocking demos do. */
static int plain_finish(scale_run *r, SSL *ssl, size_t i)
{
    uint64_t give_up = bench_now_ns() + HANDSHAKE_TIMEOUT_MS * 1000000ull;
    int fd = SSL_get_fd(ssl);

    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        struct timeval tv;
        int inf = 1, ms = 100, rc = SSL_connect(ssl);

        if (rc == 1)
            return 0;
        if (!bench_ssl_would_block(ssl, rc))
            return fail(r, "handshake %zu", i);
        if (bench_now_ns() > give_up)
            return fail(r, "handshake %zu timed out", i);
        if (SSL_get_event_timeout(ssl, &tv, &inf) && !inf)
            ms = (int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
        if (ms > 100)
            ms = 100;
        if (SSL_net_write_desired(ssl))
            p.events |= POLLOUT;
        (void)poll(&p, 1, ms);
    }
}

/* Waits until connection |i|'s handshake has completed. */
static int conn_finish(scale_run *r, size_t i)
{
    conn_slot *cs = &r->conns[i];
    int rc;

    switch (r->mode) {
    case MODE_PLAIN:
        return plain_finish(r, cs->ssl, i);
    case MODE_NATIVE:
        /* Blocking: OpenSSL polls the socket itself; its assist thread
         * only ticks at deadlines. */
        if (SSL_connect(cs->ssl) != 1)
            return fail(r, "handshake %zu", i);
        return 0;
    default:
        rc = tickless_conn_handshake(cs->tc, HANDSHAKE_TIMEOUT_MS);
        if (rc != 0)
            return fail_tickless(r, cs->tc, "handshake", i, rc);
        return 0;
    }
}

/* Establishes connections [from, to) with up to |window| in flight. */
static int establish(scale_run *r, size_t from, size_t to)
{
    size_t next = from, done = from;
    size_t window = r->o->window;

    while (done < to) {
        while (next < to && next - done < window) {
            if (conn_start(r, next) != 0)
                return -1;
            next++;
        }
        if (conn_finish(r, done) != 0)
            return -1;
        done++;
    }
    return 0;
}

static void sleep_ms(unsigned ms)
{
    struct timespec req = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

    while (nanosleep(&req, &req) != 0 && errno == EINTR)
        ;
}

/* 1 if the connection has closed or is closing. */
static int ssl_is_closed(SSL *ssl)
{
    SSL_CONN_CLOSE_INFO info;

    return SSL_get_conn_close_info(ssl, &info, sizeof(info)) == 1;
}

/* After the idle window: did every connection stay up? plain and native
 * are ticked once here so that whatever arrived meanwhile is seen. */
static unsigned count_closed(scale_run *r)
{
    unsigned dead = 0;
    size_t i;

    for (i = 0; i < r->started; i++) {
        conn_slot *cs = &r->conns[i];
        SSL *ssl;

        if (cs->tc == NULL) {
            (void)SSL_handle_events(cs->ssl);
            dead += ssl_is_closed(cs->ssl);
            continue;
        }
        if ((ssl = tickless_conn_lock(cs->tc)) == NULL) {
            dead++;
            continue;
        }
        dead += ssl_is_closed(ssl);
        tickless_conn_unlock(cs->tc);
    }
    return dead;
}

/* Zeroes tickless's lateness figures: what follows is measured alone. */
static int reset_lateness(scale_run *r)
{
    size_t i;
    int rc;

    if (r->pool != NULL) {
        if ((rc = tickless_pool_stats_reset(r->pool)) != 0)
            return fail(r, "tickless_pool_stats_reset: %s",
                        tickless_err_name(rc));
        return 0;
    }
    for (i = 0; i < r->started; i++)
        if ((rc = tickless_conn_stats_reset(r->conns[i].tc)) != 0)
            return fail_tickless(r, r->conns[i].tc, "stats reset", i, rc);
    return 0;
}

/* One byte on connection |i| (its echo is left unread: a byte per write
 * fits the stream's buffers for as long as this runs). */
static int write_one(scale_run *r, size_t i)
{
    conn_slot *cs = &r->conns[i];
    size_t n = 0;
    int rc;

    if (cs->tc != NULL) {
        rc = tickless_conn_write(cs->tc, "x", 1, &n, HANDSHAKE_TIMEOUT_MS);
        return rc == 0 ? 0 : fail_tickless(r, cs->tc, "write", i, rc);
    }
    if (SSL_write_ex(cs->ssl, "x", 1, &n) != 1)
        return fail(r, "write on connection %zu", i);
    return 0;
}

/* --traffic-rate writes per second, round the connections, for
 * --traffic-seconds; paced against the clock, not by sleeping a fixed
 * period, so slow writes do not lower the rate. */
static int steady_traffic(scale_run *r)
{
    uint64_t t0 = bench_now_ns();
    uint64_t period = 1000000000ull / r->o->traffic_rate;
    uint64_t total = (uint64_t)r->o->traffic_rate * r->o->traffic_s;
    uint64_t k;

    for (k = 0; k < total; k++) {
        uint64_t due = t0 + k * period, now = bench_now_ns();

        if (due > now) {
            struct timespec req = { (time_t)((due - now) / 1000000000ull),
                                    (long)((due - now) % 1000000000ull) };

            while (nanosleep(&req, &req) != 0 && errno == EINTR)
                ;
        }
        if (write_one(r, (size_t)(k % r->started)) != 0)
            return -1;
    }
    r->res->traffic_writes = total;
    return 0;
}

static int collect_lateness(scale_run *r)
{
    scale_result *res = r->res;
    uint64_t *p50, *p99 = NULL;
    size_t i, k = 0;
    int rc;

    if (r->pool != NULL) {
        struct tickless_pool_stats st = TICKLESS_POOL_STATS_INIT;

        if ((rc = tickless_pool_stats(r->pool, &st)) != 0)
            return fail(r, "tickless_pool_stats: %s", tickless_err_name(rc));
        res->late_p50_ns = st.lateness_p50_ns;
        res->late_p99_ns = st.lateness_p99_ns;
        res->late_max_ns = st.lateness_max_ns;
        res->timer_ticks = st.timer_ticks;
        res->have_lateness = 1;
        return 0;
    }
    /*
     * Dedicated: one histogram per connection, and most connections have
     * only one or two timer ticks, so the worst connection's p50 is simply
     * the worst sample. Merged instead as the median of the connections'
     * p50s, the 99th percentile of their p99s and the maximum of their
     * maxima, over the connections that had a timer tick at all; the worst
     * p99 is kept too.
     */
    if ((p50 = calloc(r->started + 1, sizeof(*p50))) == NULL
        || (p99 = calloc(r->started + 1, sizeof(*p99))) == NULL) {
        free(p50);
        return fail(r, "out of memory");
    }
    for (i = 0; i < r->started; i++) {
        tickless_stats st = TICKLESS_STATS_INIT;

        if ((rc = tickless_conn_stats(r->conns[i].tc, &st)) != 0) {
            free(p50);
            free(p99);
            return fail(r, "tickless_conn_stats: %s", tickless_err_name(rc));
        }
        if (st.timer_ticks == 0)
            continue;
        p50[k] = st.lateness_p50_ns;
        p99[k++] = st.lateness_p99_ns;
        if (st.lateness_p99_ns > res->late_worst_p99_ns)
            res->late_worst_p99_ns = st.lateness_p99_ns;
        if (st.lateness_max_ns > res->late_max_ns)
            res->late_max_ns = st.lateness_max_ns;
        res->timer_ticks += st.timer_ticks;
    }
    res->late_p50_ns = bench_percentile(p50, k, 50);
    res->late_p99_ns = bench_percentile(p99, k, 99);
    free(p50);
    free(p99);
    res->have_lateness = 1;
    return 0;
}

static int teardown(scale_run *r)
{
    uint64_t t0 = bench_now_ns();
    size_t i;
    int rc = 0;

    for (i = 0; i < r->started; i++) {
        if (r->conns[i].tc != NULL)
            tickless_conn_close(r->conns[i].tc);
        else
            SSL_free(r->conns[i].ssl);
    }
    r->started = 0;
    if (r->pool != NULL && (rc = tickless_pool_free(r->pool)) != 0) {
        /* Every connection is closed: the pool must let go. */
        r->pool = NULL;
        return fail(r, "tickless_pool_free: %s", tickless_err_name(rc));
    }
    r->pool = NULL;
    SSL_CTX_free(r->ctx);
    r->ctx = NULL;
    r->res->teardown_ns = bench_now_ns() - t0;
    return 0;
}

/* Lowers res->n so that the connections fit the descriptor limit, given
 * the |established| connections so far and what the last of them cost
 * (the descriptors opened since |fds_before|). */
static void cap_to_fds(scale_run *r, int fds_before, unsigned established)
{
    scale_result *res = r->res;
    uint64_t limit = bench_raise_nofile();
    int now = bench_fds(), per = now - fds_before;
    uint64_t fit;

    if (per < 1)
        per = 1;
    res->fds_per_conn = per;
    if (now < 0 || (uint64_t)now + FD_RESERVE >= limit)
        fit = established;
    else
        fit = established
              + (limit - (uint64_t)now - FD_RESERVE) / (uint64_t)per;
    if (fit < res->n) {
        res->n = (unsigned)fit;
        snprintf(res->cap_note, sizeof(res->cap_note),
                 "descriptor limit %" PRIu64 "%s, %d per connection", limit,
                 bench_nofile_held_down()
                     ? " (the hard limit: raising it takes CAP_SYS_RESOURCE)"
                     : "",
                 per);
    }
}

int scale_client_main(void *arg, void *result, size_t len)
{
    const scale_client_args *a = arg;
    scale_result *res = result;
    scale_run run = { 0 };
    scale_run *r = &run;
    uint64_t t0, cpu0, cpu1, w0, w1, sleeps0, sleeps1;
    int fds0;
    unsigned first;

    memset(res, 0, len);
    res->requested = res->n = a->n;
    r->o = a->o;
    r->mode = a->mode;
    r->port = a->port;
    r->res = res;
    if (a->mode == MODE_NATIVE && a->o->native_max != 0
        && res->n > a->o->native_max) {
        res->n = a->o->native_max;
        snprintf(res->cap_note, sizeof(res->cap_note),
                 "--native-max %u (one OpenSSL thread per connection)",
                 a->o->native_max);
    }
    if ((r->conns = calloc(res->n, sizeof(*r->conns))) == NULL)
        return fail(r, "out of memory");

    res->threads_before = bench_threads();
    (void)bench_mem_read(&res->mem_before);
    r->ctx = a->mode == MODE_NATIVE ? bench_ssl_native_ctx()
                                    : ts_client_ctx(TS_QUIC);
    if (r->ctx == NULL)
        return fail(r, "client SSL_CTX");
    if (scale_modes[a->mode].pool_threads > 0) {
        tickless_pool_options po;
        int rc;

        tickless_pool_options_defaults(&po);
        po.threads = scale_modes[a->mode].pool_threads;
        po.thread_name = "bench-pool";
        if ((rc = tickless_pool_new(&po, &r->pool)) != 0)
            return fail(r, "tickless_pool_new: %s", tickless_err_name(rc));
    }

    /* The second connection tells what one more costs in descriptors:
     * the first also opens what a thread opens once (a blocked tickless
     * call's eventfd, say). */
    fds0 = bench_fds();
    t0 = bench_now_ns();
    if (establish(r, 0, 1) != 0)
        return -1;
    if (res->n > 1) {
        fds0 = bench_fds();
        if (establish(r, 1, 2) != 0)
            return -1;
    }
    first = res->n > 1 ? 2 : 1;
    cap_to_fds(r, fds0, first);
    res->n_mid = res->n / 2 > first ? res->n / 2 : first;
    if (establish(r, first, res->n_mid) != 0)
        return -1;
    /* Snapshots are not timed as handshakes. */
    res->hs_ns = bench_now_ns() - t0;
    (void)bench_mem_read(&res->mem_mid);
    t0 = bench_now_ns();
    if (establish(r, res->n_mid, res->n) != 0)
        return -1;
    res->hs_ns += bench_now_ns() - t0;
    (void)bench_mem_read(&res->mem_after);
    res->threads_after = bench_threads();

    /* Idle: everything established, nothing to send. The last handshakes'
     * trailing packets (HANDSHAKE_DONE, tokens, their ACKs) settle first. */
    sleep_ms(SETTLE_MS);
    sleeps0 = bench_process_sleeps();
    cpu0 = bench_process_cpu_ns();
    w0 = bench_now_ns();
    sleep_ms(r->o->idle_s * 1000u);
    cpu1 = bench_process_cpu_ns();
    w1 = bench_now_ns();
    sleeps1 = bench_process_sleeps();
    res->idle_cpu_pct = 100.0 * (double)(cpu1 - cpu0) / (double)(w1 - w0);
    /* The bench thread's own sleep counts once; the rest are the assists'. */
    sleeps1 -= sleeps1 > sleeps0 ? 1 : 0;
    res->idle_wakeups = (double)(sleeps1 - sleeps0) / ((w1 - w0) / 1e9);

    /* Steady traffic (not for plain, which nobody would tick), with the
     * canary beside it: how late a thread that only sleeps wakes on this
     * machine meanwhile. */
    if (a->mode != MODE_PLAIN && r->o->traffic_s > 0) {
        size_t samples = (size_t)((r->o->traffic_s * 1000ull + SETTLE_MS)
                                  * 1000000ull / SLEEPER_PERIOD_NS) + 16;
        bench_canary *canary;
        bench_canary_result cr;

        if (scale_modes[a->mode].tickless && reset_lateness(r) != 0)
            return -1;
        canary = bench_canary_start(SLEEPER_PERIOD_NS, samples);
        if (steady_traffic(r) != 0) {
            bench_canary_stop(canary, &cr);
            return -1;
        }
        sleep_ms(SETTLE_MS); /* the last writes' timers come due */
        bench_canary_stop(canary, &cr);
        res->have_sleeper = cr.samples > 0;
        res->sleeper_p50_ns = cr.p50_ns;
        res->sleeper_p99_ns = cr.p99_ns;
        res->sleeper_max_ns = cr.max_ns;
    }
    if (scale_modes[a->mode].tickless && collect_lateness(r) != 0)
        return -1;
    res->dead_after_idle = count_closed(r);
    if (teardown(r) != 0)
        return -1;
    free(r->conns);
    res->ok = 1;
    return 0;
}

#else /* !BENCH_HAVE_QUIC */

int scale_client_main(void *arg, void *result, size_t len)
{
    (void)arg;
    memset(result, 0, len);
    return -1;
}

#endif /* BENCH_HAVE_QUIC */
