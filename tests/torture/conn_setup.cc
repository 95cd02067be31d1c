/*
 * conn_setup: the sockets and SSL objects of one incarnation.
 *
 * TLS: a TCP connection over loopback, either end may be tickless (a
 * tickless server wraps the accepted socket, as an application would).
 * DTLS: two UDP sockets connected to each other; the server side needs no
 * DTLSv1_listen() since the socket is already the client's alone.
 * QUIC: tickless is the client; the peer is an OpenSSL listener on a UDP
 * socket of its own (one per incarnation, so runs stay independent).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "conn.h"
#include "errtable.h"
#include "report.h"

extern "C" {
#include "ts_certs.h"
#include "ts_net.h"
}

namespace torture {

namespace {

/* A server SSL on |fd| (its BIO closes it). DTLS: |peer_port| is the
 * client's, for the datagram BIO's connected peer. */
SSL *server_ssl(SSL_CTX *ctx, int fd, bool dtls, uint16_t peer_port)
{
    SSL *ssl = SSL_new(ctx);
    BIO *bio = nullptr;
    if (ssl == nullptr)
        return nullptr;
    if (!dtls) {
        bio = BIO_new_socket(fd, BIO_CLOSE);
    } else {
        BIO_ADDR *a = BIO_ADDR_new();
        struct in_addr lo;
        lo.s_addr = htonl(INADDR_LOOPBACK);
        bio = BIO_new_dgram(fd, BIO_CLOSE);
        if (a == nullptr || bio == nullptr
            || !BIO_ADDR_rawmake(a, AF_INET, &lo, sizeof(lo), htons(peer_port))
            || BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, a) <= 0) {
            BIO_free(bio);
            bio = nullptr;
        }
        BIO_ADDR_free(a);
    }
    if (bio == nullptr) {
        SSL_free(ssl);
        return nullptr;
    }
    SSL_set_bio(ssl, bio, bio);
    SSL_set_accept_state(ssl);
    return ssl;
}

/* A connected pair: *client from ts_client_new(), *server on the other
 * socket. */
int make_pair(Proto p, SSL_CTX *sctx, SSL_CTX *cctx, SSL **server,
              SSL **client)
{
    bool dtls = p == Proto::DTLS;
    uint16_t port = 0;
    int lfd = ts_net_bind(dtls ? SOCK_DGRAM : SOCK_STREAM, 0, 1, &port);
    if (lfd < 0)
        return -1;
    if (!dtls) {
        /* An Ethernet-sized MSS both ways (the accepted socket inherits it,
         * and the SYN-ACK announces it), not loopback's 64 KiB: with a
         * receive buffer of a few KiB (conn_setup()) the receiver could
         * never open a window of one segment, and Linux then sends nothing
         * but zero-window probes, backing off to seconds apart. A writer
         * would sit through those spells with the peer reading, which
         * verify_write_stalls() rightly takes for a lost wake-up. */
        int mss = 1460;
        (void)setsockopt(lfd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss));
    }
    *client = ts_client_new(cctx, dtls ? TS_DTLS : TS_TLS, port);
    if (*client == nullptr) {
        close(lfd);
        return -1;
    }
    int sfd = lfd;
    uint16_t cport = ts_net_local_port(SSL_get_fd(*client));
    if (dtls) {
        struct sockaddr_in a = {};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(cport);
        if (connect(lfd, (struct sockaddr *)&a, sizeof(a)) != 0)
            sfd = -1;
    } else {
        sfd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
        close(lfd);
        int one = 1;
        if (sfd >= 0)
            (void)setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (sfd < 0 || (*server = server_ssl(sctx, sfd, dtls, cport)) == nullptr) {
        if (sfd >= 0)
            close(sfd);
        SSL_free(*client);
        return -1;
    }
    if (dtls) {
        ts_dtls_fast_timer(*server);
        ts_dtls_fast_timer(*client);
    }
    return 0;
}

#if TS_HAVE_QUIC
/* A listening QUIC server on a fresh port, and a client for it. */
int make_quic_pair(SSL_CTX *sctx, SSL_CTX *cctx, SSL **listener, SSL **client)
{
    uint16_t port = 0;
    int fd = ts_net_bind(SOCK_DGRAM, 0, 0, &port);
    if (fd < 0)
        return -1;
    SSL *lst = SSL_new_listener(sctx, SSL_LISTENER_FLAG_NO_VALIDATE);
    BIO *bio = lst != nullptr ? BIO_new_dgram(fd, BIO_CLOSE) : nullptr;
    if (bio == nullptr) {
        SSL_free(lst);
        close(fd);
        return -1;
    }
    SSL_set_bio(lst, bio, bio);
    if (!SSL_set_blocking_mode(lst, 0) || !SSL_listen(lst)) {
        SSL_free(lst);
        return -1;
    }
    *client = ts_client_new(cctx, TS_QUIC, port);
    if (*client == nullptr) {
        SSL_free(lst);
        return -1;
    }
    *listener = lst;
    return 0;
}
#endif

} // namespace

int conn_setup(Incarnation *inc, tickless_pool *pool, SSL_CTX *sctx,
               SSL_CTX *cctx)
{
    SSL *server = nullptr, *client = nullptr;
    bool quic = inc->cfg.proto == Proto::QUIC || inc->cfg.proto == Proto::STREAM;
#if TS_HAVE_QUIC
    if (quic && make_quic_pair(sctx, cctx, &server, &client) != 0) {
        fail("slot %d: could not make a QUIC listener and client (harness)",
             inc->slot);
        return -1;
    }
#endif
    if (!quic && make_pair(inc->cfg.proto, sctx, cctx, &server, &client) != 0) {
        fail("slot %d: could not make a %s connection pair (harness)",
             inc->slot, proto_name(inc->cfg.proto));
        return -1;
    }
    SSL *ours = inc->server_role ? server : client;
    SSL *theirs = inc->server_role ? client : server;
    if (inc->cfg.proto == Proto::TLS) {
        /* Small socket buffers: writers block and reads wait often, which
         * is where the interleavings are; loopback's megabytes would hide
         * them. */
        Rng r(inc->peer.seed ^ 0xb0f);
        int snd = 4096 << r.below(5), rcv = 4096 << r.below(5);
        (void)setsockopt(SSL_get_fd(ours), SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd));
        (void)setsockopt(SSL_get_fd(theirs), SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    }
    /* The peer's socket is driven nonblocking by its poll loop. */
    (void)ts_net_set_nonblock(SSL_get_fd(theirs), 1);
    if (!quic)
        SSL_set_mode(theirs, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

    int rc = tickless_conn_new(ours, pool, &inc->c);
    if (!documented(Fn::CONN_NEW, rc))
        fail("tickless_conn_new returned undocumented %d", rc);
    if (rc != 0) {
        fail("slot %d: tickless_conn_new: %s", inc->slot, rc_name(rc));
        SSL_free(ours);
        SSL_free(theirs);
        inc->c = nullptr;
        return -1;
    }
    inc->peer.ssl = theirs;
    inc->peer.misbehave = inc->misbehave;
    inc->peer.start(inc->cfg.proto);
    return 0;
}

} // namespace torture
