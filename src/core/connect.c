/* tickless_connect(): resolve a host, race its addresses Happy Eyeballs
 * style (RFC 8305), hand back the first connection whose handshake
 * completes. The lookup is in connect_resolve.c, one attempt's own work
 * in connect_attempt.c. */

#include "core/connect.h"

#include <arpa/inet.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "core/ossl.h"

#define DEFAULT_ATTEMPT_DELAY_MS 250
#define MIN_ATTEMPT_DELAY_MS 10
#define SLICE_MS 5      /* per-attempt wait when several run at once */

void tickless_connect_options_defaults(tickless_connect_options *opts)
{
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->size = sizeof(*opts);
    opts->family = AF_UNSPEC;
    opts->attempt_delay_ms = DEFAULT_ATTEMPT_DELAY_MS;
}

/* ---- options --------------------------------------------------------------*/

/* |alpn| "a,b" in wire format: 1 a 1 b. 1, or 0 if malformed. */
static int alpn_wire(const char *alpn, unsigned char *out, unsigned cap,
                     unsigned *len)
{
    const char *p = alpn;
    unsigned n = 0;

    while (*p != '\0') {
        size_t l = strcspn(p, ",");

        if (l == 0 || l > 255 || n + 1 + l > cap)
            return 0;
        out[n++] = (unsigned char)l;
        memcpy(out + n, p, l);
        n += (unsigned)l;
        p += l;
        if (*p == ',' && *++p == '\0')
            return 0; /* a trailing comma: an empty name */
    }
    *len = n;
    return n > 0;
}

/* Which protocol |ctx| makes, from a throw-away SSL object of it. 0 or
 * TICKLESS_ERR_INVALID / _UNSUPPORTED. */
static int probe(SSL_CTX *ctx, connect_proto *proto)
{
    SSL *ssl;

#ifdef TICKLESS_HAVE_QUIC
    if (SSL_CTX_get_ssl_method(ctx) == OSSL_QUIC_client_thread_method())
        return TICKLESS_ERR_INVALID; /* its own assist: not with tickless */
#endif
    ssl = SSL_new(ctx);
    if (ssl == NULL) {
        ERR_clear_error();
        return TICKLESS_ERR_INVALID; /* e.g. a QUIC server context */
    }
    *proto = SSL_is_dtls(ssl) ? CONNECT_DTLS : CONNECT_TLS;
#ifdef TICKLESS_HAVE_QUIC
    if (SSL_is_quic(ssl))
        *proto = CONNECT_QUIC;
#endif
    SSL_free(ssl);
    return 0;
}

static int is_ip_literal(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, host, buf) == 1
           || inet_pton(AF_INET6, host, buf) == 1;
}

/* ---- the race -------------------------------------------------------------*/

static int64_t now_ms(void)
{
    return (int64_t)(tl_clock_now_ns() / 1000000u);
}

/* Waits up to |wait_ms| for any running attempt to move on. Returns the
 * attempt that won, or NULL. */
static connect_attempt *step(const connect_setup *s, connect_attempt *a,
                             size_t started, int wait_ms)
{
    struct pollfd pfd[CONNECT_MAX_ATTEMPTS];
    size_t idx[CONNECT_MAX_ATTEMPTS], npoll = 0, nhs = 0, i;
    int slice;

    for (i = 0; i < started; i++) {
        if (a[i].state == ATTEMPT_CONNECTING) {
            pfd[npoll].fd = a[i].fd;
            pfd[npoll].events = POLLOUT;
            pfd[npoll].revents = 0;
            idx[npoll++] = i;
        } else if (a[i].state == ATTEMPT_HANDSHAKING) {
            nhs++;
        }
    }
    /* One handshake and nothing else: wait on it alone, for all of the
     * time. Otherwise take turns in short slices. */
    slice = npoll == 0 && nhs == 1 ? wait_ms
            : wait_ms < SLICE_MS   ? wait_ms
                                   : SLICE_MS;
    if (npoll > 0 && poll(pfd, npoll, nhs > 0 ? 0 : slice) > 0) {
        for (i = 0; i < npoll; i++)
            if (pfd[i].revents != 0)
                tl_connect_attempt_connected(s, &a[idx[i]]);
    }
    for (i = 0; i < started; i++) {
        if (a[i].state == ATTEMPT_HANDSHAKING)
            tl_connect_attempt_wait(&a[i], slice);
        if (a[i].state == ATTEMPT_DONE && a[i].outcome == CONNECT_WON)
            return &a[i];
    }
    return NULL;
}

