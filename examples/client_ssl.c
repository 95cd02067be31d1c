/* Client sockets and SSL objects for the example programs: see
 * client_ssl.h. */
#define _POSIX_C_SOURCE 200809L /* getaddrinfo() under -std=c11 */

#include "client_ssl.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The name the server's certificate must carry. OpenSSL 4.0 deprecates
 * SSL_set1_host(), which took a DNS name or an IP literal, for
 * SSL_set1_dnsname() and SSL_set1_ipaddr(). */
static int expect_host(SSL *ssl, const char *host)
{
#if OPENSSL_VERSION_NUMBER >= 0x40000000L
    unsigned char addr[16];

    if (inet_pton(AF_INET, host, addr) == 1
        || inet_pton(AF_INET6, host, addr) == 1)
        return SSL_set1_ipaddr(ssl, host);
    return SSL_set1_dnsname(ssl, host);
#else
    return SSL_set1_host(ssl, host);
#endif
}

int client_connect(const char *host, const char *port, int type)
{
    struct addrinfo hints, *res, *ai;
    int fd = -1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = type;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* The address |fd| is connected to, as OpenSSL wants it; NULL on error. */
static BIO_ADDR *peer_address(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    BIO_ADDR *addr = BIO_ADDR_new();
    int ok = 0;

    if (addr == NULL || getpeername(fd, (struct sockaddr *)&ss, &len) != 0) {
        BIO_ADDR_free(addr);
        return NULL;
    }
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

        ok = BIO_ADDR_rawmake(addr, AF_INET, &in->sin_addr,
                              sizeof(in->sin_addr), in->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

        ok = BIO_ADDR_rawmake(addr, AF_INET6, &in6->sin6_addr,
                              sizeof(in6->sin6_addr), in6->sin6_port);
    }
    if (!ok) {
        BIO_ADDR_free(addr);
        return NULL;
    }
    return addr;
}

SSL *client_ssl_new(const char *proto, const char *host, int fd,
                     const char *alpn)
{
    const SSL_METHOD *method;
    SSL_CTX *ctx;
    SSL *ssl;
    const char *cafile = getenv("TICKLESS_EXAMPLE_CAFILE");

    if (strcmp(proto, "tls") == 0) {
        method = TLS_client_method();
    } else if (strcmp(proto, "dtls") == 0) {
        method = DTLS_client_method();
    } else {
#if OPENSSL_VERSION_NUMBER >= 0x30200000L && !defined(OPENSSL_NO_QUIC)
        method = OSSL_QUIC_client_method();
#else
        fprintf(stderr, "this OpenSSL has no QUIC\n");
        return NULL;
#endif
    }
    ctx = SSL_CTX_new(method);
    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (cafile != NULL ? !SSL_CTX_load_verify_file(ctx, cafile)
                       : !SSL_CTX_set_default_verify_paths(ctx)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    ssl = SSL_new(ctx);
    SSL_CTX_free(ctx); /* the SSL object holds its own reference */
    if (ssl == NULL)
        return NULL;
    if (strcmp(proto, "tls") == 0) {
        SSL_set_fd(ssl, fd);
    } else {
        /* NOCLOSE until it all worked: on failure main() closes |fd|. */
        BIO *bio = BIO_new_dgram(fd, BIO_NOCLOSE);
        BIO_ADDR *peer = peer_address(fd);
        int ok = bio != NULL && peer != NULL;

        /* The socket is connected: tell the BIO, so that it sends with
         * send() to that peer, and QUIC where its first packet goes. */
        if (ok)
            ok = BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, peer) > 0;
#if OPENSSL_VERSION_NUMBER >= 0x30200000L && !defined(OPENSSL_NO_QUIC)
        if (ok && strcmp(proto, "quic") == 0)
            ok = SSL_set1_initial_peer_addr(ssl, peer);
#endif
        BIO_ADDR_free(peer);
        if (!ok) {
            BIO_free(bio);
            SSL_free(ssl);
            return NULL;
        }
        BIO_set_close(bio, BIO_CLOSE);
        SSL_set_bio(ssl, bio, bio);
    }
    if (!SSL_set_tlsext_host_name(ssl, host) || !expect_host(ssl, host)) {
        SSL_free(ssl);
        return NULL;
    }
    if (alpn != NULL && alpn[0] != '\0') {
        unsigned char wire[256];
        size_t len = strlen(alpn);

        if (len > 255) {
            SSL_free(ssl);
            return NULL;
        }
        wire[0] = (unsigned char)len;
        memcpy(wire + 1, alpn, len);
        SSL_set_alpn_protos(ssl, wire, (unsigned)len + 1);
    }
    SSL_set_connect_state(ssl);
    return ssl;
}
