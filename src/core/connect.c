/* tickless_connect(): resolve a host, race its addresses Happy Eyeballs
 * style (RFC 8305), hand back the first connection whose handshake
 * completes. One attempt's own work is in connect_attempt.c. */

#include "core/connect.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/ossl.h"

#define DEFAULT_ATTEMPT_DELAY_MS 250
#define MIN_ATTEMPT_DELAY_MS 10
#define MAX_ATTEMPTS 16 /* addresses beyond these are not tried */
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

/* ---- the resolver hook for tests ---------------------------------------- */

static pthread_mutex_t override_mu = PTHREAD_MUTEX_INITIALIZER;
static char override_host[256]; /* guarded by override_mu; "" = none */
static char override_addrs[512]; /* guarded by override_mu */

void tl_connect_set_resolve_override(const char *host, const char *addrs)
{
    pthread_mutex_lock(&override_mu);
    snprintf(override_host, sizeof(override_host), "%s", host ? host : "");
    snprintf(override_addrs, sizeof(override_addrs), "%s",
             host && addrs ? addrs : "");
    pthread_mutex_unlock(&override_mu);
}

/* ---- resolution ---------------------------------------------------------- */

/* The resolver's answers, sorted by family as they come. */
typedef struct found {
    int family;          /* the one wanted, or AF_UNSPEC */
    int first;           /* the family of the first answer kept */
    connect_attempt *v6, *v4; /* MAX_ATTEMPTS each */
    size_t n6, n4;
} found;

/* getaddrinfo() for |name|; its addresses of the wanted family are
 * appended to f->v6 or f->v4. Returns 0 or an EAI_* code. */
static int resolve_into(found *f, const char *name, const char *port,
                        const struct addrinfo *hints)
{
    struct addrinfo *res, *ai;
    int rc = getaddrinfo(name, port, hints, &res);

    if (rc != 0)
        return rc;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        connect_attempt *a;

        if (ai->ai_addrlen > sizeof(a->addr)
            || (f->family != AF_UNSPEC && ai->ai_family != f->family))
            continue;
        if (ai->ai_family == AF_INET6 && f->n6 < MAX_ATTEMPTS)
            a = &f->v6[f->n6++];
        else if (ai->ai_family == AF_INET && f->n4 < MAX_ATTEMPTS)
            a = &f->v4[f->n4++];
        else
            continue;
        memcpy(&a->addr, ai->ai_addr, ai->ai_addrlen);
        a->addrlen = ai->ai_addrlen;
        if (f->first == AF_UNSPEC)
            f->first = ai->ai_family;
    }
    freeaddrinfo(res);
    return 0;
}

/* getaddrinfo() for one name, or for each numeric address the test hook
 * gives it. Returns 0 or an EAI_* code. */
static int lookup(found *f, const char *host, const char *port,
                  const struct addrinfo *hints)
{
    struct addrinfo h = *hints;
    char list[sizeof(override_addrs)], *save = NULL, *one;
    int rc;

    pthread_mutex_lock(&override_mu);
    list[0] = '\0';
    if (override_host[0] != '\0' && strcmp(override_host, host) == 0)
        memcpy(list, override_addrs, sizeof(list));
    pthread_mutex_unlock(&override_mu);
    /* Interleaving (resolve()) keeps each family in the resolver's order. */
    if (list[0] == '\0')
        return resolve_into(f, host, port, &h);
    h.ai_flags |= AI_NUMERICHOST;
    for (one = strtok_r(list, ",", &save); one != NULL;
         one = strtok_r(NULL, ",", &save)) {
        rc = resolve_into(f, one, port, &h);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* The addresses of |host|, IPv6 and IPv4 interleaved from whichever the
 * resolver put first (RFC 8305 section 4). Returns 0 with *out (free
 * with tl_free()) and *n > 0, or a TICKLESS_ERR_* with |err| set. */
static int resolve(const char *host, const char *port, int socktype,
                   int family, connect_attempt **out, size_t *n,
                   tickless_error_info *err)
{
    struct addrinfo hints;
    connect_attempt *v6, *v4, *all;
    size_t n6, n4, i, k = 0;
    int rc, v6_first;
    found f;

    v6 = tl_calloc(3 * MAX_ATTEMPTS, sizeof(*v6));
    if (v6 == NULL) {
        err->code = TICKLESS_ERR_NOMEM;
        return TICKLESS_ERR_NOMEM;
    }
    v4 = v6 + MAX_ATTEMPTS;
    all = v4 + MAX_ATTEMPTS;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = family;
    hints.ai_socktype = socktype;
    memset(&f, 0, sizeof(f));
    f.family = family;
    f.first = AF_UNSPEC;
    f.v6 = v6;
    f.v4 = v4;
    rc = lookup(&f, host, port, &hints);
    n6 = f.n6;
    n4 = f.n4;
    if (rc != 0 || n6 + n4 == 0) {
        switch (rc) {
        case EAI_SERVICE:
            err->code = TICKLESS_ERR_INVALID;
            break;
        case EAI_MEMORY:
            err->code = TICKLESS_ERR_NOMEM;
            break;
        case EAI_SYSTEM:
            err->code = TICKLESS_ERR_SYS;
            err->sys_errno = errno;
            break;
        default:
            err->code = TICKLESS_ERR_NOT_FOUND;
            break;
        }
        snprintf(err->message, sizeof(err->message), "%s port %s: %s", host,
                 port,
                 rc != 0 ? gai_strerror(rc) : "no address of that family");
        tl_free(v6);
        return err->code;
    }
    v6_first = f.first == AF_INET6;
    for (i = 0; i < MAX_ATTEMPTS; i++) {
        if (i < (v6_first ? n6 : n4))
            all[k++] = v6_first ? v6[i] : v4[i];
        if (i < (v6_first ? n4 : n6))
            all[k++] = v6_first ? v4[i] : v6[i];
    }
    memmove(v6, all, k * sizeof(*all));
    *out = v6;
    *n = k > MAX_ATTEMPTS ? MAX_ATTEMPTS : k;
    return 0;
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
    struct pollfd pfd[MAX_ATTEMPTS];
    size_t idx[MAX_ATTEMPTS], npoll = 0, nhs = 0, i;
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

static int race(const connect_setup *s, connect_attempt *a, size_t n,
                int timeout_ms, tickless_conn **out, tickless_error_info *err)
{
    int64_t start = now_ms(), last = start, now;
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : start + timeout_ms;
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

    rc = resolve(host, port, s.proto == CONNECT_TLS ? SOCK_STREAM : SOCK_DGRAM,
                 o.family, &a, &n, &err);
    if (rc == 0) {
        for (i = 0; i < n; i++) {
            a[i].fd = -1;
            name_attempt(&a[i]);
        }
        rc = race(&s, a, n, timeout_ms, out, &err);
    }
    tl_free(a);
    if (rc == 0)
        memset(&err, 0, sizeof(err));
    err.size = sizeof(err);
    give_error(o.error, &err);
    return rc;
}
