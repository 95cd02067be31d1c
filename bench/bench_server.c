/*
 * bench_server: a QUIC echo server (OpenSSL 3.5 listener) in a process of
 * its own.
 *
 * A benchmark that counts the client's threads, memory and CPU must not count
 * the server's: so the server runs in a forked child and tells the parent its
 * port through a pipe. The child dies with the parent (PR_SET_PDEATHSIG) and
 * is killed, not asked, when the measurement is over.
 *
 * Why not the test support's ts_server: when this server was written, that
 * library's DTLS and TCP servers kept 2 x 64 KiB _Thread_local read buffers.
 * Linked into this program they were static TLS in *every* thread of the
 * measured client process too (glibc zeroes each thread's static TLS when it
 * creates the thread: +128 KiB of RSS per assist thread), which inflated
 * exactly the per-thread costs this benchmark compares. The support library
 * now keeps those buffers on the heap (the `busy` and `dtls-handshake`
 * scenarios run ts_server and ts_relay, see lossy_path.c), and the program
 * must still carry no TLS segment (`readelf -lW tickless-bench`). This loop
 * stays because it is what `scale` was measured against: one thread,
 * explicit event handling per connection.
 *
 * The loop is the test server's, reduced to what a benchmark needs: one
 * socket, one listener, no address validation, one thread (the process's
 * only one). Each accepted connection's default stream is echoed. Event
 * handling is explicit per connection, so serving n connections costs one
 * engine tick per wake-up, not n. The server's idle timeout is a transport
 * parameter fixed while the ClientHello is processed, and OpenSSL 3.5 holds
 * the engine lock in both hooks it offers there, so the ClientHello callback
 * suspends each new handshake until the loop, outside the lock, has
 * configured the connection (as ts_server_quic.c explains at length).
 *
 * The parent must fork it while single-threaded, after ts_cert_get0(): the
 * server and every client process then share the one generated identity.
 */
#include "bench.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long the parent waits for the child's port. */
#define START_TIMEOUT_MS 10000

#if BENCH_HAVE_QUIC

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <openssl/quic.h>

#include "ts_certs.h"
#include "ts_net.h"
#include "ts_outbuf.h"

#define MAX_SLEEP_MS 1000
#define READ_BUDGET 16          /* reads per connection per wake-up */
#define ECHO_BACKLOG (1u << 20) /* stop reading a client that does not read */

typedef struct echo_conn {
    SSL *ssl;
    ts_outbuf out;      /* echo bytes not yet accepted by SSL_write_ex */
    int stream_done;    /* FIN echoed, or the stream failed */
} echo_conn;

/* A connection whose handshake waits in the ClientHello callback until the
 * loop has configured it. */
typedef struct pending {
    SSL *ssl;           /* one reference of ours */
    int configured;
} pending;

typedef struct echo_server {
    uint64_t idle_timeout_ms;
    SSL *listener;
    echo_conn **conns;
    size_t n, cap;
    pending *pend;
    size_t npend, pend_cap;
    int kick;           /* work left over: do not sleep */
    int ctl_fd;         /* push requests (bench_server_start_ctl), or -1 */
} echo_server;

static int would_block(SSL *ssl)
{
    switch (SSL_get_error(ssl, 0)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
    case SSL_ERROR_WANT_CLIENT_HELLO_CB:
        return 1;
    default:
        return 0;
    }
}

/* Engine lock held: only record the connection (an atomic up-ref). */
static int on_pending_conn(SSL_CTX *ctx, SSL *conn, void *arg)
{
    echo_server *es = arg;

    (void)ctx;
    if (es->npend == es->pend_cap) {
        size_t cap = es->pend_cap ? es->pend_cap * 2 : 64;
        pending *v = realloc(es->pend, cap * sizeof(*v));

        if (v == NULL)
            return 0; /* refuse it rather than misconfigure it */
        es->pend = v;
        es->pend_cap = cap;
    }
    if (!SSL_up_ref(conn))
        return 0;
    es->pend[es->npend].ssl = conn;
    es->pend[es->npend].configured = 0;
    es->npend++;
    return 1;
}

