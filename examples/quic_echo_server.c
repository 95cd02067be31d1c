/*
 * quic_echo_server: a worker-pool QUIC echo server written as plain
 * blocking code. A pool of two tickless threads keeps every connection on
 * time (ACKs, retransmissions, keep-alives, idle timeouts); a fixed set of
 * worker threads loops: accept the next stream of any client, echo it,
 * close it (echo_service.c). Needs OpenSSL 3.5.
 *
 *   quic_echo_server CERT.pem KEY.pem PORT [WORKERS]
 *
 * Listens on UDP port PORT of every local address, IPv6 and IPv4 alike
 * (so "localhost" works whichever of ::1 and 127.0.0.1 a client tries
 * first), or IPv4 only on a host without IPv6. ALPN "echo". Every
 * bidirectional stream a client opens is echoed until its FIN, then
 * finished too: one stream (blocking_client) or many (quic_client).
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <tickless/tickless.h>

#include "echo_service.h"

static const unsigned char alpn_echo[] = { 4, 'e', 'c', 'h', 'o' };

static int select_alpn(SSL *ssl, const unsigned char **out,
                       unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
    unsigned char *chosen;

    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto(&chosen, outlen, alpn_echo, sizeof(alpn_echo),
                              in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
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

/* A QUIC listener on UDP port |port| of every local address. */
static SSL *make_listener(const char *cert, const char *key, int port)
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
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);

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

int main(int argc, char **argv)
{
    tickless_pool_options opts;
    tickless_pool *pool = NULL;
    echo_service *svc = NULL;
    echo_service_stats st;
    int nworkers, rc;
    SSL *listener;

    if (argc < 4) {
        fprintf(stderr,
                "usage: %s CERT.pem KEY.pem PORT [WORKERS]\n"
                "  serves QUIC echo (ALPN \"echo\") on UDP PORT, IPv6 and "
                "IPv4;\n  WORKERS threads (default 8); Enter stops it\n",
                argv[0]);
        return 2;
    }
    nworkers = argc > 4 ? atoi(argv[4]) : 8;
    if (nworkers < 1 || nworkers > 64)
        nworkers = 8;

    tickless_pool_options_defaults(&opts);
    opts.threads = 2;
    opts.thread_name = "echo-assist";
    if ((rc = tickless_pool_new(&opts, &pool)) != 0) {
        fprintf(stderr, "pool: %s\n", tickless_strerror(rc));
        return 1;
    }
    listener = make_listener(argv[1], argv[2], atoi(argv[3]));
    if (listener == NULL) {
        ERR_print_errors_fp(stderr);
        tickless_pool_free(pool);
        return 1;
    }
    if ((rc = echo_service_start(listener, pool, nworkers,
                                 ECHO_SERVICE_STALL_MS, &svc)) != 0) {
        fprintf(stderr, "echo service: %s\n", tickless_strerror(rc));
        tickless_pool_free(pool);
        return 1;
    }
    printf("echo server on UDP port %s with %d workers; Enter stops it\n",
           argv[3], nworkers);
    fflush(stdout);
    (void)getchar();

    echo_service_get_stats(svc, &st);
    echo_service_stop(svc);
    printf("served %llu streams (%llu echoed to the end), %llu bytes\n",
           (unsigned long long)st.accepted,
           (unsigned long long)st.streams, (unsigned long long)st.bytes);
    return tickless_pool_free(pool) == 0 ? 0 : 1;
}
