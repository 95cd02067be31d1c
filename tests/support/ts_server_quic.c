/*
 * ts_server_quic: the QUIC test server, on OpenSSL 3.5's listener API.
 *
 * One UDP socket, one listener, one thread. The listener and every connection
 * accepted from it share one QUIC engine, so SSL_handle_events() on the
 * listener services them all and SSL_get_event_timeout() on the listener is
 * the earliest deadline of any of them (ACK delay, loss detection, idle). The
 * thread sleeps in poll() on the socket and a wake-up eventfd until then.
 *
 * Event handling is explicit on each connection (3.5 refuses the setting on
 * a listener, so it is set in the new-pending-connection callback): with
 * hundreds of connections, letting every SSL_read_ex() tick the whole engine
 * (the default) would cost O(n^2) per wake-up. Instead the loop ticks the
 * engine once, serves the connections that need it, and, if they read or
 * wrote anything, ticks once more so that it goes out at once. (A tick
 * visits every connection of the engine, so it is not free either.)
 *
 * Which connections need serving. Serving all of them on every wake-up
 * costs several OpenSSL calls per connection: with 2,000 mostly idle
 * connections whose keep-alive PINGs wake the thread 2,000 times a second,
 * that kept this thread busy for good and handshakes queued for seconds.
 * So every connection gets a message callback (SSL_set_msg_callback), which
 * OpenSSL calls, during the engine tick, for each packet and frame the
 * connection receives; it only puts the connection on the |active| list. A
 * wake-up serves that list, plus the connections that still have echo bytes
 * queued, ran out of read budget or have not finished their handshake (they
 * stay on the list). Every SWEEP_NS all connections are served anyway: that
 * is how one that ended without a packet (idle timeout) is noticed and freed.
 *
 * The client's default stream is the first stream it opens; OpenSSL makes it
 * the server connection's default stream too (incoming stream policy AUTO),
 * so the connection object is read and written like a stream.
 */
#include "ts_server_local.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if TS_HAVE_QUIC

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/quic.h>

#include "ts_net.h"
#include "ts_util.h"

/* Reads per connection per wake-up, so one sender cannot starve the rest. */
#define READ_BUDGET 64
/* How often every connection is served, active or not. */
#define SWEEP_NS (200ull * 1000000ull)

typedef struct qconn {
    uint64_t rx_offset;  /* sink: stream offset of the next byte read */
    SSL *ssl;
    ts_outbuf out;   /* echo bytes not yet accepted by SSL_write_ex */
    int hs_counted;
    int peer_fin;    /* the client concluded its stream */
    int concluded;   /* we concluded ours */
    int stream_dead; /* stream reset or failed: wait for the connection end */
    int out_of_budget; /* the last serve stopped reading early */
    int did_io;      /* the last serve read, wrote or concluded something */
    size_t index;    /* its position in qserver.conns */
    int listed;      /* on qserver.active */
} qconn;

typedef struct qpending qpending;

typedef struct qserver {
    int fd;          /* the UDP socket: ours, the listener's BIO borrows it */
    SSL *listener;
    qconn **conns;   /* owned */
    size_t n, cap;
    int kick;        /* some connection ran out of budget: do not sleep */
    qpending *pend;  /* connections not yet configured or not yet resumed */
    size_t npend, pend_cap;
    qconn **active;  /* to serve on the next pass; each at most once */
    size_t nactive, active_cap;
    qconn **work;    /* the pass being served (the old |active|) */
    size_t work_cap;
    uint64_t next_sweep_ns;
    uint64_t rx_msgs; /* packets and frames received, per on_quic_msg */
    int did_io;      /* some connection of this pass did I/O */
} qserver;

/* SSL ex_data slot: the qconn of an accepted connection (NULL before). */
static int g_qconn_idx = -1;
static pthread_once_t g_qconn_once = PTHREAD_ONCE_INIT;