static int on_client_hello(SSL *ssl, int *alert, void *arg)
{
    echo_server *es = arg;
    size_t i;

    (void)alert;
    for (i = 0; i < es->npend; i++)
        if (es->pend[i].ssl == ssl)
            return es->pend[i].configured ? SSL_CLIENT_HELLO_SUCCESS
                                          : SSL_CLIENT_HELLO_RETRY;
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* Outside the engine lock: configures recorded connections, drops the
 * references of those whose handshake has moved on. */
static void pending_service(echo_server *es)
{
    size_t i = 0;

    while (i < es->npend) {
        pending *p = &es->pend[i];
        SSL_CONN_CLOSE_INFO info;

        if (!p->configured) {
            (void)SSL_set_event_handling_mode(
                p->ssl, SSL_VALUE_EVENT_HANDLING_MODE_EXPLICIT);
            ts_quic_set_idle_timeout(p->ssl, es->idle_timeout_ms);
            p->configured = 1;
            es->kick = 1; /* resume its handshake on the next tick */
        }
        if (!SSL_is_init_finished(p->ssl)
            && SSL_get_conn_close_info(p->ssl, &info, sizeof(info)) != 1) {
            i++;
            continue;
        }
        SSL_free(p->ssl);
        es->pend[i] = es->pend[--es->npend];
    }
}

static void accept_all(echo_server *es)
{
    SSL *ssl;

    while ((ssl = SSL_accept_connection(es->listener,
                                        SSL_ACCEPT_CONNECTION_NO_BLOCK))) {
        echo_conn *c = calloc(1, sizeof(*c));

        if (c != NULL && es->n == es->cap) {
            size_t cap = es->cap ? es->cap * 2 : 256;
            echo_conn **v = realloc(es->conns, cap * sizeof(*v));

            if (v == NULL) {
                free(c);
                c = NULL;
            } else {
                es->conns = v;
                es->cap = cap;
            }
        }
        if (c == NULL) {
            SSL_free(ssl);
            continue;
        }
        (void)SSL_set_blocking_mode(ssl, 0);
        /* Accepted connections do not inherit the context's modes. */
        SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE);
        c->ssl = ssl;
        es->conns[es->n++] = c;
    }
}

/* How much of the backlog to offer OpenSSL in one write. OpenSSL 3.5 grows
 * a stream's send buffer by exactly what a write lacks, copying everything
 * the buffer holds each time: offering the whole backlog (up to
 * ECHO_BACKLOG) while the buffer is full made the server copy megabytes per
 * few kilobytes accepted, once a client read a little late. Offering at most
 * what is free or the buffer's current size, whichever is larger, makes the
 * buffer grow by doubling at most: copies stay in proportion to the data. */
static size_t write_size(const echo_conn *c)
{
    uint64_t avail, size, cap;

    if (!SSL_get_stream_write_buf_avail(c->ssl, &avail)
        || !SSL_get_stream_write_buf_size(c->ssl, &size))
        return c->out.len;
    cap = avail > size ? avail : size;
    return c->out.len < cap ? c->out.len : (size_t)cap;
}

/* Echoes what one connection has; returns 1 once it has ended. */
static int serve(echo_server *es, echo_conn *c)
{
    uint8_t buf[16384];
    int budget = READ_BUDGET;
    SSL_CONN_CLOSE_INFO info;
    size_t n;

    while (!c->stream_done) {
        while (c->out.len > 0
               && SSL_write_ex(c->ssl, c->out.data + c->out.off,
                               write_size(c), &n))
            ts_outbuf_consume(&c->out, n);
        if (c->out.len > 0 && !would_block(c->ssl)) {
            c->stream_done = 1;
            break;
        }
        if (c->out.len >= ECHO_BACKLOG)
            break;
        if (budget-- == 0) {
            es->kick = 1;
            break;
        }
        if (SSL_read_ex(c->ssl, buf, sizeof(buf), &n)) {
            if (ts_outbuf_append(&c->out, buf, n) != 0)
                c->stream_done = 1;
            continue;
        }
        if (SSL_get_error(c->ssl, 0) == SSL_ERROR_ZERO_RETURN) {
            if (c->out.len == 0) {
                (void)SSL_stream_conclude(c->ssl, 0);
                c->stream_done = 1;
            }
            break;
        }
        if (!would_block(c->ssl))
            c->stream_done = 1; /* reset, or the connection is going */
        break;
    }
    return SSL_get_conn_close_info(c->ssl, &info, sizeof(info)) == 1;
}

static int timeout_ms(echo_server *es)
{
    struct timeval tv;
    int inf = 1;
    uint64_t ms;

    if (es->kick)
        return 0;
    if (!SSL_get_event_timeout(es->listener, &tv, &inf) || inf)
        return MAX_SLEEP_MS;
    ms = (uint64_t)tv.tv_sec * 1000u + ((uint64_t)tv.tv_usec + 999u) / 1000u;
    return ms > MAX_SLEEP_MS ? MAX_SLEEP_MS : (int)ms;
}

/*
 * Push requests: each uint32_t read from the control pipe queues that many
 * bytes on every connection's stream, as if they were echo bytes, so that
 * the peer receives data it did not ask for at a moment the parent chose.
 * The last writer closing the pipe (EOF) just stops the requests.
 */
