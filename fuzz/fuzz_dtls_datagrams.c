/*
 * fuzz_dtls_datagrams: arbitrary datagrams against tickless-managed DTLS
 * server connections.
 *
 * The application side is what docs/guide.md shows: a listening UDP
 * socket; for each client, a socket bound to the same port and connected
 * to it, whose SSL object (accept state) is handed to tickless, here on a
 * pool of one thread. The client is a tickless client (dedicated assist)
 * behind the test relay. Each input is a list of datagrams (format:
 * fz_datagrams.h) sent to the established server connection from the
 * client's own 4-tuple, to the client from the server's, or from a
 * stranger to a second server connection made for the input, which waits
 * for its ClientHello while tickless ticks it. Afterwards the established
 * connection must echo (or have died as DTLS allows, and be reconnected),
 * and the stranger's connection must answer calls as documented. An echo
 * may be lost, as UDP loses datagrams when a flood fills a socket's buffer
 * (a few hundred empty datagrams do): the connection gets three tries.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netinet/in.h>

#include <openssl/err.h>

#include "fz.h"
#include "fz_datagrams.h"
#include "ts_net.h"

#define HELLO_WAIT_MS 5000
#define HANDSHAKE_MS 5000
#define DTLS_RECORD_HEADER_LEN 13

typedef struct dtls_impl {
    int listen_fd;            /* unconnected, bound to server_port */
    tickless_conn *pending;   /* the stranger's server connection */
    uint8_t hello[65536];
} dtls_impl;

static fz_victim g_v;
static dtls_impl g_impl;

static int dtls_setup(fz_victim *v)
{
    tickless_pool_options po;
    int rc;

    tickless_pool_options_defaults(&po);
    po.threads = 1;
    if ((rc = tickless_pool_new(&po, &v->pool)) != 0) {
        snprintf(v->why, sizeof(v->why), "pool: %s", tickless_err_name(rc));
        return -1;
    }
    v->client_ctx = ts_client_ctx(TS_DTLS);
    v->server_ctx = ts_server_ctx(TS_DTLS);
    g_impl.listen_fd = ts_net_bind(SOCK_DGRAM, 0, 1, &v->server_port);
    if (v->client_ctx == NULL || v->server_ctx == NULL ||
        g_impl.listen_fd < 0 || ts_net_set_nonblock(g_impl.listen_fd, 1)) {
        snprintf(v->why, sizeof(v->why), "contexts or listening socket");
        return -1;
    }
    v->impl = &g_impl;
    return 0;
}

/*
 * A server SSL object on a new socket bound to the server's port and
 * connected to |peer|, which owns the socket. With |hello|, that
 * ClientHello (read off the listening socket) is consumed first, from a
 * memory BIO. NULL on failure.
 */