static void qconn_idx_init(void)
{
    g_qconn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* Puts |c| on the active list (once). 0, or -1 out of memory: then the
 * next sweep serves it. */
static int active_push(qserver *q, qconn *c)
{
    if (c->listed)
        return 0;
    if (q->nactive == q->active_cap) {
        size_t cap = q->active_cap ? q->active_cap * 2 : 64;
        qconn **v = realloc(q->active, cap * sizeof(*v));

        if (v == NULL)
            return -1;
        q->active = v;
        q->active_cap = cap;
    }
    q->active[q->nactive++] = c;
    c->listed = 1;
    return 0;
}

/*
 * The message callback: OpenSSL calls it inside the engine tick (engine
 * mutex held, on this server's thread) for what each connection sends and
 * receives. Received packets and frames mark the connection active; nothing
 * else may be done here.
 */
static void on_quic_msg(int write_p, int version, int content_type,
                        const void *buf, size_t len, SSL *ssl, void *arg)
{
    qconn *c;

    (void)version;
    (void)content_type;
    (void)buf;
    (void)len;
    if (write_p || ssl == NULL || g_qconn_idx < 0)
        return;
    /* The internal TLS object reports too, without our ex_data: skipped. */
    if ((c = SSL_get_ex_data(ssl, g_qconn_idx)) != NULL) {
        qserver *q = arg;

        q->rx_msgs++;
        (void)active_push(q, c);
    }
}

/*
 * Configuring a new connection before its handshake.
 *
 * The server's idle timeout is a transport parameter, fixed when the server
 * generates its parameters while processing the ClientHello, so it must be
 * set before that. But OpenSSL 3.5 runs both hooks it offers (the new
 * pending connection callback and the ClientHello callback) with the engine
 * mutex held, and SSL_set_value_uint() takes that mutex: calling it there
 * deadlocks. And the listener itself refuses the setting ("conn use only").
 *
 * So: the pending-connection callback only records the connection (one
 * extra reference, which is just an atomic increment); the ClientHello
 * callback suspends that handshake (SSL_CLIENT_HELLO_RETRY) until the server
 * loop, outside the engine lock, has applied the settings; the next tick
 * resumes it.
 */
struct qpending {
    SSL *ssl;        /* one reference of ours */
    int configured;
};

static qpending *pending_find(qserver *q, SSL *ssl)
{
    size_t i;

    for (i = 0; i < q->npend; i++)
        if (q->pend[i].ssl == ssl)
            return &q->pend[i];
    return NULL;
}

static int on_pending_conn(SSL_CTX *ctx, SSL *conn, void *arg)
{
    ts_server *s = arg;
    qserver *q = s->impl;

    (void)ctx;
    if (q->npend == q->pend_cap) {
        size_t cap = q->pend_cap ? q->pend_cap * 2 : 16;
        qpending *v = realloc(q->pend, cap * sizeof(*v));

        if (v == NULL)
            return 0; /* refuse the connection rather than misconfigure it */
        q->pend = v;
        q->pend_cap = cap;
    }
    if (!SSL_up_ref(conn))
        return 0;
    q->pend[q->npend].ssl = conn;
    q->pend[q->npend].configured = 0;
    q->npend++;
    return 1;
}

static int on_client_hello(SSL *ssl, int *alert, void *arg)
{
    ts_server *s = arg;
    qpending *p = pending_find(s->impl, ssl);

    (void)alert;
    if (p != NULL && !p->configured)
        return SSL_CLIENT_HELLO_RETRY;
    return SSL_CLIENT_HELLO_SUCCESS;
}

/*
 * Outside the engine lock: applies the settings to recorded connections.
 * Returns 1 if any was configured (its handshake waits for the next tick).
 */
static int pending_configure(ts_server *s, qserver *q)
{
    int any = 0;
    size_t i;

    for (i = 0; i < q->npend; i++) {
        qpending *p = &q->pend[i];

        if (p->configured)
            continue;
        (void)SSL_set_event_handling_mode(
            p->ssl, SSL_VALUE_EVENT_HANDLING_MODE_EXPLICIT);
        SSL_set_msg_callback(p->ssl, on_quic_msg);
        SSL_set_msg_callback_arg(p->ssl, q);
        if (s->opt.idle_timeout_ms != 0)
            ts_quic_set_idle_timeout(p->ssl, s->opt.idle_timeout_ms);
        p->configured = 1;
        any = 1;
    }
    return any;
}

/* Drops our references to connections whose handshake has resumed. */
static void pending_release(qserver *q, int all)
{
    size_t i = 0;

    while (i < q->npend) {
        qpending *p = &q->pend[i];

        SSL_CONN_CLOSE_INFO info;

        if (!all && !(p->configured && SSL_is_init_finished(p->ssl)) &&
            SSL_get_conn_close_info(p->ssl, &info, sizeof(info)) != 1) {
            i++;
            continue;
        }
        SSL_free(p->ssl);
        q->pend[i] = q->pend[--q->npend];
    }
}

static SSL *quic_listen(ts_server *s, int fd)
{
    SSL *lst = SSL_new_listener(s->ctx, SSL_LISTENER_FLAG_NO_VALIDATE);
    BIO *bio;

    if (lst == NULL)
        return NULL;
    if ((bio = BIO_new_dgram(fd, BIO_NOCLOSE)) == NULL) {
        SSL_free(lst);
        return NULL;
    }
    SSL_set_bio(lst, bio, bio);
    if (!SSL_set_blocking_mode(lst, 0) || !SSL_listen(lst)) {
        SSL_free(lst);
        return NULL;
    }
    return lst;
}

/*
 * One socket takes the datagrams of every client. The default receive
 * buffer (212 KB) holds only some hundred small datagrams, as each is
 * charged its whole kernel buffer: 2,000 clients' keep-alives arriving
 * while this thread serves a pass overflowed it, and the lost PINGs let
 * connections hit their idle timeout. Ask for more (the kernel caps it at
 * net.core.rmem_max / wmem_max); best effort.
 */
static void quic_grow_buffers(int fd)
{
    int size = 8 * 1024 * 1024;

    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

int ts_server_quic_open(ts_server *s)
{
    qserver *q = calloc(1, sizeof(*q));

    if (q == NULL || pthread_once(&g_qconn_once, qconn_idx_init) != 0 ||
        g_qconn_idx < 0) {
        free(q);
        return -1;
    }
    SSL_CTX_set_mode(s->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
    SSL_CTX_set_new_pending_conn_cb(s->ctx, on_pending_conn, s);
    SSL_CTX_set_client_hello_cb(s->ctx, on_client_hello, s);
    if ((q->fd = ts_net_bind_on(s->opt.bind_to, SOCK_DGRAM, s->opt.port, 0,
                                &s->port)) < 0 ||
        ts_net_set_nonblock(q->fd, 1) != 0 ||
        (q->listener = quic_listen(s, q->fd)) == NULL) {
        if (q->fd >= 0)
            close(q->fd);
        free(q);
        return -1;
    }
    quic_grow_buffers(q->fd);
    s->impl = q;
    return 0;
}

static void qconn_free(ts_server *s, qconn *c)
{
    (void)SSL_set_ex_data(c->ssl, g_qconn_idx, NULL);
    SSL_free(c->ssl);
    ts_outbuf_free(&c->out);
    free(c);
    atomic_fetch_sub(&s->open_conns, 1);
}

static void quic_accept_all(ts_server *s, qserver *q)
{
    SSL *ssl;

    while ((ssl = SSL_accept_connection(q->listener,
                                        SSL_ACCEPT_CONNECTION_NO_BLOCK))) {
        qconn *c = calloc(1, sizeof(*c));

        if (c != NULL && q->n == q->cap) {
            size_t cap = q->cap ? q->cap * 2 : 64;
            qconn **v = realloc(q->conns, cap * sizeof(*v));

            if (v == NULL) {
                free(c);
                c = NULL;
            } else {
                q->conns = v;
                q->cap = cap;
            }
        }
        atomic_fetch_add(&s->accepted, 1);
        if (c == NULL) {
            SSL_free(ssl);
            continue;
        }
        (void)SSL_set_blocking_mode(ssl, 0);
        /* Accepted connections do not inherit the context's modes. Without
         * partial writes, retrying a short write with a longer buffer (the
         * echo buffer grows meanwhile) fails with "bad write retry". */
        SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE);
        c->ssl = ssl;
        c->index = q->n;
        q->conns[q->n++] = c;
        atomic_fetch_add(&s->open_conns, 1);
        (void)SSL_set_ex_data(ssl, g_qconn_idx, c);
        (void)active_push(q, c); /* serve it on this pass */
    }
}

/*
 * 1 if a failed call on a connection is only "not yet". Besides WANT_READ
 * and WANT_WRITE that includes WANT_CLIENT_HELLO_CB: OpenSSL 3.5 hands out
 * connections from SSL_accept_connection() before their handshake has
 * finished, and ours may still be suspended in the ClientHello callback.
 * The caller empties the thread's error queue before the failed call: this
 * one thread serves every connection, and another connection's leftover
 * failure must not be taken for this one's (SSL_get_error() consults the
 * queue too).
 */
static int would_block(SSL *ssl)
{
    switch (SSL_get_error(ssl, 0)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
    case SSL_ERROR_WANT_CLIENT_HELLO_CB:
    case SSL_ERROR_WANT_X509_LOOKUP:
    case SSL_ERROR_WANT_RETRY_VERIFY:
    case SSL_ERROR_WANT_ASYNC:
        return 1;
    default:
        return 0;
    }
}

/* 0: wait for the network; -1: the stream is unusable. */
static int qconn_flush(qconn *c)
{
    while (c->out.len > 0) {
        size_t n;

        ERR_clear_error(); /* one thread, many connections: see would_block */
        if (SSL_write_ex(c->ssl, c->out.data + c->out.off, c->out.len, &n)) {
            ts_outbuf_consume(&c->out, n);
            c->did_io = 1;
            continue;
        }
        return would_block(c->ssl) ? 0 : -1;
    }
    return 0;
}

/* Serves one connection; returns 1 once it has ended and may be freed. */
static int qconn_serve(ts_server *s, qserver *q, qconn *c)
{
    uint8_t buf[16384];
    int budget = READ_BUDGET;
    SSL_CONN_CLOSE_INFO info;

    c->out_of_budget = 0;
    c->did_io = 0;
    if (!c->hs_counted && SSL_is_init_finished(c->ssl)) {
        c->hs_counted = 1;
        atomic_fetch_add(&s->handshakes, 1);
    }
    while (!c->stream_dead) {
        size_t n;

        if (qconn_flush(c) != 0) {
            /* A test server that drops its side silently would make the
             * client's failure look like tickless's own: say so. */
            fprintf(stderr, "ts_server: QUIC echo write failed (%d)\n",
                    SSL_get_error(c->ssl, 0));
            c->stream_dead = 1;
            break;
        }
        if (c->peer_fin) {
            /* Everything echoed: finish our side too, once. */
            if (c->out.len == 0 && !c->concluded) {
                (void)SSL_stream_conclude(c->ssl, 0);
                c->did_io = 1;
                c->concluded = 1;
            }
            break;
        }
        if (c->out.len >= TS_OUTBUF_CAP)
            break; /* backpressure: QUIC flow control stops the client */
        if (budget-- == 0) {
            q->kick = 1;
            c->out_of_budget = 1;
            break;
        }
        ERR_clear_error();
        if (SSL_read_ex(c->ssl, buf, sizeof(buf), &n)) {
            c->did_io = 1; /* may also open flow control: send it */
            atomic_fetch_add(&s->bytes_received, n);
            if (s->opt.sink) {
                /* A sink checks content too, so "all bytes arrived" also
                 * means "arrived intact". */
                if (ts_check_pattern(buf, n, c->rx_offset) != n)
                    atomic_fetch_add(&s->pattern_errors, 1);
                c->rx_offset += n;
            } else if (ts_outbuf_append(&c->out, buf, n) != 0) {
                c->stream_dead = 1;
            }
            continue;
        }
        if (SSL_get_error(c->ssl, 0) == SSL_ERROR_ZERO_RETURN) {
            c->peer_fin = 1;
            continue;
        }
        if (!would_block(c->ssl))
            c->stream_dead = 1; /* reset, or the connection is going */
        break;
    }
    /* Closing, draining or terminated: nothing more will come. */
    return SSL_get_conn_close_info(c->ssl, &info, sizeof(info)) == 1;
}

static void quic_free_conns(ts_server *s, qserver *q)
{
    q->nactive = 0;
    while (q->n > 0)
        qconn_free(s, q->conns[--q->n]);
}

/* Removes |c| from q->conns and q->active and frees it. (Serving one
 * connection can tick the engine and put another, about to end, on the
 * active list.) */
static void quic_remove(ts_server *s, qserver *q, qconn *c)
{
    size_t i = c->index;
    size_t k;

    if (c->listed) {
        for (k = 0; k < q->nactive; k++) {
            if (q->active[k] == c) {
                q->active[k] = q->active[--q->nactive];
                break;
            }
        }
        c->listed = 0;
    }

    q->conns[i] = q->conns[--q->n];
    q->conns[i]->index = i;
    qconn_free(s, c);
}

/* Serves |c|; frees it if it has ended, else keeps it on the active list
 * if it has more to do than the network will announce. */
static void quic_serve_one(ts_server *s, qserver *q, qconn *c)
{
    int ended = qconn_serve(s, q, c);

    q->did_io |= c->did_io;
    if (ended) {
        quic_remove(s, q, c);
        return;
    }
    if (c->out.len > 0 || c->out_of_budget || !c->hs_counted)
        (void)active_push(q, c);
}

/* One pass: the active connections, or all of them when a sweep is due. */
static void quic_serve(ts_server *s, qserver *q)
{
    uint64_t now = ts_now_ns();
    size_t i, n;

    if (now >= q->next_sweep_ns) {
        q->next_sweep_ns = now + SWEEP_NS;
        for (i = 0; i < q->nactive; i++)
            q->active[i]->listed = 0;
        q->nactive = 0;
        /* Backwards: quic_remove() moves the last connection into i. */
        for (i = q->n; i-- > 0;)
            quic_serve_one(s, q, q->conns[i]);
        return;
    }
    /* Serve a snapshot: serving puts connections back on |active|. */
    if (q->work_cap < q->nactive) {
        qconn **v = realloc(q->work, q->nactive * sizeof(*v));

        if (v == NULL) {
            q->next_sweep_ns = 0; /* serve everything next time instead */
            q->kick = 1;
            return;
        }
        q->work = v;
        q->work_cap = q->nactive;
    }
    n = q->nactive;
    if (n == 0)
        return; /* q->work may still be NULL: no memcpy from or to it */
    memcpy(q->work, q->active, n * sizeof(*q->work));
    for (i = 0; i < n; i++)
        q->work[i]->listed = 0;
    q->nactive = 0;
    for (i = 0; i < n; i++)
        quic_serve_one(s, q, q->work[i]);
}

/*
 * Drops every connection without a word. Before the objects are freed, the
 * listener's write BIO is swapped for an in-memory datagram sink, so whatever
 * OpenSSL would send on the way out (CONNECTION_CLOSE) goes nowhere. Then a
 * fresh listener takes over the same socket.
 */
static void quic_abort(ts_server *s, qserver *q)
{
    BIO *sink = BIO_new(BIO_s_dgram_mem());

    if (sink != NULL)
        SSL_set0_wbio(q->listener, sink); /* takes sink; drops one ref */
    pending_release(q, 1);
    quic_free_conns(s, q);
    SSL_free(q->listener);
    q->listener = quic_listen(s, q->fd);
}

static int quic_timeout_ms(qserver *q)
{
    struct timeval tv;
    int inf = 1;

    if (q->kick)
        return 0;
    if (q->listener == NULL)
        return TS_MAX_SLEEP_MS;
    if (!SSL_get_event_timeout(q->listener, &tv, &inf))
        inf = 1;
    return ts_server_timeout_ms(&tv, inf);
}

void ts_server_quic_run(ts_server *s)
{
    qserver *q = s->impl;

    while (!atomic_load(&s->stop)) {
        struct pollfd pfd[2];
        uint64_t gen, rx;

        pfd[0].fd = s->wake_fd;
        pfd[0].events = POLLIN;
        pfd[1].fd = q->fd;
        pfd[1].events = POLLIN;
        if (q->listener != NULL && SSL_net_write_desired(q->listener))
            pfd[1].events |= POLLOUT;
        if (poll(pfd, 2, quic_timeout_ms(q)) < 0 && errno != EINTR)
            break;
        q->kick = 0;
        if (pfd[0].revents)
            ts_server_drain_wake(s);
        if ((gen = ts_server_abort_pending(s)) != 0) {
            quic_abort(s, q);
            ts_server_abort_ack(s, gen);
        }
        if (q->listener == NULL) {
            /* Re-listening failed (out of memory?): try again later. */
            q->listener = quic_listen(s, q->fd);
            continue;
        }
        (void)SSL_handle_events(q->listener);
        if (pending_configure(s, q))
            q->kick = 1; /* resume their handshakes on the next tick */
        pending_release(q, 0);
        quic_accept_all(s, q);
        q->did_io = 0;
        quic_serve(s, q);
        /* Send what serving queued now, not at the next wake-up. A tick
         * costs OpenSSL a visit to every connection, so only if there is
         * something to send. */
        if (!q->did_io)
            continue;
        rx = q->rx_msgs;
        (void)SSL_handle_events(q->listener);
        /* That tick may have received packets too: they were taken off
         * the socket, so poll would not announce them. */
        if (q->rx_msgs != rx)
            q->kick = 1;
    }
    pending_release(q, 1);
    quic_free_conns(s, q);
    SSL_free(q->listener);
    close(q->fd);
    free(q->pend);
    free(q->conns);
    free(q->active);
    free(q->work);
    free(q);
    s->impl = NULL;
}

#else /* !TS_HAVE_QUIC */

int ts_server_quic_open(ts_server *s)
{
    (void)s;
    return -1;
}

void ts_server_quic_run(ts_server *s)
{
    (void)s;
}

#endif /* TS_HAVE_QUIC */
