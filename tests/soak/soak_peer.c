/*
 * soak_peer: the test QUIC echo server behind the impairing relay, in a
 * process of its own.
 *
 * The soak measures its own process's memory and descriptors; the server
 * holds hundreds of connections too (and, after an abrupt client close,
 * keeps its side until its idle timeout), which would blur both. So the
 * server and the relay of tests/support run in a forked child whose main
 * thread answers status requests on a SOCK_SEQPACKET pair and exits when
 * the parent closes its end (or dies: PR_SET_PDEATHSIG).
 *
 * The relay forgets a client that has been silent both ways for 1.5 idle
 * timeouts when it needs the slot: a client the soak closed abruptly is
 * sent retransmissions by the server until the server's idle timeout, then
 * nothing; a live one is never silent for that long (tickless keeps it
 * alive with PINGs at half the idle timeout).
 */
#include "soak.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
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

static _Noreturn void peer_child(const soak_peer_options *o, int ctl,
                                 pid_t parent)
{
    ts_server_options so;
    ts_relay_options ro;
    ts_server *srv = NULL;
    ts_relay *relay = NULL;
    uint16_t port = 0;

    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    soak_raise_fd_limit(); /* one upstream socket per relay slot */
    memset(&so, 0, sizeof(so));
    so.proto = TS_QUIC;
    so.idle_timeout_ms = o->idle_timeout_ms;
    memset(&ro, 0, sizeof(ro));
    ro.seed = o->seed;
    ro.loss = o->loss;
    ro.max_clients = o->max_clients;
    ro.client_idle_ms = (uint32_t)(o->idle_timeout_ms * 3 / 2);
    if (ts_server_start(&so, &srv) == 0
        && ts_relay_start(ts_server_port(srv), &ro, &relay) == 0)
        port = ts_relay_port(relay);
    /* Port 0 tells the parent the start failed. */
    if (send(ctl, &port, sizeof(port), MSG_NOSIGNAL) != (ssize_t)sizeof(port)
        || port == 0)
        _exit(1);
    for (;;) {
        soak_peer_status st;
        char op;
        ssize_t n = recv(ctl, &op, sizeof(op), 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(0); /* the parent closed its end, or is gone */
        st.accepted = ts_server_connections_accepted(srv);
        st.open = (uint64_t)ts_server_connections_open(srv);
        st.bytes_received = ts_server_bytes_received(srv);
        st.forwarded = ts_relay_forwarded(relay);
        st.dropped = ts_relay_dropped(relay);
        (void)send(ctl, &st, sizeof(st), MSG_NOSIGNAL);
    }
}

/* Receives one message of at most |len| bytes within |ms|: its length, or
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

int soak_peer_start(const soak_peer_options *o, soak_peer *out)
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
        peer_child(o, sv[1], parent);
    }
    close(sv[1]);
    out->pid = pid;
    out->ctl = sv[0];
    if (recv_within(out->ctl, &port, sizeof(port), START_TIMEOUT_MS)
            != (ssize_t)sizeof(port)
        || port == 0) {
        soak_peer_stop(out);
        return -1;
    }
    out->port = port;
    return 0;
}

int soak_peer_status_get(soak_peer *p, soak_peer_status *st)
{
    char op = 's';

    if (send(p->ctl, &op, sizeof(op), MSG_NOSIGNAL) != (ssize_t)sizeof(op))
        return -1;
    return recv_within(p->ctl, st, sizeof(*st), REPLY_TIMEOUT_MS)
                   == (ssize_t)sizeof(*st)
               ? 0
               : -1;
}

void soak_peer_stop(soak_peer *p)
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
