/*
 * ts_server_fdloop: serves TLS and DTLS connections from one poll() loop.
 *
 * Each connection is an SSL object over its own socket, driven nonblocking:
 * handshake, then read -> (count | queue for echo) -> write, until
 * close_notify, an error or the end. DTLS timers are honoured through
 * DTLSv1_get_timeout()/DTLSv1_handle_timeout(), so handshakes survive loss.
 * Nothing spins: the loop sleeps in poll() until a socket it waits on is
 * ready, the earliest DTLS timer, or a wake-up.
 */
#include "ts_server_local.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "ts_util.h"

/* Reads per connection per wake-up, so one fast sender cannot starve the
 * rest; a connection that hit it is served again without sleeping. */
#define READ_BUDGET 64
/* A handshake that has not finished by then is given up (stray or stale
 * ClientHellos would otherwise hold a connection forever). */
#define HANDSHAKE_LIMIT_NS (60ull * 1000000000ull)

/*
 * Reused ports (DTLS). A DTLS client that goes away without close_notify
 * leaves its connection here, and its connected socket keeps the client's
 * address. The kernel soon hands the same UDP port to a new client, and
 * then delivers the new client's datagrams to that old socket, where the
 * old SSL object ignores them: the new handshake would never complete.
 * So before serving a readable DTLS connection the loop peeks at the
 * datagram waiting: a ClientHello (epoch 0) whose client random differs
 * from the one that started this connection comes from a new client (a
 * retransmission of our own client's hello carries the same random). The
 * old connection is then dropped and the new one started from that hello.
 *
 * Strays (DTLS). A connection's socket is bound to the server's port before
 * connect() narrows it to its client. A datagram another client sends in
 * between can land in the new socket instead of the listening one, and it
 * stays queued there after connect(). Taken for the connection's own
 * client's (a new ClientHello: the connection would be dropped) or read by
 * its SSL, it would corrupt that client's handshake and lose the other
 * client's. So datagrams at the head of the queue that are not from the
 * connection's peer are taken off and handed to the listening logic.
 */
#define DTLS_CT_HANDSHAKE 22
#define DTLS_HT_CLIENT_HELLO 1
/* 13-byte record header, 12-byte handshake header, 2-byte client_version. */
#define DTLS_HELLO_RANDOM_OFF 27
#define DTLS_RANDOM_LEN 32

typedef struct ts_fdconn {
    SSL *ssl;
    int fd;
    ts_sockaddr peer;
    int has_peer;
    ts_outbuf out;      /* echo bytes not yet accepted by SSL_write */
    short events;       /* poll events the last SSL call is waiting for */
    int kick;           /* serve on the next pass without waiting */
    int hs_done;
    int peer_closed;    /* close_notify received */
    int done;           /* finished; freed at the end of this pass */
    uint64_t born_ns;
    int has_random;     /* DTLS: client_random of the hello that started it */
    uint8_t client_random[DTLS_RANDOM_LEN];
} ts_fdconn;

/* DTLS: 1 with *random set if |p| is a ClientHello record in epoch 0. */
static int dtls_hello_random(const uint8_t *p, size_t n, const uint8_t **random)
{
    if (n < DTLS_HELLO_RANDOM_OFF + DTLS_RANDOM_LEN ||
        p[0] != DTLS_CT_HANDSHAKE || p[3] != 0 || p[4] != 0 ||
        p[13] != DTLS_HT_CLIENT_HELLO)
        return 0;
    *random = p + DTLS_HELLO_RANDOM_OFF;
    return 1;
}