/* Whether to start another attempt now: none is running, or the newest
 * has had its delay. TLS races whole handshakes too, not only TCP
 * connects: a server that accepts and then says nothing is overtaken
 * like a silent UDP address. */
static int start_next(const connect_setup *s, const connect_attempt *a,
                      size_t started, int64_t since_last)
{
    size_t i;

    for (i = 0; i < started; i++)
        if (a[i].state == ATTEMPT_CONNECTING
            || a[i].state == ATTEMPT_HANDSHAKING)
            return since_last >= s->opts->attempt_delay_ms;
    return 1;
}

/* The failure to report once no attempt can win: the most telling one
 * (see connect_outcome), and what every address did. */
static int report(connect_attempt *a, size_t n, const connect_setup *s,
                  tickless_error_info *err)
{
    connect_attempt *best = NULL;
    size_t i, len;
    int silent = 0;

    for (i = 0; i < n; i++) {
        if (a[i].state != ATTEMPT_DONE) {
            silent = 1;
            snprintf(a[i].err.message, sizeof(a[i].err.message),
                     "%s: no answer", a[i].name);
        } else if (best == NULL || a[i].outcome > best->outcome) {
            best = &a[i];
        }
    }
    if (best != NULL && (best->outcome >= CONNECT_LOCAL || !silent)) {
        *err = best->err;
    } else {
        memset(err, 0, sizeof(*err));
        err->code = TICKLESS_ERR_TIMEOUT;
    }
    /* The message: the verdict, then what every address did. */
    len = (size_t)snprintf(err->message, sizeof(err->message),
                           "%s port %s: %s", s->host, s->port,
                           tickless_strerror(err->code));
    for (i = 0; i < n && len < sizeof(err->message); i++)
        len += (size_t)snprintf(err->message + len, sizeof(err->message) - len,
                                "; %s", a[i].err.message);
    err->size = sizeof(*err);
    return err->code;
}

/* Copies what fits of |from| into the caller's |to| (its size says). */
static void give_error(tickless_error_info *to, const tickless_error_info *from)
{
    size_t n;

    if (to == NULL)
        return;
    n = to->size < sizeof(*to) ? to->size : sizeof(*to);
    memcpy((char *)to + sizeof(to->size), (const char *)from + sizeof(from->size),
           n - sizeof(to->size));
    if (n < sizeof(*to) && n > offsetof(tickless_error_info, message))
        ((char *)to)[n - 1] = '\0'; /* a cut message stays a string */
}

/* Races |a|'s addresses until one wins or |deadline_ns| (CLOCK_NEVER:
 * none), what the name's lookup left of the call's timeout. */
static int race(const connect_setup *s, connect_attempt *a, size_t n,
                uint64_t deadline_ns, tickless_conn **out,
                tickless_error_info *err)
{
    int64_t last = now_ms(), now;
    int64_t deadline = deadline_ns == CLOCK_NEVER
                           ? INT64_MAX
                           : (int64_t)(deadline_ns / NS_PER_MS);
    connect_attempt *winner = NULL;
    size_t started = 0, i;
    int rc, wait_ms;

    for (;;) {
        now = now_ms();
        if (started < n && start_next(s, a, started, now - last)) {
            tl_connect_attempt_start(s, &a[started]);
            if (a[started].state == ATTEMPT_DONE
                && a[started].outcome == CONNECT_WON)
                winner = &a[started];
            started++;
            last = now;
            if (winner != NULL)
                break;
            continue; /* one refused at once: the next starts at once */
        }
        for (i = 0; i < started; i++)
            if (a[i].state != ATTEMPT_DONE)
                break;
        if ((i == started && started == n) || now >= deadline)
            break; /* every attempt ended, or time is up */
        wait_ms = deadline - now > INT32_MAX ? INT32_MAX
                                             : (int)(deadline - now);
        if (started < n && last + s->opts->attempt_delay_ms - now < wait_ms)
            wait_ms = (int)(last + s->opts->attempt_delay_ms - now);
        if (wait_ms < 1)
            wait_ms = 1;
        winner = step(s, a, started, wait_ms);
        if (winner != NULL)
            break;
    }
    if (winner != NULL) {
        *out = winner->conn;
        winner->conn = NULL;
        rc = 0;
    } else {
        rc = report(a, started, s, err);
    }
    for (i = 0; i < started; i++)
        tl_connect_attempt_abandon(&a[i]);
    return rc;
}

