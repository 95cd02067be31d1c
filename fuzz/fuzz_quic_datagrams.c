/*
 * fuzz_quic_datagrams: arbitrary datagrams against a tickless QUIC server.
 *
 * The server is a tickless_listener on a pool of one thread, on loopback;
 * its accepted connection echoes for a tickless client (dedicated assist)
 * that reaches it through the test relay. Each input is a list of
 * datagrams (format: fz_datagrams.h) sent to the established connection
 * from the client's own 4-tuple, to the client from the server's, or to
 * the listener from a new peer. Afterwards the connection must echo:
 * nothing an off-path sender can forge may stall an authenticated QUIC
 * connection, so an echo that never comes is a finding. New connections
 * that inputs start (replayed or mutated Initials) are accepted and closed
 * after each input, as a server would refuse them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fz.h"
#include "fz_datagrams.h"
#include "ts_net.h"

#define ACCEPT_DEADLINE_MS 10000
#define HANDSHAKE_MS 5000

static fz_victim g_v;

static tickless_listener *listener(fz_victim *v)
{
    return v->impl;
}

static int quic_setup(fz_victim *v)
{
    tickless_pool_options po;
    tickless_listener *l = NULL;
    SSL *lst;
    int fd, rc;

    tickless_pool_options_defaults(&po);
    po.threads = 1;
    if ((rc = tickless_pool_new(&po, &v->pool)) != 0) {
        snprintf(v->why, sizeof(v->why), "pool: %s", tickless_err_name(rc));
        return -1;
    }
    v->client_ctx = ts_client_ctx(TS_QUIC);
    v->server_ctx = ts_server_ctx(TS_QUIC);
    if (v->client_ctx == NULL || v->server_ctx == NULL) {
        snprintf(v->why, sizeof(v->why), "no QUIC in this OpenSSL");
        return -1;
    }
    lst = SSL_new_listener(v->server_ctx, SSL_LISTENER_FLAG_NO_VALIDATE);
    fd = ts_net_bind(SOCK_DGRAM, 0, 0, &v->server_port);
    if (lst == NULL || fd < 0 || ts_net_set_nonblock(fd, 1) != 0) {
        snprintf(v->why, sizeof(v->why), "listener socket");
        return -1;
    }
    BIO *bio = BIO_new_dgram(fd, BIO_CLOSE);
    SSL_set_bio(lst, bio, bio);
    if ((rc = tickless_listener_new(lst, v->pool, &l)) != 0) {
        snprintf(v->why, sizeof(v->why), "tickless_listener_new: %s",
                 tickless_err_name(rc));
        return -1;
    }
    v->impl = l;
    return 0;
}

/* Accepts connections until one completes its handshake: the real
 * client's. Others (left over from inputs) are closed. */
static tickless_conn *accept_real(fz_victim *v)
{
    uint64_t end = fz_now_ns() + (uint64_t)ACCEPT_DEADLINE_MS * 1000000u;

    while (fz_now_ns() < end) {
        tickless_conn *c = NULL;
        uint64_t t0 = fz_now_ns();
        int rc = tickless_listener_accept(listener(v), &c, 1000);

        fz_bounded("accept", t0, 1000);
        fz_expect_rc("accept", rc, FZ_RC(0) | FZ_RC(TICKLESS_ERR_TIMEOUT));
        if (rc != 0)
            continue;
        t0 = fz_now_ns();
        rc = tickless_conn_handshake(c, 2000);
        fz_bounded("server handshake", t0, 2000);
        fz_expect_rc("server handshake", rc,
                     FZ_RC(0) | FZ_RC(TICKLESS_ERR_TIMEOUT) |
                         FZ_RC(TICKLESS_ERR_PEER) | FZ_RC(TICKLESS_ERR_SSL));
        if (rc == 0)
            return c;
        tickless_conn_close(c);
    }
    return NULL;
}

static int quic_connect(fz_victim *v)
{
    SSL *ssl = ts_client_new(v->client_ctx, TS_QUIC, ts_relay_port(v->relay));
    uint64_t t0;
    int rc;

    if (ssl == NULL || tickless_conn_new(ssl, NULL, &v->client) != 0) {
        SSL_free(ssl);
        snprintf(v->why, sizeof(v->why), "client: ts_client_new/conn_new");
        return -1;
    }
    /* Start the handshake; the client's assist carries it on. */
    rc = tickless_conn_handshake(v->client, 0);
    fz_expect_rc("client handshake(0)", rc,
                 FZ_RC(0) | FZ_RC(TICKLESS_ERR_TIMEOUT));
    if ((v->server = accept_real(v)) == NULL) {
        snprintf(v->why, sizeof(v->why),
                 "no connection completed its handshake in %d ms",
                 ACCEPT_DEADLINE_MS);
        return -1;
    }
    t0 = fz_now_ns();
    rc = tickless_conn_handshake(v->client, HANDSHAKE_MS);
    fz_bounded("client handshake", t0, HANDSHAKE_MS);
    if (rc != 0) {
        snprintf(v->why, sizeof(v->why), "client handshake: %s",
                 tickless_err_name(rc));
        return -1;
    }
    return 0;
}

static void quic_disconnect(fz_victim *v)
{
    tickless_conn_close(v->server);
}

static int quic_stranger_open(fz_victim *v)
{
    v->stranger_fd = ts_net_connect(SOCK_DGRAM, v->server_port);
    if (v->stranger_fd < 0 || ts_net_set_nonblock(v->stranger_fd, 1) != 0) {
        snprintf(v->why, sizeof(v->why), "stranger socket");
        return -1;
    }
    return 0;
}

/* Closes every connection waiting to be accepted: the ones inputs
 * started. Each must be handed out once and close cleanly. */
static void quic_drain(fz_victim *v)
{
    for (;;) {
        tickless_conn *c = NULL;
        int rc = tickless_listener_accept(listener(v), &c, 0);

        fz_expect_rc("accept(0)", rc, FZ_RC(0) | FZ_RC(TICKLESS_ERR_TIMEOUT));
        if (rc != 0)
            return;
        if (c == NULL)
            fz_die("accept returned 0 and no connection");
        tickless_conn_close(c);
    }
}

static void quic_stranger_close(fz_victim *v)
{
    close(v->stranger_fd);
    v->stranger_fd = -1;
    quic_drain(v);
}

static const fz_victim_ops quic_ops = {
    quic_setup, quic_connect, quic_disconnect,
    quic_stranger_open, quic_stranger_close, quic_drain,
};

static void teardown(void)
{
    fz_victim_report(&g_v);
    fz_victim_drop(&g_v);
    tickless_listener_free(listener(&g_v));
    if (tickless_pool_free(g_v.pool) != 0)
        fz_die("QUIC: the server's pool would not free at exit");
    SSL_CTX_free(g_v.client_ctx);
    SSL_CTX_free(g_v.server_ctx);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    g_v.name = "QUIC";
    g_v.proto = TS_QUIC;
    g_v.ops = &quic_ops;
    g_v.lossy = 0;
    fz_victim_init(&g_v);
    atexit(teardown);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_datagrams_run(&g_v, data, size);
    return 0;
}
