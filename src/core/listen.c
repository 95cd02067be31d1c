/* tickless_listen(): a QUIC server in one call. It binds one UDP socket
 * per shard to the same address (SO_REUSEPORT, so that the kernel spreads
 * the clients over them by their address and port), makes an OpenSSL
 * listener on each, and hands them to a listener of that many shards
 * (listener.c), each on a pool thread of its own. */
#include "base/options.h"
#include "core/core.h"

#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#define LISTEN_MAX_SHARDS 64u

void tickless_listen_options_defaults(tickless_listen_options *opts)
{
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->size = sizeof(*opts);
}

/* The caller's options over the defaults (base/options.h), checked. */
static int read_options(const tickless_listen_options *in,
                        tickless_listen_options *out)
{
    size_t min = offsetof(tickless_listen_options, shards) + sizeof(in->shards);

    tickless_listen_options_defaults(out);
    if (tl_options_read(out, sizeof(*out), in, min) != 0)
        return TICKLESS_ERR_INVALID;
    return out->shards > LISTEN_MAX_SHARDS ? TICKLESS_ERR_INVALID : 0;
}

#ifdef TICKLESS_HAVE_QUIC_SERVER
/* The address to bind: the first getaddrinfo() gives. */
static int resolve(const char *host, const char *port,
                   struct sockaddr_storage *addr, socklen_t *len)
{
    struct addrinfo hints, *res = NULL;
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_PASSIVE;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc == EAI_SERVICE || (rc == EAI_NONAME && host == NULL))
        return TICKLESS_ERR_INVALID; /* the port is no number or service */
    if (rc == EAI_NONAME || rc == EAI_NODATA || rc == EAI_ADDRFAMILY)
        return TICKLESS_ERR_NOT_FOUND;
    if (rc == EAI_MEMORY)
        return TICKLESS_ERR_NOMEM;
    if (rc != 0 || res == NULL)
        return TICKLESS_ERR_SYS;
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* A UDP socket bound to |addr|, shared with the other shards when there
 * are several; -1 with errno set on failure. */
static int bind_shard_socket(const struct sockaddr_storage *addr,
                             socklen_t len, int shared)
{
    int one = 1;
    int fd = socket(addr->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);

    if (fd < 0)
        return -1;
    if ((shared
         && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
        || bind(fd, (const struct sockaddr *)addr, len) != 0) {
        int saved = errno;

        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* OpenSSL 3.5.9, 3.6.4 and 4.0 bound the connections a listener holds
 * before an accept takes them (a fix against memory exhaustion), under
 * value 16; earlier releases hold any number and refuse the value. The
 * library that runs may be newer or older than the headers this was built
 * with: the value is set whatever the headers say, and a refusal means
 * there is no limit to set. Cannot fail. */
# ifndef SSL_VALUE_QUIC_MAX_PENDING_CONNS
#  define SSL_VALUE_QUIC_MAX_PENDING_CONNS 16
# endif
static void set_max_pending(SSL *listener, uint64_t max_pending)
{
    if (max_pending != 0
        && !SSL_set_generic_value_uint(
            listener, SSL_VALUE_QUIC_MAX_PENDING_CONNS, max_pending))
        ERR_clear_error();
}

/* A QUIC listener of |ctx| on a new socket bound to *addr; *addr then has
 * the port the socket got (for a port 0, the other shards take the same
 * one). NULL on failure, with *rc set and nothing left open. */
static SSL *make_shard_listener(SSL_CTX *ctx, const tickless_listen_options *o,
                                struct sockaddr_storage *addr, socklen_t *len,
                                int shared, int *rc)
{
    SSL *ssl;
    BIO *bio;
    int fd = bind_shard_socket(addr, *len, shared);

    if (fd < 0) {
        *rc = errno == ENOMEM || errno == ENOBUFS ? TICKLESS_ERR_NOMEM
                                                  : TICKLESS_ERR_SYS;
        return NULL;
    }
    if (getsockname(fd, (struct sockaddr *)addr, len) != 0) {
        close(fd);
        *rc = TICKLESS_ERR_SYS;
        return NULL;
    }
    ERR_clear_error();
    ssl = SSL_new_listener(ctx, o->listener_flags);
    if (ssl != NULL)
        set_max_pending(ssl, o->max_pending);
    bio = ssl != NULL ? BIO_new_dgram(fd, BIO_CLOSE) : NULL;
    if (bio == NULL) {
        ERR_clear_error();
        SSL_free(ssl);
        close(fd);
        *rc = TICKLESS_ERR_SSL;
        return NULL;
    }
    SSL_set_bio(ssl, bio, bio); /* the listener now closes |fd| */
    return ssl;
}
#endif

int tickless_listen(SSL_CTX *ctx, const char *host, const char *port,
                    const tickless_listen_options *opts, tickless_pool *pool,
                    tickless_listener **out)
{
#ifdef TICKLESS_HAVE_QUIC_SERVER
    SSL *ssls[LISTEN_MAX_SHARDS];
    struct sockaddr_storage addr;
    socklen_t len = 0;
    unsigned n = 0, taken = 0, i;
#endif
    tickless_listen_options o;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (ctx == NULL || port == NULL || out == NULL)
        return TICKLESS_ERR_INVALID;
    rc = read_options(opts, &o);
    if (rc == 0 && pool != NULL)
        rc = tl_pool_check(pool, __func__);
    if (rc != 0)
        return rc;
#ifndef TICKLESS_HAVE_QUIC_SERVER
    (void)host;
    return TICKLESS_ERR_UNSUPPORTED;
#else
    if (SSL_CTX_get_ssl_method(ctx) != OSSL_QUIC_server_method())
        return TICKLESS_ERR_INVALID;
    if (o.shards == 0)
        o.shards = pool != NULL ? tl_assist_pool_threads(pool) : 1;
    if (o.shards == 0)
        o.shards = 1; /* an application-driven pool: one runner */
    rc = resolve(host, port, &addr, &len);
    while (rc == 0 && n < o.shards) {
        ssls[n] = make_shard_listener(ctx, &o, &addr, &len, o.shards > 1,
                                      &rc);
        n += ssls[n] != NULL;
    }
    if (rc == 0)
        rc = tl_listener_new_shards(ssls, n, pool, out, &taken);
    for (i = taken; i < n; i++)
        SSL_free(ssls[i]);
    return rc;
#endif
}
