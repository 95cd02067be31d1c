/* bench_relay: a timestamping UDP relay in a process of its own; see
 * bench_relay.h. */
#include "bench_relay.h"

#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ts_net.h"

#define START_TIMEOUT_MS 10000
#define DGRAM_MAX 65536
/* Datagrams to the client remembered per wake sample (the last ones). */
#define WAKE_STAMPS 64
/* A wake sample's flight: what the server sends within this long of the
 * first datagram. Its retransmissions come a PTO later at the earliest,
 * which includes the client's max_ack_delay (25 ms by default). */
#define FLIGHT_NS 5000000u

/* The relay process's state; owned by its only thread. */
typedef struct relay {
    int front_fd;  /* the client talks to this one */
    int up_fd;     /* connected to the server */
    int cmd_fd;    /* relay_cmd in (nonblocking) */
    int report_fd; /* relay_report out (nonblocking) */
    struct sockaddr_in client;
    int have_client;
    uint32_t op, id;
    uint64_t to_client[WAKE_STAMPS]; /* RELAY_WAKE: the flight's send
                                        times, a ring */
    uint32_t n_to_client;
    uint64_t flight_start;   /* the first of those datagrams */
    uint32_t n_from_client;  /* RELAY_DROP */
    uint64_t t_orig;
    int orig_kernel;
    uint8_t *buf;            /* one datagram of any size */
} relay;

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The kernel's receive stamp of |m| (CLOCK_REALTIME) on the CLOCK_MONOTONIC
 * scale, or the monotonic time now if there is none. The offset between the
 * clocks is read around the conversion; it only moves if the wall clock is
 * stepped or slewed, which over microseconds does not matter.
 */
static uint64_t rx_stamp(struct msghdr *m, int *kernel)
{
    struct cmsghdr *cm;

    for (cm = CMSG_FIRSTHDR(m); cm != NULL; cm = CMSG_NXTHDR(m, cm)) {
        struct timespec ts;
        uint64_t mono0, real, mono1, rx;

        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_TIMESTAMPNS)
            continue;
        memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
        rx = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        mono0 = clock_ns(CLOCK_MONOTONIC);
        real = clock_ns(CLOCK_REALTIME);
        mono1 = clock_ns(CLOCK_MONOTONIC);
        *kernel = 1;
        return rx - (real - mono0 / 2 - mono1 / 2);
    }
    *kernel = 0;
    return clock_ns(CLOCK_MONOTONIC);
}

static void report(relay *r, uint32_t kind, uint64_t a, uint64_t b,
                   uint32_t n, int kernel)
{
    relay_report rep = { kind, r->id, a, b, n, (uint32_t)kernel };

    /* Nonblocking: a reader that stopped reading must not stall the
     * forwarding; it only loses reports it did not want. */
    (void)!write(r->report_fd, &rep, sizeof(rep));
}

static void on_command(relay *r, const relay_cmd *c)
{
    uint32_t seen = r->n_from_client;

    r->op = c->op;
    r->id = c->id;
    r->n_to_client = 0;
    r->n_from_client = 0;
    report(r, RELAY_DONE, 0, 0, seen, 0);
}

static void read_commands(relay *r)
{
    relay_cmd c;
    ssize_t n;

    while ((n = read(r->cmd_fd, &c, sizeof(c))) == (ssize_t)sizeof(c))
        on_command(r, &c);
    if (n == 0)
        _exit(0); /* every writer is gone: nobody will ask anything */
}

