/*
 * lossy_app: the building blocks of the modes over a lossy path: contexts,
 * pools, the event-loop iteration of an application that ticks OpenSSL
 * itself, and computing without touching a connection.
 */
#include "lossy.h"

#include <errno.h>
#include <poll.h>
#include <sys/time.h>
#include <time.h>

#include <openssl/err.h>

const lossy_mode lossy_modes[LOSSY_MODES] = {
    { "app-driven", "OpenSSL alone, ticked by the application's own loop",
      0, 0, 0 },
    { "native", "OpenSSL's thread-assisted QUIC client (QUIC only)", 0, 0,
      1 },
    { "dedicated", "tickless_conn_new(ssl, NULL, ...): a tickless thread", 1,
      0, 0 },
    { "pool-1", "a tickless pool of 1 thread", 1, 1, 0 },
    { "pool-2", "a tickless pool of 2 threads", 1, 2, 0 },
};

int lossy_parse_modes(const char *s, unsigned *mask)
{
    return bench_parse_modes(s, &lossy_modes[0].name, sizeof(lossy_modes[0]),
                             LOSSY_MODES, mask);
}

SSL_CTX *lossy_app_ctx(enum ts_proto proto, int native)
{
#if BENCH_HAVE_QUIC
    if (native && proto == TS_QUIC)
        return bench_ssl_native_ctx();
    return ts_client_ctx(proto);
#else
    return native ? NULL : ts_client_ctx(proto);
#endif
}

int lossy_app_pool(int mode, tickless_pool **out)
{
    tickless_pool_options po;

    *out = NULL;
    if (lossy_modes[mode].pool_threads == 0)
        return 0;
    tickless_pool_options_defaults(&po);
    po.threads = lossy_modes[mode].pool_threads;
    po.thread_name = "bench-pool";
    return tickless_pool_new(&po, out);
}

/* OpenSSL's next deadline for |ssl| in ms (rounded up), capped at |max_ms|. */
static int deadline_ms(SSL *ssl, enum ts_proto proto, int max_ms)
{
    struct timeval tv = { 0, 0 };
    int inf = 1;
    long long ms;

#if BENCH_HAVE_QUIC
    if (proto == TS_QUIC
        && (!SSL_get_event_timeout(ssl, &tv, &inf) || inf))
        return max_ms;
#endif
    (void)inf;
    if (proto != TS_QUIC && DTLSv1_get_timeout(ssl, &tv) != 1)
        return max_ms;
    ms = (long long)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
    return ms > max_ms ? max_ms : (int)ms;
}

int lossy_app_tick(SSL *ssl, enum ts_proto proto, int want_write,
                   int max_ms)
{
    struct pollfd p = { SSL_get_fd(ssl), POLLIN, 0 };
    int fired = 0;

    if (want_write)
        p.events |= POLLOUT;
#if BENCH_HAVE_QUIC
    if (proto == TS_QUIC && SSL_net_write_desired(ssl))
        p.events |= POLLOUT;
#endif
    (void)poll(&p, 1, deadline_ms(ssl, proto, max_ms));
#if BENCH_HAVE_QUIC
    if (proto == TS_QUIC)
        (void)SSL_handle_events(ssl);
#endif
    if (proto != TS_QUIC)
        fired = DTLSv1_handle_timeout(ssl) > 0;
    /* What failed here is seen again, and judged, by the next SSL call. */
    ERR_clear_error();
    return fired;
}

int lossy_app_retry(SSL *ssl, int ret, int *want_write)
{
    switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        *want_write = 0;
        return 1;
    case SSL_ERROR_WANT_WRITE:
        *want_write = 1;
        return 1;
    default:
        return 0;
    }
}

void lossy_app_sleep_ms(unsigned ms)
{
    struct timespec req = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

    while (nanosleep(&req, &req) != 0 && errno == EINTR)
        ;
}

void lossy_app_compute_until(uint64_t until_ns, int spin)
{
    volatile uint64_t sink = 0;
    uint64_t now;

    while ((now = bench_now_ns()) < until_ns) {
        if (!spin) {
            uint64_t left = until_ns - now;
            struct timespec req = { (time_t)(left / 1000000000u),
                                    (long)(left % 1000000000u) };

            (void)nanosleep(&req, NULL);
            continue;
        }
        /* Some arithmetic between looks at the clock: a computation. */
        for (unsigned i = 0; i < 10000; i++)
            sink += i * now;
    }
    (void)sink;
}
