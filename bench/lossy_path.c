/*
 * lossy_path: a sink server behind a lossy, delaying UDP relay, in a process
 * of its own, and the control channel to it.
 *
 * The client process must not share its CPU accounting, threads or memory
 * with the server, and it must be able to stop calling into its connection
 * while somebody else still watches what arrives. So the test support's
 * ts_server (sink mode: it counts application bytes) and ts_relay (loss,
 * delay) run in a forked process, whose main thread answers requests on a
 * SOCK_SEQPACKET socket pair: one request, one reply, message boundaries
 * kept by the kernel.
 *
 * While watching, that main thread looks at the server's counters every
 * millisecond, so the times it reports (bytes reached a target, last
 * growth) are accurate to about a millisecond plus scheduling delay, and it
 * samples the bytes received every sample_ms for the time series. Times
 * are CLOCK_MONOTONIC, which every process on the machine shares: the
 * client's t0 and the server's timestamps are on one clock.
 *
 * (ts_server and ts_relay used to keep 64 KiB _Thread_local buffers, which
 * made them unfit for a program that measures per-thread memory; they now
 * keep them on the heap, so linking them adds no TLS segment.)
 */
#include "lossy.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ts_relay.h"
#include "ts_server.h"

#define START_TIMEOUT_MS 10000
#define REPLY_TIMEOUT_MS 5000

enum { OP_STATUS = 1, OP_WATCH, OP_SERIES };

typedef struct request {
    int op;
    unsigned sample_ms;
    uint64_t t0_ns, target_bytes, target_hs;
} request;

typedef struct series_reply {
    uint64_t n;
    uint64_t samples[LOSSY_MAX_SAMPLES];
} series_reply;

/* The server process's state; its main thread only. */
typedef struct watcher {
    ts_server *srv;
    ts_relay *relay;
    int watching;
    request w;             /* the watch in force */
    lossy_status st;       /* reached times and last growth */
    series_reply series;
} watcher;

static void watcher_fill(watcher *wt, lossy_status *st)
{
    *st = wt->st;
    st->now_ns = bench_now_ns();
    st->bytes = ts_server_bytes_received(wt->srv);
    st->handshakes = (uint64_t)ts_server_handshakes_completed(wt->srv);
    st->pattern_errors = ts_server_pattern_errors(wt->srv);
    st->forwarded = ts_relay_forwarded(wt->relay);
    st->dropped = ts_relay_dropped(wt->relay);
}

/* One look at the counters: reached times, growth, due samples. */
static void watcher_step(watcher *wt)
{
    uint64_t now = bench_now_ns();
    uint64_t bytes = ts_server_bytes_received(wt->srv);
    uint64_t hs = (uint64_t)ts_server_handshakes_completed(wt->srv);
    uint64_t step = (uint64_t)wt->w.sample_ms * 1000000u;

    if (bytes != wt->st.bytes) {
        wt->st.bytes = bytes;
        wt->st.last_growth_ns = now;
    }
    if (wt->st.bytes_reached_ns == 0 && wt->w.target_bytes > 0
        && bytes >= wt->w.target_bytes)
        wt->st.bytes_reached_ns = now;
    if (wt->st.hs_reached_ns == 0 && wt->w.target_hs > 0
        && hs >= wt->w.target_hs)
        wt->st.hs_reached_ns = now;
    while (wt->series.n < LOSSY_MAX_SAMPLES
           && now >= wt->w.t0_ns + wt->series.n * step)
        wt->series.samples[wt->series.n++] = bytes;
}

static void watcher_serve(watcher *wt, int ctl)
{
    request rq;
    lossy_status st;
    ssize_t n = recv(ctl, &rq, sizeof(rq), 0);

    if (n == 0)
        _exit(0); /* everyone holding the other end has gone */
    if (n != (ssize_t)sizeof(rq))
        return;
    switch (rq.op) {
    case OP_WATCH:
        wt->w = rq;
        if (wt->w.sample_ms == 0)
            wt->w.sample_ms = 50;
        memset(&wt->st, 0, sizeof(wt->st));
        wt->st.bytes = ts_server_bytes_received(wt->srv);
        wt->series.n = 0;
        wt->watching = 1;
        watcher_step(wt);
        break;
    case OP_SERIES:
        if (wt->watching)
            watcher_step(wt);
        wt->watching = 0;
        (void)send(ctl, &wt->series,
                   sizeof(wt->series.n)
                       + wt->series.n * sizeof(wt->series.samples[0]),
                   MSG_NOSIGNAL);
        return;
    default:
        break;
    }
    if (wt->watching)
        watcher_step(wt);
    watcher_fill(wt, &st);
    (void)send(ctl, &st, sizeof(st), MSG_NOSIGNAL);
}