/* Returns 1 if the datagram from the client is to be forwarded. */
static int on_from_client(relay *r, uint64_t t, int kernel)
{
    switch (r->op) {
    case RELAY_WAKE: {
        /* The client's answer is timed from the last datagram of the
         * flight it could have seen: the last one sent before its answer
         * was stamped (the relay may have sent more while the answer
         * waited to be read). */
        uint32_t k = r->n_to_client, seen = 0;

        while (k > 0 && r->n_to_client - k < WAKE_STAMPS) {
            if (r->to_client[(k - 1) % WAKE_STAMPS] <= t) {
                seen = k;
                break;
            }
            k--;
        }
        if (seen > 0) {
            report(r, RELAY_WAKE_SEEN, r->to_client[(seen - 1) % WAKE_STAMPS],
                   t, seen, kernel);
            r->op = RELAY_PASS;
        }
        return 1;
    }
    case RELAY_DROP:
        if (++r->n_from_client == 1) {
            r->t_orig = t;
            r->orig_kernel = kernel;
        } else if (r->n_from_client == 2) {
            report(r, RELAY_REARM_SEEN, r->t_orig, t, 2,
                   kernel && r->orig_kernel);
        }
        return 0;
    default:
        return 1;
    }
}

static void from_client(relay *r)
{
    for (;;) {
        union {
            char b[CMSG_SPACE(sizeof(struct timespec))];
            struct cmsghdr align;
        } cbuf;
        struct sockaddr_in a;
        struct iovec iov = { r->buf, DGRAM_MAX };
        struct msghdr m;
        ssize_t n;
        uint64_t t;
        int kernel;

        memset(&m, 0, sizeof(m));
        m.msg_name = &a;
        m.msg_namelen = sizeof(a);
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = cbuf.b;
        m.msg_controllen = sizeof(cbuf.b);
        n = recvmsg(r->front_fd, &m, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0)
            continue; /* EINTR, or a stale ICMP error: read on */
        t = rx_stamp(&m, &kernel);
        if (m.msg_namelen != sizeof(a))
            continue;
        r->client = a; /* the latest client is the one we answer */
        r->have_client = 1;
        if (on_from_client(r, t, kernel))
            (void)send(r->up_fd, r->buf, (size_t)n, MSG_DONTWAIT);
    }
}

/*
 * RELAY_WAKE stamps only the server's flight: the datagrams it sends within
 * FLIGHT_NS of the first one. What comes later is its retransmissions to a
 * client that has not acknowledged yet, and timing from those would make a
 * slow client look fast.
 */
static void from_server(relay *r)
{
    for (;;) {
        ssize_t n = recv(r->up_fd, r->buf, DGRAM_MAX, MSG_DONTWAIT);
        uint64_t t;

        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0)
            continue;
        if (r->op == RELAY_DROP || !r->have_client)
            continue;
        if (sendto(r->front_fd, r->buf, (size_t)n, MSG_DONTWAIT,
                   (const struct sockaddr *)&r->client, sizeof(r->client))
            != n)
            continue;
        if (r->op != RELAY_WAKE)
            continue;
        t = clock_ns(CLOCK_MONOTONIC);
        if (r->n_to_client == 0)
            r->flight_start = t;
        if (t - r->flight_start <= FLIGHT_NS)
            r->to_client[r->n_to_client++ % WAKE_STAMPS] = t;
    }
}

static _Noreturn void relay_run(relay *r)
{
    for (;;) {
        struct pollfd p[3] = { { r->cmd_fd, POLLIN, 0 },
                               { r->front_fd, POLLIN, 0 },
                               { r->up_fd, POLLIN, 0 } };

        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            _exit(1);
        }
        /* Commands first: a caller waits for RELAY_DONE before it sends
         * anything that the new state must see. */
        if (p[0].revents)
            read_commands(r);
        if (p[1].revents)
            from_client(r);
        if (p[2].revents)
            from_server(r);
    }
}

static _Noreturn void relay_child(uint16_t upstream_port, int port_fd,
                                  int cmd_fd, int report_fd, pid_t parent)
{
    static relay r;
    uint16_t port = 0;
    int one = 1;

    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    r.cmd_fd = cmd_fd;
    r.report_fd = report_fd;
    r.op = RELAY_PASS;
    r.buf = malloc(DGRAM_MAX);
    r.front_fd = ts_net_bind(SOCK_DGRAM, 0, 0, &port);
    r.up_fd = ts_net_connect(SOCK_DGRAM, upstream_port);
    if (r.buf == NULL || r.front_fd < 0 || r.up_fd < 0
        || ts_net_set_nonblock(cmd_fd, 1) != 0
        || ts_net_set_nonblock(report_fd, 1) != 0)
        port = 0;
    /* Kernel receive stamps; without them the relay's own clock is used. */
    if (r.front_fd >= 0)
        (void)setsockopt(r.front_fd, SOL_SOCKET, SO_TIMESTAMPNS, &one,
                         sizeof(one));
    if (write(port_fd, &port, sizeof(port)) != (ssize_t)sizeof(port)
        || port == 0)
        _exit(1);
    close(port_fd);
    relay_run(&r);
}