static void conn_free(ts_fdloop *l, ts_fdconn *c, int abortive)
{
    /* SSL_free without SSL_shutdown sends nothing. */
    SSL_free(c->ssl);
    if (abortive && !l->is_dtls && c->fd >= 0) {
        /* Linger on, zero time: close() sends RST instead of FIN. */
        struct linger lg = { 1, 0 };

        (void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    if (c->fd >= 0)
        close(c->fd);
    ts_outbuf_free(&c->out);
    free(c);
    atomic_fetch_sub(&l->s->open_conns, 1);
}

/*
 * DTLS: if the datagram waiting on |c|'s socket is a new client's
 * ClientHello (see "Reused ports"), drops |c| at once (its socket must be
 * closed before the new connection binds one to the same address), starts
 * the new connection and returns 1. Otherwise leaves the datagram for
 * OpenSSL and returns 0.
 */
static int conn_take_new_hello(ts_fdloop *l, ts_fdconn *c)
{
    uint8_t *buf = l->dgram;
    const uint8_t *random;
    ts_sockaddr peer = c->peer;
    ssize_t n;

    if (!c->has_random || !c->has_peer || l->on_new_hello == NULL ||
        buf == NULL)
        return 0;
    for (;;) {
        ts_sockaddr from;
        socklen_t flen = sizeof(from);

        n = recvfrom(c->fd, buf, TS_DATAGRAM_MAX, MSG_PEEK | MSG_DONTWAIT,
                     &from.sa, &flen);
        if (n < 0)
            return 0;
        if (flen == ts_sockaddr_len(&from) && ts_sockaddr_equal(&from, &peer))
            break;
        /* A stray (see "Strays"): take it off the queue and pass it on. */
        n = recv(c->fd, buf, TS_DATAGRAM_MAX, MSG_DONTWAIT);
        if (n > 0 && flen == ts_sockaddr_len(&from) && l->on_stray != NULL)
            l->on_stray(l, &from, buf, (size_t)n);
    }
    if (n == 0 || !dtls_hello_random(buf, (size_t)n, &random) ||
        memcmp(random, c->client_random, DTLS_RANDOM_LEN) == 0)
        return 0;
    /* The same datagram again, now taken off the queue. */
    n = recv(c->fd, buf, TS_DATAGRAM_MAX, MSG_DONTWAIT);
    SSL_free(c->ssl);
    c->ssl = NULL;
    close(c->fd);
    c->fd = -1;
    c->done = 1;
    if (n > 0)
        l->on_new_hello(l, &peer, buf, (size_t)n);
    return 1;
}

int ts_fdloop_add(ts_fdloop *l, SSL *ssl, int fd,
                  const ts_sockaddr *peer, const uint8_t *hello,
                  size_t len)
{
    const uint8_t *random;

    ts_fdconn *c = calloc(1, sizeof(*c));

    if (c == NULL || (l->n == l->cap && l->cap > SIZE_MAX / 2)) {
        free(c);
        SSL_free(ssl);
        close(fd);
        return -1;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        ts_fdconn **v = realloc(l->conns, cap * sizeof(*v));

        if (v == NULL) {
            free(c);
            SSL_free(ssl);
            close(fd);
            return -1;
        }
        l->conns = v;
        l->cap = cap;
    }
    c->ssl = ssl;
    c->fd = fd;
    if (peer != NULL) {
        c->peer = *peer;
        c->has_peer = 1;
    }
    if (hello != NULL && dtls_hello_random(hello, len, &random)) {
        memcpy(c->client_random, random, DTLS_RANDOM_LEN);
        c->has_random = 1;
    }
    c->kick = 1;
    c->born_ns = ts_now_ns();
    l->conns[l->n++] = c;
    atomic_fetch_add(&l->s->accepted, 1);
    atomic_fetch_add(&l->s->open_conns, 1);
    return 0;
}

int ts_fdloop_has_peer(const ts_fdloop *l, const ts_sockaddr *peer)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        const ts_fdconn *c = l->conns[i];

        if (c->fd >= 0 && c->has_peer && ts_sockaddr_equal(&c->peer, peer))
            return 1;
    }
    return 0;
}

/*
 * OpenSSL's error queue is per thread, and this one thread serves every
 * connection: a failure left on the queue by one connection (a client that
 * vanished: "unexpected eof") would make SSL_get_error() report
 * SSL_ERROR_SSL for the next connection's plain WANT_READ, and the server
 * would drop a healthy connection. So the queue is emptied before every SSL
 * call whose outcome SSL_get_error() judges.
 */