static void push_requests(echo_server *es)
{
    uint8_t fill[4096];
    uint32_t n;
    size_t i;

    memset(fill, 'p', sizeof(fill));
    for (;;) {
        ssize_t r = read(es->ctl_fd, &n, sizeof(n));

        if (r == 0)
            es->ctl_fd = -1; /* no writer left: stop polling it */
        if (r != (ssize_t)sizeof(n))
            return; /* 4-byte pipe writes are atomic: EAGAIN or EOF */
        for (i = 0; i < es->n; i++) {
            uint32_t left = n;

            while (left > 0) {
                uint32_t k = left < sizeof(fill) ? left : sizeof(fill);

                if (ts_outbuf_append(&es->conns[i]->out, fill, k) != 0)
                    break;
                left -= k;
            }
        }
    }
}

/* The server process's loop; never returns. */
static _Noreturn void echo_run(echo_server *es, int fd)
{
    for (;;) {
        struct pollfd p[2] = { { fd, POLLIN, 0 }, { es->ctl_fd, POLLIN, 0 } };
        size_t i;

        if (SSL_net_write_desired(es->listener))
            p[0].events |= POLLOUT;
        if (poll(p, es->ctl_fd >= 0 ? 2 : 1, timeout_ms(es)) < 0
            && errno != EINTR)
            _exit(1);
        es->kick = 0;
        (void)SSL_handle_events(es->listener);
        pending_service(es);
        accept_all(es);
        if (es->ctl_fd >= 0 && (p[1].revents & (POLLIN | POLLHUP)))
            push_requests(es);
        for (i = es->n; i-- > 0;) {
            echo_conn *c = es->conns[i];

            if (serve(es, c)) {
                SSL_free(c->ssl);
                ts_outbuf_free(&c->out);
                free(c);
                es->conns[i] = es->conns[--es->n];
            }
        }
        /* Send what serving queued now, not at the next wake-up. */
        (void)SSL_handle_events(es->listener);
        /* That tick also read the socket: a request it filed into a
         * stream would otherwise wait for the next wake-up (up to
         * MAX_SLEEP_MS, as nothing else may be due). */
        for (i = 0; i < es->n && !es->kick; i++) {
            echo_conn *c = es->conns[i];

            /* (A connection whose echo backlog is full waits for its
             * client to read, not for us: kicking it would spin.) */
            if (!c->stream_done && c->out.len < ECHO_BACKLOG
                && SSL_has_pending(c->ssl))
                es->kick = 1;
        }
    }
}

/* Binds (|*port|, or any port if 0; shared with the other server processes
 * if |shared|), listens and returns the listener, or NULL. */
static SSL *echo_listen(echo_server *es, int shared, int *fd_out,
                        uint16_t *port)
{
    SSL_CTX *ctx = ts_server_ctx(TS_QUIC);
    SSL *lst = NULL;
    BIO *bio;
    int fd;

    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
    SSL_CTX_set_new_pending_conn_cb(ctx, on_pending_conn, es);
    SSL_CTX_set_client_hello_cb(ctx, on_client_hello, es);
    fd = ts_net_bind(SOCK_DGRAM, *port, shared ? TS_NET_REUSEPORT : 0, port);
    if (fd < 0 || ts_net_set_nonblock(fd, 1) != 0)
        goto fail;
    if ((lst = SSL_new_listener(ctx, SSL_LISTENER_FLAG_NO_VALIDATE)) == NULL
        || (bio = BIO_new_dgram(fd, BIO_CLOSE)) == NULL)
        goto fail;
    SSL_set_bio(lst, bio, bio); /* the BIO owns fd now */
    *fd_out = fd;
    fd = -1;
    if (!SSL_set_blocking_mode(lst, 0) || !SSL_listen(lst))
        goto fail;
    SSL_CTX_free(ctx); /* the listener holds its own reference */
    return lst;

fail:
    if (fd >= 0)
        close(fd);
    SSL_free(lst);
    SSL_CTX_free(ctx);
    return NULL;
}

/* What one server process is started with. */
typedef struct echo_start {
    uint64_t idle_timeout_ms;
    int ctl_fd;
    int shared;
    int idle_priority; /* run at SCHED_IDLE (run_at_idle_priority()) */
    uint16_t port; /* to share when |shared| and not 0 */
} echo_start;

/* The shared servers hold scale's N connections, and OpenSSL's listener
 * ticks every connection it holds on each wake-up: at N = 10,000 the four
 * processes wanted more CPU than the two cores have, were always runnable,
 * and the measured client's assist thread waited behind them for a core
 * (its lateness p99 3.5-5.6 ms, against 0.13-1.05 ms with the servers at
 * SCHED_IDLE, in the same build). At SCHED_IDLE they only take the CPU
 * nobody else wants, and any thread of the client that wakes preempts
 * them. Lowering one's own priority needs no privilege; should the
 * kernel refuse SCHED_IDLE, nice 19 is the next best thing. */