static SSL *server_ssl(fz_victim *v, const struct sockaddr_in *peer,
                       const uint8_t *hello, size_t len)
{
    BIO_ADDR *addr = BIO_ADDR_new();
    BIO *sock = NULL, *mem = NULL;
    SSL *ssl = NULL;
    int fd = ts_net_bind(SOCK_DGRAM, v->server_port, 1, NULL);

    if (fd < 0 || addr == NULL ||
        connect(fd, (const struct sockaddr *)peer, sizeof(*peer)) != 0 ||
        !BIO_ADDR_rawmake(addr, AF_INET, &peer->sin_addr,
                          sizeof(peer->sin_addr), peer->sin_port) ||
        (sock = BIO_new_dgram(fd, BIO_CLOSE)) == NULL)
        goto fail;
    fd = -1; /* the BIO's now */
    if (BIO_ctrl(sock, BIO_CTRL_DGRAM_SET_CONNECTED, 0, addr) <= 0 ||
        (ssl = SSL_new(v->server_ctx)) == NULL)
        goto fail;
    SSL_set_accept_state(ssl);
    ts_dtls_fast_timer(ssl);
    if (hello == NULL) {
        SSL_set_bio(ssl, sock, sock);
        BIO_ADDR_free(addr);
        return ssl;
    }
    if ((mem = BIO_new_mem_buf(hello, (int)len)) == NULL)
        goto fail;
    BIO_set_mem_eof_return(mem, -1); /* empty: "retry", not EOF */
    SSL_set_bio(ssl, mem, sock);
    mem = sock = NULL;
    ERR_clear_error();
    if (SSL_do_handshake(ssl) == 1 ||
        SSL_get_error(ssl, 0) != SSL_ERROR_WANT_READ ||
        !BIO_up_ref(SSL_get_wbio(ssl)))
        goto fail;
    ERR_clear_error();
    SSL_set0_rbio(ssl, SSL_get_wbio(ssl)); /* from now on, the socket */
    BIO_ADDR_free(addr);
    return ssl;

fail:
    ERR_clear_error();
    SSL_free(ssl);
    BIO_free(sock);
    BIO_free(mem);
    BIO_ADDR_free(addr);
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* Waits for a ClientHello on the listening socket; returns its length
 * (in g_impl.hello) and the sender, or 0. */
static size_t wait_hello(struct sockaddr_in *peer)
{
    uint64_t end = fz_now_ns() + (uint64_t)HELLO_WAIT_MS * 1000000u;

    while (fz_now_ns() < end) {
        struct pollfd p = { g_impl.listen_fd, POLLIN, 0 };
        socklen_t plen = sizeof(*peer);
        ssize_t n;

        if (poll(&p, 1, 100) <= 0)
            continue;
        n = recvfrom(g_impl.listen_fd, g_impl.hello, sizeof(g_impl.hello),
                     MSG_DONTWAIT, (struct sockaddr *)peer, &plen);
        if (n > DTLS_RECORD_HEADER_LEN && plen == sizeof(*peer) &&
            g_impl.hello[0] == 22 && g_impl.hello[DTLS_RECORD_HEADER_LEN] == 1)
            return (size_t)n;
    }
    return 0;
}

static int dtls_connect(fz_victim *v)
{
    struct sockaddr_in peer;
    uint8_t junk[2048];
    SSL *ssl;
    size_t len;
    uint64_t t0;
    int rc;

    while (recv(g_impl.listen_fd, junk, sizeof(junk), MSG_DONTWAIT) >= 0) {
        /* stale datagrams from earlier connections */
    }
    ssl = ts_client_new(v->client_ctx, TS_DTLS, ts_relay_port(v->relay));
    ts_dtls_fast_timer(ssl);
    if (ssl == NULL || tickless_conn_new(ssl, NULL, &v->client) != 0) {
        SSL_free(ssl);
        snprintf(v->why, sizeof(v->why), "client: ts_client_new/conn_new");
        return -1;
    }
    rc = tickless_conn_handshake(v->client, 0); /* sends the ClientHello */
    fz_expect_rc("client handshake(0)", rc, FZ_RC(TICKLESS_ERR_TIMEOUT));
    if ((len = wait_hello(&peer)) == 0) {
        snprintf(v->why, sizeof(v->why), "no ClientHello in %d ms",
                 HELLO_WAIT_MS);
        return -1;
    }
    if ((ssl = server_ssl(v, &peer, g_impl.hello, len)) == NULL ||
        tickless_conn_new(ssl, v->pool, &v->server) != 0) {
        SSL_free(ssl);
        snprintf(v->why, sizeof(v->why), "server connection");
        return -1;
    }
    t0 = fz_now_ns();
    rc = tickless_conn_handshake(v->server, HANDSHAKE_MS);
    fz_bounded("server handshake", t0, HANDSHAKE_MS);
    if (rc == 0) {
        t0 = fz_now_ns();
        rc = tickless_conn_handshake(v->client, HANDSHAKE_MS);
        fz_bounded("client handshake", t0, HANDSHAKE_MS);
    }
    if (rc != 0) {
        snprintf(v->why, sizeof(v->why), "handshake: %s",
                 tickless_err_name(rc));
        return -1;
    }
    return 0;
}

static void dtls_disconnect(fz_victim *v)
{
    tickless_conn_close(v->server);
}

static int dtls_stranger_open(fz_victim *v)
{
    struct sockaddr_in peer;
    SSL *ssl = NULL;
    int rc;

    v->stranger_fd = ts_net_connect(SOCK_DGRAM, v->server_port);
    if (v->stranger_fd < 0 || ts_net_set_nonblock(v->stranger_fd, 1) != 0)
        goto fail;
    memset(&peer, 0, sizeof(peer));
    peer.sin_family = AF_INET;
    peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    peer.sin_port = htons(ts_net_local_port(v->stranger_fd));
    if ((ssl = server_ssl(v, &peer, NULL, 0)) == NULL ||
        tickless_conn_new(ssl, v->pool, &g_impl.pending) != 0)
        goto fail;
    /* Start the handshake: the assist answers whatever comes. */
    rc = tickless_conn_handshake(g_impl.pending, 0);
    fz_expect_rc("stranger handshake(0)", rc, FZ_RC(TICKLESS_ERR_TIMEOUT));
    return 0;

fail:
    SSL_free(ssl);
    snprintf(v->why, sizeof(v->why), "stranger socket or connection");
    return -1;
}

static void dtls_stranger_close(fz_victim *v)
{
    char buf[64];
    size_t n = 0;
    uint64_t t0 = fz_now_ns();
    int rc = tickless_conn_read(g_impl.pending, buf, sizeof(buf), &n, 0);

    fz_bounded("stranger read(0)", t0, 0);
    /* No handshake can complete: the stranger never sees our flight. */
    fz_expect_rc("stranger read(0)", rc,
                 FZ_RC(TICKLESS_ERR_TIMEOUT) | FZ_RC(TICKLESS_ERR_PEER) |
                     FZ_RC(TICKLESS_ERR_SSL) | FZ_RC(TICKLESS_ERR_SYS));
    if (n != 0)
        fz_die("stranger read(0) returned %s with %zu bytes",
               tickless_err_name(rc), n);
    tickless_conn_close(g_impl.pending);
    g_impl.pending = NULL;
    close(v->stranger_fd);
    v->stranger_fd = -1;
}

static const fz_victim_ops dtls_ops = {
    dtls_setup, dtls_connect, dtls_disconnect,
    dtls_stranger_open, dtls_stranger_close, NULL,
};

static void teardown(void)
{
    fz_victim_report(&g_v);
    fz_victim_drop(&g_v);
    if (tickless_pool_free(g_v.pool) != 0)
        fz_die("DTLS: the server's pool would not free at exit");
    close(g_impl.listen_fd);
    SSL_CTX_free(g_v.client_ctx);
    SSL_CTX_free(g_v.server_ctx);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    g_v.name = "DTLS";
    g_v.proto = TS_DTLS;
    g_v.ops = &dtls_ops;
    g_v.lossy = 1;
    fz_victim_init(&g_v);
    atexit(teardown);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_datagrams_run(&g_v, data, size);
    return 0;
}