/* Maps a failed SSL call to what to wait for: 0 wait, -1 connection over. */
static int conn_wait_for(ts_fdconn *c, int ret)
{
    switch (SSL_get_error(c->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        c->events |= POLLIN;
        return 0;
    case SSL_ERROR_WANT_WRITE:
        c->events |= POLLOUT;
        return 0;
    default:
        return -1;
    }
}

static int conn_flush(ts_fdconn *c)
{
    while (c->out.len > 0) {
        size_t chunk = c->out.len < TS_RECORD_MAX ? c->out.len : TS_RECORD_MAX;
        size_t n;
        int ret;

        ERR_clear_error();
        ret = SSL_write_ex(c->ssl, c->out.data + c->out.off, chunk, &n);

        if (ret != 1)
            return conn_wait_for(c, ret);
        ts_outbuf_consume(&c->out, n);
    }
    return 0;
}

/* Serves |c| as far as it can go without blocking: 0 live, -1 finished. */
static int conn_step(ts_fdloop *l, ts_fdconn *c)
{
    uint8_t buf[TS_RECORD_MAX];
    int budget = READ_BUDGET;

    c->events = 0;
    c->kick = 0;
    if (!c->hs_done) {
        int ret;

        ERR_clear_error();
        ret = SSL_do_handshake(c->ssl);

        if (ret != 1) {
            if (ts_now_ns() - c->born_ns > HANDSHAKE_LIMIT_NS)
                return -1;
            return conn_wait_for(c, ret);
        }
        c->hs_done = 1;
        atomic_fetch_add(&l->s->handshakes, 1);
    }
    for (;;) {
        size_t n;
        int ret;

        if (conn_flush(c) != 0)
            return -1;
        if (c->peer_closed) {
            if (c->out.len > 0)
                return 0; /* conn_flush set the events to wait for */
            /* Answer close_notify with ours; the outcome does not matter. */
            (void)SSL_shutdown(c->ssl);
            return -1;
        }
        if (c->out.len >= TS_OUTBUF_CAP)
            return 0; /* backpressure: read again once output drains */
        if (budget-- == 0) {
            c->kick = 1;
            return 0;
        }
        ERR_clear_error();
        ret = SSL_read_ex(c->ssl, buf, sizeof(buf), &n);
        if (ret == 1) {
            atomic_fetch_add(&l->s->bytes_received, n);
            if (l->s->opt.sink)
                continue;
            /* DTLS: each record goes back as one record, so a datagram
             * protocol's message boundaries survive the echo (and a lost
             * datagram loses whole messages). Queued only if it cannot go
             * at once. */
            if (l->is_dtls && c->out.len == 0) {
                size_t w = 0;

                ERR_clear_error();
                if (SSL_write_ex(c->ssl, buf, n, &w) == 1)
                    continue;
            }
            if (ts_outbuf_append(&c->out, buf, n) != 0)
                return -1;
            continue;
        }
        if (SSL_get_error(c->ssl, ret) == SSL_ERROR_ZERO_RETURN) {
            c->peer_closed = 1;
            continue;
        }
        return conn_wait_for(c, ret);
    }
}

static void loop_remove(ts_fdloop *l, size_t i, int abortive)
{
    conn_free(l, l->conns[i], abortive);
    l->conns[i] = l->conns[--l->n];
}

static void loop_free_all(ts_fdloop *l, int abortive)
{
    while (l->n > 0)
        loop_remove(l, l->n - 1, abortive);
}

/* The earliest DTLS timer in ms (capped), or 0 if a connection is kicked. */
static int loop_timeout_ms(ts_fdloop *l)
{
    int best = TS_MAX_SLEEP_MS;
    size_t i;

    for (i = 0; i < l->n; i++) {
        struct timeval tv;
        int ms;

        if (l->conns[i]->kick)
            return 0;
        if (!l->is_dtls || DTLSv1_get_timeout(l->conns[i]->ssl, &tv) != 1)
            continue;
        ms = ts_server_timeout_ms(&tv, 0);
        if (ms < best)
            best = ms;
    }
    return best;
}

void ts_fdloop_run(ts_fdloop *l)
{
    struct pollfd *pfd = NULL;
    size_t pfd_cap = 0;

    while (!atomic_load(&l->s->stop)) {
        size_t i, npoll = l->n;
        uint64_t gen;

        if (pfd_cap < npoll + 2) {
            struct pollfd *p = realloc(pfd, (npoll + 2) * sizeof(*p));

            if (p == NULL) {
                ts_sleep_ms(10); /* out of memory: try again shortly */
                continue;
            }
            pfd = p;
            pfd_cap = npoll + 2;
        }
        pfd[0].fd = l->s->wake_fd;
        pfd[0].events = POLLIN;
        pfd[1].fd = l->listen_fd;
        pfd[1].events = POLLIN;
        for (i = 0; i < npoll; i++) {
            pfd[i + 2].fd = l->conns[i]->fd;
            pfd[i + 2].events = l->conns[i]->events;
        }
        if (poll(pfd, npoll + 2, loop_timeout_ms(l)) < 0 && errno != EINTR)
            break;
        if (pfd[0].revents)
            ts_server_drain_wake(l->s);
        if ((gen = ts_server_abort_pending(l->s)) != 0) {
            loop_free_all(l, 1);
            ts_server_abort_ack(l->s, gen);
            continue;
        }
        /* Existing connections first: new ones are appended after npoll. */
        for (i = 0; i < npoll; i++) {
            ts_fdconn *c = l->conns[i];
            int due = c->kick || pfd[i + 2].revents != 0;

            if (l->is_dtls && (pfd[i + 2].revents & POLLIN) &&
                conn_take_new_hello(l, c))
                continue;

            if (l->is_dtls && DTLSv1_handle_timeout(c->ssl) > 0)
                due = 1;
            if (due && conn_step(l, c) != 0)
                c->done = 1;
        }
        if (pfd[1].revents)
            l->on_listen_readable(l);
        for (i = npoll; i < l->n; i++) {
            /* A new connection's socket may hold strays already. */
            if (l->is_dtls && conn_take_new_hello(l, l->conns[i]))
                continue;
            if (conn_step(l, l->conns[i]) != 0)
                l->conns[i]->done = 1;
        }
        /* Sweep finished connections (backwards: removal swaps in the last). */
        for (i = l->n; i-- > 0;)
            if (l->conns[i]->done)
                loop_remove(l, i, 0);
    }
    free(pfd);
    loop_free_all(l, 0);
    free(l->conns);
    l->conns = NULL;
    l->cap = 0;
    close(l->listen_fd);
    l->listen_fd = -1;
    free(l->dgram);
    l->dgram = NULL;
}
