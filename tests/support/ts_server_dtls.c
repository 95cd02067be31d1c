/*
 * ts_server_dtls: the DTLS test server.
 *
 * One unconnected UDP socket is bound to the server's port. A ClientHello
 * from a peer we are not serving starts a connection: a new socket, bound to
 * the same port (SO_REUSEADDR) and connect()ed to that peer, which the kernel
 * prefers over the unconnected one for that peer's datagrams. That is what
 * lets several clients be served at once, and it means no ICMP port
 * unreachable ever reaches a client: the unconnected socket soaks up every
 * datagram that no connection claims (stale ones after an abort, too).
 *
 * The ClientHello itself was read from the unconnected socket, so it is fed
 * to OpenSSL from a memory BIO for the first handshake step, after which the
 * connected socket becomes the read BIO. No cookie exchange: this is a test
 * server on loopback, and a HelloVerifyRequest would only add a round trip.
 */
#include "ts_server_local.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>

#include "ts_net.h"

/* Record header (13 bytes) then handshake header: type 22, ClientHello 1. */
#define DTLS_RT_HANDSHAKE 22
#define DTLS_HS_CLIENT_HELLO 1
#define DTLS_RECORD_HEADER_LEN 13

static int is_client_hello(const uint8_t *p, size_t n)
{
    return n > DTLS_RECORD_HEADER_LEN && p[0] == DTLS_RT_HANDSHAKE &&
           p[DTLS_RECORD_HEADER_LEN] == DTLS_HS_CLIENT_HELLO;
}

/* The datagram BIO on the connected socket, told who its peer is. */
static BIO *dtls_sock_bio(int fd, const ts_sockaddr *peer)
{
    BIO *bio = BIO_new_dgram(fd, BIO_NOCLOSE);
    BIO_ADDR *addr = BIO_ADDR_new();
    int ok, v6 = peer->sa.sa_family == AF_INET6;

    ok = bio != NULL && addr != NULL &&
         (v6 ? BIO_ADDR_rawmake(addr, AF_INET6, &peer->in6.sin6_addr,
                                sizeof(peer->in6.sin6_addr),
                                peer->in6.sin6_port)
             : BIO_ADDR_rawmake(addr, AF_INET, &peer->in.sin_addr,
                                sizeof(peer->in.sin_addr),
                                peer->in.sin_port)) &&
         BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, addr) > 0;
    BIO_ADDR_free(addr);
    if (!ok) {
        BIO_free(bio);
        return NULL;
    }
    return bio;
}

/*
 * Starts serving |peer| whose ClientHello is |hello|: returns 0, or -1 with
 * nothing left allocated.
 */
static int dtls_start_conn(ts_fdloop *l, const ts_sockaddr *peer,
                           const uint8_t *hello, size_t len)
{
    ts_server *s = l->s;
    BIO *mem = NULL, *sock = NULL;
    SSL *ssl = NULL;
    int fd, ret;

    if ((fd = ts_net_bind_on(s->opt.bind_to, SOCK_DGRAM, s->port, 1, NULL)) < 0)
        return -1;
    if (connect(fd, &peer->sa, ts_sockaddr_len(peer)) != 0 ||
        ts_net_set_nonblock(fd, 1) != 0)
        goto fail;
    if ((ssl = SSL_new(s->ctx)) == NULL ||
        (sock = dtls_sock_bio(fd, peer)) == NULL ||
        (mem = BIO_new_mem_buf(hello, (int)len)) == NULL)
        goto fail;
    /* An empty memory BIO must say "retry", not "EOF". */
    BIO_set_mem_eof_return(mem, -1);
    SSL_set_bio(ssl, mem, sock); /* ssl owns both now */
    mem = sock = NULL;
    SSL_set_accept_state(ssl);
    if (s->opt.fast_dtls_timer)
        ts_dtls_fast_timer(ssl);
    /* Consumes the ClientHello and sends our flight; then wants to read.
     * (An empty error queue first: see ts_server_fdloop.c.) */
    ERR_clear_error();
    ret = SSL_do_handshake(ssl);
    if (ret == 1 || SSL_get_error(ssl, ret) != SSL_ERROR_WANT_READ)
        goto fail;
    /* From now on read from the connected socket; set0 takes one ref. */
    if (!BIO_up_ref(SSL_get_wbio(ssl)))
        goto fail;
    SSL_set0_rbio(ssl, SSL_get_wbio(ssl));
    return ts_fdloop_add(l, ssl, fd, peer, hello, len);

fail:
    BIO_free(mem);
    BIO_free(sock);
    SSL_free(ssl);
    close(fd);
    return -1;
}

/* A datagram for the listening socket from |peer|: a new client's
 * ClientHello starts a connection; anything else is dropped. */
static void dtls_on_datagram(ts_fdloop *l, const ts_sockaddr *peer,
                             const uint8_t *data, size_t len)
{
    int family = l->s->opt.bind_to == TS_NET_V4 ? AF_INET : AF_INET6;

    if (peer->sa.sa_family != family || !is_client_hello(data, len) ||
        ts_fdloop_has_peer(l, peer))
        return; /* stray, stale or duplicate: drop it */
    (void)dtls_start_conn(l, peer, data, len);
}

static void dtls_on_listen_readable(ts_fdloop *l)
{
    uint8_t *buf = l->dgram;

    for (;;) {
        ts_sockaddr peer;
        socklen_t plen = sizeof(peer);
        ssize_t n = recvfrom(l->listen_fd, buf, TS_DATAGRAM_MAX, MSG_DONTWAIT,
                             &peer.sa, &plen);

        if (n < 0)
            return;
        if (plen == ts_sockaddr_len(&peer))
            dtls_on_datagram(l, &peer, buf, (size_t)n);
    }
}

static void dtls_on_new_hello(ts_fdloop *l, const ts_sockaddr *peer,
                              const uint8_t *hello, size_t len)
{
    (void)dtls_start_conn(l, peer, hello, len);
}

int ts_server_dtls_open(ts_server *s)
{
    ts_fdloop *l = calloc(1, sizeof(*l));

    if (l == NULL)
        return -1;
    l->s = s;
    l->is_dtls = 1;
    l->on_listen_readable = dtls_on_listen_readable;
    l->on_new_hello = dtls_on_new_hello;
    l->on_stray = dtls_on_datagram;
    if ((l->dgram = malloc(TS_DATAGRAM_MAX)) == NULL) {
        free(l);
        return -1;
    }
    l->listen_fd = ts_net_bind_on(s->opt.bind_to, SOCK_DGRAM, s->opt.port, 1,
                                  &s->port);
    if (l->listen_fd < 0) {
        free(l->dgram);
        free(l);
        return -1;
    }
    s->impl = l;
    return 0;
}

void ts_server_dtls_run(ts_server *s)
{
    ts_fdloop *l = s->impl;

    ts_fdloop_run(l);
    free(l);
    s->impl = NULL;
}