int bench_relay_start(uint16_t upstream_port, bench_relay *out)
{
    int port_p[2], cmd_p[2], rep_p[2];
    pid_t parent = getpid(), pid;
    uint16_t port = 0;
    ssize_t n = -1;

    memset(out, 0, sizeof(*out));
    out->cmd_fd = out->report_fd = -1;
    if (pipe(port_p) != 0)
        return -1;
    if (pipe(cmd_p) != 0) {
        close(port_p[0]);
        close(port_p[1]);
        return -1;
    }
    if (pipe(rep_p) != 0) {
        close(port_p[0]);
        close(port_p[1]);
        close(cmd_p[0]);
        close(cmd_p[1]);
        return -1;
    }
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        close(port_p[0]);
        close(cmd_p[1]);
        close(rep_p[0]);
        relay_child(upstream_port, port_p[1], cmd_p[0], rep_p[1], parent);
    }
    close(port_p[1]);
    close(cmd_p[0]);
    close(rep_p[1]);
    out->cmd_fd = cmd_p[1];
    out->report_fd = rep_p[0];
    if (pid < 0) {
        close(port_p[0]);
        bench_relay_stop(out);
        return -1;
    }
    out->pid = pid;
    if (bench_wait_readable(port_p[0], START_TIMEOUT_MS) == 0)
        n = read(port_p[0], &port, sizeof(port));
    close(port_p[0]);
    if (n != (ssize_t)sizeof(port) || port == 0
        || ts_net_set_nonblock(out->report_fd, 1) != 0) {
        bench_relay_stop(out);
        return -1;
    }
    out->port = port;
    return 0;
}

/* Reads one report: 1, 0 (none waiting) or -1 (relay gone). */
static int read_report(bench_relay *r, relay_report *out)
{
    ssize_t n;

    do
        n = read(r->report_fd, out, sizeof(*out));
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof(*out))
        return 1;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    return -1; /* EOF; reports are written whole, never in parts */
}

int bench_relay_command(bench_relay *r, uint32_t op, uint32_t id,
                        int timeout_ms, relay_report *done)
{
    relay_cmd c = { op, id };
    uint64_t end = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;

    if (write(r->cmd_fd, &c, sizeof(c)) != (ssize_t)sizeof(c))
        return -1;
    for (;;) {
        relay_report rep;
        uint64_t now;
        int rc = read_report(r, &rep);

        if (rc < 0)
            return -1;
        if (rc == 1) {
            if (rep.kind == RELAY_DONE && rep.id == id) {
                if (done != NULL)
                    *done = rep;
                return 0;
            }
            continue; /* an older sample's report: stale */
        }
        now = bench_now_ns();
        if (now >= end || bench_wait_readable(r->report_fd,
                                        (int)((end - now) / 1000000u) + 1)
                              != 0)
            return -1;
    }
}

int bench_relay_poll_report(bench_relay *r, uint32_t id, relay_report *out)
{
    for (;;) {
        int rc = read_report(r, out);

        if (rc <= 0)
            return rc;
        if (out->id == id && out->kind != RELAY_DONE)
            return 1;
    }
}

void bench_relay_stop(bench_relay *r)
{
    if (r->pid > 0) {
        (void)kill(r->pid, SIGKILL);
        while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (r->cmd_fd >= 0)
        close(r->cmd_fd);
    if (r->report_fd >= 0)
        close(r->report_fd);
    r->pid = 0;
    r->port = 0;
    r->cmd_fd = r->report_fd = -1;
}