static void run_at_idle_priority(void)
{
    struct sched_param none = { 0 };

    if (sched_setscheduler(0, SCHED_IDLE, &none) != 0)
        (void)setpriority(PRIO_PROCESS, 0, 19);
}

/* The server process (bench_peer_start()): reports its port, then serves
 * until it is killed; returns only if it could not start. */
static int server_child(void *arg, int fd)
{
    static echo_server es;
    const echo_start *st = arg;
    uint16_t port = st->port;
    int sock = -1;

    es.idle_timeout_ms = st->idle_timeout_ms;
    es.ctl_fd = st->ctl_fd;
    if (st->idle_priority)
        run_at_idle_priority();
    if (st->ctl_fd >= 0 && ts_net_set_nonblock(st->ctl_fd, 1) != 0)
        return -1;
    if ((es.listener = echo_listen(&es, st->shared, &sock, &port)) == NULL)
        port = 0;
    /* Port 0 tells the parent the start failed. */
    if (write(fd, &port, sizeof(port)) != (ssize_t)sizeof(port) || port == 0)
        return -1;
    close(fd);
    echo_run(&es, sock);
}

/* Forks one server process; returns its pid with its port in |*port| (the
 * port to share when |shared| and |*port| != 0), or -1. */
static pid_t start_one(uint64_t idle_timeout_ms, int ctl_fd, int shared,
                       int idle_priority, uint16_t *port)
{
    echo_start st = { idle_timeout_ms, ctl_fd, shared, idle_priority, *port };
    uint16_t got = 0;
    bench_peer peer;

    if (bench_peer_start(server_child, &st, &got, sizeof(got),
                         START_TIMEOUT_MS, &peer)
        != 0)
        return -1;
    if (got == 0 || (*port != 0 && got != *port)) {
        (void)bench_peer_finish(&peer, NULL, 0, 0);
        return -1;
    }
    /* Stopped by bench_server_stop(), which kills it: the socket is not
     * needed. */
    close(peer.fd);
    *port = got;
    return peer.pid;
}

int bench_server_start(uint64_t idle_timeout_ms, bench_server *out)
{
    return bench_server_start_ctl(idle_timeout_ms, -1, out);
}

int bench_server_start_ctl(uint64_t idle_timeout_ms, int ctl_fd,
                           bench_server *out)
{
    pid_t pid;

    memset(out, 0, sizeof(*out));
    pid = start_one(idle_timeout_ms, ctl_fd, 0, 0, &out->port);
    if (pid < 0) {
        memset(out, 0, sizeof(*out));
        return -1;
    }
    out->pids[out->nprocs++] = pid;
    return 0;
}

int bench_server_start_shared(uint64_t idle_timeout_ms, unsigned processes,
                              int idle_priority, bench_server *out)
{
    unsigned i;

    memset(out, 0, sizeof(*out));
    if (processes < 1 || processes > BENCH_SERVER_MAX_PROCS)
        return -1;
    for (i = 0; i < processes; i++) {
        pid_t pid = start_one(idle_timeout_ms, -1, 1, idle_priority,
                              &out->port);

        if (pid < 0) {
            bench_server_stop(out);
            return -1;
        }
        out->pids[out->nprocs++] = pid;
    }
    return 0;
}

#else /* !BENCH_HAVE_QUIC */

int bench_server_start(uint64_t idle_timeout_ms, bench_server *out)
{
    return bench_server_start_ctl(idle_timeout_ms, -1, out);
}

int bench_server_start_ctl(uint64_t idle_timeout_ms, int ctl_fd,
                           bench_server *out)
{
    (void)idle_timeout_ms;
    (void)ctl_fd;
    memset(out, 0, sizeof(*out));
    return -1;
}

int bench_server_start_shared(uint64_t idle_timeout_ms, unsigned processes,
                              int idle_priority, bench_server *out)
{
    (void)processes;
    (void)idle_priority;
    return bench_server_start_ctl(idle_timeout_ms, -1, out); /* no QUIC */
}

#endif /* BENCH_HAVE_QUIC */

void bench_server_stop(bench_server *s)
{
    unsigned i;

    for (i = 0; i < s->nprocs; i++) {
        (void)kill(s->pids[i], SIGKILL);
        while (waitpid(s->pids[i], NULL, 0) < 0 && errno == EINTR)
            ;
    }
    memset(s, 0, sizeof(*s));
}