/* ---- the public call ------------------------------------------------------*/

/* "[addr]:port" or "addr:port" for messages. */
static void name_attempt(connect_attempt *a)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (a->addr.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->addr;

        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        port = ntohs(in6->sin6_port);
        snprintf(a->name, sizeof(a->name), "[%s]:%u", ip, port);
    } else {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&a->addr;

        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        port = ntohs(in->sin_port);
        snprintf(a->name, sizeof(a->name), "%s:%u", ip, port);
    }
}

int tickless_connect(SSL_CTX *ctx, const char *host, const char *port,
                     const tickless_connect_options *opts,
                     tickless_pool *pool, tickless_conn **out, int timeout_ms)
{
    tickless_error_info err = TICKLESS_ERROR_INFO_INIT;
    tickless_connect_options o;
    unsigned char alpn[1024];
    connect_setup s;
    connect_attempt *a = NULL;
    uint64_t deadline;
    size_t n = 0, i;
    int rc;

    if (out != NULL)
        *out = NULL;
    tickless_connect_options_defaults(&o);
    if (opts != NULL) {
        if (opts->size < sizeof(opts->size))
            return TICKLESS_ERR_INVALID;
        memcpy(&o, opts, opts->size < sizeof(o) ? opts->size : sizeof(o));
    }
    if (o.error != NULL
        && o.error->size < offsetof(tickless_error_info, code) + sizeof(int))
        return TICKLESS_ERR_INVALID;
    memset(&s, 0, sizeof(s));
    rc = 0;
    if (ctx == NULL || host == NULL || port == NULL || out == NULL
        || host[0] == '\0' || timeout_ms < TICKLESS_FOREVER
        || o.attempt_delay_ms < MIN_ATTEMPT_DELAY_MS
        || (o.family != AF_UNSPEC && o.family != AF_INET
            && o.family != AF_INET6)
        || (o.alpn != NULL
            && !alpn_wire(o.alpn, alpn, sizeof(alpn), &s.alpn_len)))
        rc = TICKLESS_ERR_INVALID;
    if (rc == 0)
        rc = probe(ctx, &s.proto);
    if (rc != 0) {
        err.code = rc;
        snprintf(err.message, sizeof(err.message), "%s",
                 tickless_strerror(rc));
        give_error(o.error, &err);
        return rc;
    }
    s.ctx = ctx;
    s.host = host;
    s.port = port;
    s.host_is_ip = is_ip_literal(host);
    s.alpn = o.alpn != NULL ? alpn : NULL;
    s.opts = &o;
    s.pool = pool;
    if (o.insecure_no_verify)
        tl_log(TICKLESS_LOG_WARN, NULL,
               "tickless_connect(%s): certificate verification is OFF "
               "(insecure_no_verify): anyone on the path can pose as the "
               "server",
               host);

    /* One deadline for the lookup and the race. */
    deadline = tl_clock_deadline_after_ms(timeout_ms);
    rc = tl_connect_resolve(&s, deadline, &a, &n, &err);
    if (rc == 0) {
        for (i = 0; i < n; i++) {
            a[i].fd = -1;
            name_attempt(&a[i]);
        }
        rc = race(&s, a, n, deadline, out, &err);
    }
    tl_free(a);
    if (rc == 0)
        memset(&err, 0, sizeof(err));
    err.size = sizeof(err);
    give_error(o.error, &err);
    return rc;
}
