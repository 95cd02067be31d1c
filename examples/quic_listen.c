/* The example servers' QUIC listener: see quic_listen.h. */
#define _POSIX_C_SOURCE 200809L

#include "quic_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Picks the server's one protocol, |arg|, from the client's list |in|
 * (each name preceded by its length), or refuses the handshake. Written
 * out rather than SSL_select_next_proto(), which wants the server's list
 * in the same wire format. */
static int select_alpn(SSL *ssl, const unsigned char **out,
                       unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
    const char *proto = arg;
    size_t len = strlen(proto);
    unsigned int i;

    (void)ssl;
    for (i = 0; i < inlen; i += 1u + in[i]) {
        if (in[i] == len && i + 1u + len <= inlen
            && memcmp(in + i + 1, proto, len) == 0) {
            *out = in + i + 1;
            *outlen = in[i];
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* A UDP socket bound to |sa|, or -1 with errno set. An IPv6 socket also
 * takes IPv4 (IPV6_V6ONLY off; IPv4 clients arrive as ::ffff:a.b.c.d):
 * a QUIC listener has exactly one socket, so it must serve both. Linux
 * does that by default, but the sysctl net.ipv6.bindv6only and other
 * systems may not. */
static int bind_udp(const struct sockaddr *sa, socklen_t len)
{
    int off = 0, fd, err;

    fd = socket(sa->sa_family, SOCK_DGRAM, 0);
    if (fd < 0)
        return -1;
    if ((sa->sa_family == AF_INET6
         && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) != 0)
        || bind(fd, sa, len) != 0) {
        err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

/* The server's socket on |port|: every IPv6 and IPv4 address (::), or
 * IPv4 only (0.0.0.0) if that fails -- a host without IPv6 says
 * EAFNOSUPPORT, one with IPv6 switched off may only refuse the bind. The
 * fallback is said on stderr: IPv6 clients then get no answer, and a
 * name such as "localhost" works only because clients try its IPv4
 * address too. */
static int bind_any(int port)
{
    struct sockaddr_in6 v6;
    struct sockaddr_in v4;
    int fd;

    memset(&v6, 0, sizeof(v6));
    v6.sin6_family = AF_INET6;
    v6.sin6_addr = in6addr_any;
    v6.sin6_port = htons((unsigned short)port);
    fd = bind_udp((struct sockaddr *)&v6, sizeof(v6));
    if (fd >= 0)
        return fd;
    fprintf(stderr, "no IPv6 socket on UDP port %d (%s): IPv4 only\n", port,
            strerror(errno));

    memset(&v4, 0, sizeof(v4));
    v4.sin_family = AF_INET;
    v4.sin_addr.s_addr = htonl(INADDR_ANY);
    v4.sin_port = htons((unsigned short)port);
    fd = bind_udp((struct sockaddr *)&v4, sizeof(v4));
    if (fd < 0)
        fprintf(stderr, "cannot bind UDP port %d: %s\n", port,
                strerror(errno));
    return fd;
}

SSL *quic_listen(const char *cert, const char *key, int port,
                 const char *alpn)
{
    SSL_CTX *ctx;
    SSL *listener = NULL;
    int fd;

    ctx = SSL_CTX_new(OSSL_QUIC_server_method());
    if (ctx == NULL
        || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1
        || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, (void *)alpn);

    fd = bind_any(port);
    if (fd < 0)
        goto done;
    listener = SSL_new_listener(ctx, 0);
    if (listener == NULL || !SSL_set_fd(listener, fd)) {
        SSL_free(listener);
        listener = NULL;
        goto done;
    }
    fd = -1; /* the listener's BIO closes it */
done:
    if (fd >= 0)
        close(fd);
    SSL_CTX_free(ctx); /* the listener keeps its own reference */
    return listener;
}