static _Noreturn void path_child(const lossy_path_opts *o, int ctl,
                                 pid_t parent)
{
    static watcher wt;
    ts_server_options so;
    ts_relay_options ro;
    uint16_t port = 0;

    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    memset(&so, 0, sizeof(so));
    so.proto = o->proto;
    so.sink = 1;
    so.fast_dtls_timer = o->fast_dtls_timer;
    memset(&ro, 0, sizeof(ro));
    ro.seed = o->seed;
    ro.loss = o->loss;
    ro.delay_ms = o->delay_ms;
    if (ts_server_start(&so, &wt.srv) == 0
        && ts_relay_start(ts_server_port(wt.srv), &ro, &wt.relay) == 0)
        port = ts_relay_port(wt.relay);
    /* Port 0 tells the parent the start failed. */
    if (send(ctl, &port, sizeof(port), MSG_NOSIGNAL) != (ssize_t)sizeof(port)
        || port == 0)
        _exit(1);
    for (;;) {
        struct pollfd p = { ctl, POLLIN, 0 };
        int rc = poll(&p, 1, wt.watching ? 1 : -1);

        if (rc < 0 && errno != EINTR)
            _exit(1);
        if (p.revents & POLLIN)
            watcher_serve(&wt, ctl);
        else if (p.revents & (POLLHUP | POLLERR))
            _exit(0);
        if (wt.watching)
            watcher_step(&wt);
    }
}

/* Receives one message of at most |len| bytes within |ms|; its length or
 * -1. */
static ssize_t recv_within(int fd, void *buf, size_t len, int ms)
{
    struct pollfd p = { fd, POLLIN, 0 };
    int rc;

    while ((rc = poll(&p, 1, ms)) < 0 && errno == EINTR)
        ;
    if (rc <= 0)
        return -1;
    return recv(fd, buf, len, 0);
}

int lossy_path_start(const lossy_path_opts *o, lossy_path *out)
{
    pid_t parent = getpid(), pid;
    uint16_t port = 0;
    int sv[2];

    memset(out, 0, sizeof(*out));
    out->ctl = -1;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return -1;
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        close(sv[0]);
        path_child(o, sv[1], parent);
    }
    close(sv[1]);
    out->pid = pid;
    out->ctl = sv[0];
    if (recv_within(out->ctl, &port, sizeof(port), START_TIMEOUT_MS)
            != (ssize_t)sizeof(port)
        || port == 0) {
        lossy_path_stop(out);
        return -1;
    }
    out->port = port;
    return 0;
}

void lossy_path_stop(lossy_path *p)
{
    if (p->ctl >= 0)
        close(p->ctl);
    p->ctl = -1;
    if (p->pid > 0) {
        (void)kill(p->pid, SIGKILL);
        while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    p->pid = 0;
    p->port = 0;
}

static int ask(lossy_path *p, const request *rq, lossy_status *st)
{
    if (send(p->ctl, rq, sizeof(*rq), MSG_NOSIGNAL) != (ssize_t)sizeof(*rq))
        return -1;
    return recv_within(p->ctl, st, sizeof(*st), REPLY_TIMEOUT_MS)
                   == (ssize_t)sizeof(*st)
               ? 0
               : -1;
}

int lossy_path_status(lossy_path *p, lossy_status *st)
{
    request rq;

    memset(&rq, 0, sizeof(rq));
    rq.op = OP_STATUS;
    return ask(p, &rq, st);
}

int lossy_path_watch(lossy_path *p, uint64_t t0_ns, uint64_t target_bytes,
                     uint64_t target_hs, unsigned sample_ms)
{
    request rq;
    lossy_status st;

    memset(&rq, 0, sizeof(rq));
    rq.op = OP_WATCH;
    rq.t0_ns = t0_ns;
    rq.target_bytes = target_bytes;
    rq.target_hs = target_hs;
    rq.sample_ms = sample_ms;
    return ask(p, &rq, &st);
}

int lossy_path_series(lossy_path *p, uint64_t *out, size_t max, size_t *n)
{
    static series_reply r; /* 9.6 KB: not on the stack of a caller's thread */
    request rq;
    ssize_t got;
    size_t k;

    *n = 0;
    memset(&rq, 0, sizeof(rq));
    rq.op = OP_SERIES;
    if (send(p->ctl, &rq, sizeof(rq), MSG_NOSIGNAL) != (ssize_t)sizeof(rq))
        return -1;
    got = recv_within(p->ctl, &r, sizeof(r), REPLY_TIMEOUT_MS);
    if (got < (ssize_t)sizeof(r.n)
        || (size_t)got != sizeof(r.n) + r.n * sizeof(r.samples[0]))
        return -1;
    for (k = 0; k < r.n && k < max; k++)
        out[k] = r.samples[k];
    *n = k;
    return 0;
}
