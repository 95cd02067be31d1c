/* ts_net: see ts_net.h. */
#include "ts_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_in loopback(uint16_t port)
{
    struct sockaddr_in sin;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sin;
}

/* close() that keeps the errno of the failure being reported. */
static int close_keep_errno(int fd)
{
    int saved = errno;

    close(fd);
    errno = saved;
    return -1;
}

int ts_net_bind(int type, uint16_t port, int flags, uint16_t *bound_port)
{
    return ts_net_bind_on(TS_NET_V4, type, port, flags, bound_port);
}

int ts_net_bind_on(int where, int type, uint16_t port, int flags,
                   uint16_t *bound_port)
{
    ts_sockaddr a;
    int one = 1, v6only = where == TS_NET_V6, reuse_first;
    int fd = socket(where == TS_NET_V4 ? AF_INET : AF_INET6,
                    type | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    if (where == TS_NET_V4) {
        a.in = loopback(port);
    } else {
        a.in6.sin6_family = AF_INET6;
        a.in6.sin6_port = htons(port);
        a.in6.sin6_addr = where == TS_NET_V6 ? in6addr_loopback : in6addr_any;
        /* Said either way: the system default (bindv6only) may be either. */
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
                       sizeof(v6only)) != 0)
            return close_keep_errno(fd);
    }
    /* An ephemeral port is asked for before SO_REUSEADDR is set: with it
     * set, Linux may give a UDP socket a port that another SO_REUSEADDR
     * socket holds (another test's server, in another process), which then
     * takes datagrams meant for this one. Set after the bind, it still lets
     * the per-client sockets of a DTLS server, and a restart, bind the
     * port. A port given here is shared on purpose. */
    reuse_first = port != 0 || (flags & TS_NET_REUSEPORT);
    if ((flags & TS_NET_REUSEADDR) && reuse_first
        && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
        return close_keep_errno(fd);
    if ((flags & TS_NET_REUSEPORT)
        && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
        return close_keep_errno(fd);
    if (bind(fd, &a.sa, ts_sockaddr_len(&a)) != 0)
        return close_keep_errno(fd);
    if ((flags & TS_NET_REUSEADDR) && !reuse_first
        && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
        return close_keep_errno(fd);
    if (type == SOCK_STREAM && listen(fd, 1024) != 0)
        return close_keep_errno(fd);
    if (bound_port != NULL)
        *bound_port = ts_net_local_port(fd);
    return fd;
}

/*
 * UDP clients take their local port in turn from their part of the
 * ephemeral range (ts_net.h) rather than at the kernel's random choice.
 * The kernel may give a port that a client closed a moment ago to the next
 * client. A server still answering the old client's ClientHello (queued
 * before the close) then sends its flight to the new client, which takes it
 * for its own server's answer; its handshake with the server connection
 * started for it can never complete (nothing in DTLS without cookies tells
 * the two apart). Taking ports in turn leaves each one unused for as long
 * as possible within a process: a stress test that opens and abandons
 * thousands of connections would otherwise hit this a few times a minute.
 */
#define PORT_FIRST TS_NET_CLIENT_PORT_FIRST
#define PORT_COUNT (TS_NET_CLIENT_PORT_END - TS_NET_CLIENT_PORT_FIRST)
#define PORT_TRIES 64

static atomic_uint next_port_index;

static void bind_next_udp_port(int fd)
{
    static atomic_int started;
    int i;

    if (atomic_exchange(&started, 1) == 0)
        atomic_store(&next_port_index, ((unsigned)getpid() * 7919u) % PORT_COUNT);
    for (i = 0; i < PORT_TRIES; i++) {
        unsigned idx = atomic_fetch_add(&next_port_index, 1) % PORT_COUNT;
        struct sockaddr_in sin = loopback((uint16_t)(PORT_FIRST + idx));

        if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
            return;
    }
    /* All taken: connect() binds one of the kernel's choosing. */
}

int ts_net_connect(int type, uint16_t port)
{
    struct sockaddr_in sin = loopback(port);
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (type == SOCK_DGRAM)
        bind_next_udp_port(fd);
    /*
     * No EINTR retry: a TCP connect() interrupted by a signal goes on in the
     * background and a second call fails with EALREADY. Tests send no
     * signals, so reporting the failure is enough.
     */
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
        return close_keep_errno(fd);
    return fd;
}

uint16_t ts_net_free_port(int type)
{
    static atomic_uint next;
    static atomic_int started;
    const unsigned count = TS_NET_FREE_PORT_END - TS_NET_FREE_PORT_FIRST;
    int i;

    if (atomic_exchange(&started, 1) == 0)
        atomic_store(&next, ((unsigned)getpid() * 104729u) % count);
    for (i = 0; i < PORT_TRIES; i++) {
        /* A stride prime to |count| spreads consecutive asks apart. */
        unsigned idx = (atomic_fetch_add(&next, 7919u)) % count;
        uint16_t port = (uint16_t)(TS_NET_FREE_PORT_FIRST + idx);
        /* [::] with IPV6_V6ONLY off holds the port on both families. */
        int fd = ts_net_bind_on(TS_NET_DUAL, type, port, 0, NULL);

        if (fd < 0 && errno != EADDRINUSE) /* no IPv6 here: IPv4 alone */
            fd = ts_net_bind_on(TS_NET_V4, type, port, 0, NULL);
        if (fd >= 0) {
            close(fd);
            return port;
        }
    }
    return 0;
}

int ts_net_set_nonblock(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0)
        return -1;
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, fl) < 0 ? -1 : 0;
}

uint16_t ts_net_local_port(int fd)
{
    ts_sockaddr a;
    socklen_t len = sizeof(a);

    if (getsockname(fd, &a.sa, &len) != 0)
        return 0;
    return a.sa.sa_family == AF_INET6 ? ntohs(a.in6.sin6_port)
                                      : ntohs(a.in.sin_port);
}

socklen_t ts_sockaddr_len(const ts_sockaddr *a)
{
    switch (a->sa.sa_family) {
    case AF_INET:
        return sizeof(a->in);
    case AF_INET6:
        return sizeof(a->in6);
    default:
        return 0;
    }
}

int ts_sockaddr_equal(const ts_sockaddr *a, const ts_sockaddr *b)
{
    if (a->sa.sa_family != b->sa.sa_family)
        return 0;
    if (a->sa.sa_family == AF_INET)
        return a->in.sin_port == b->in.sin_port
               && a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
    if (a->sa.sa_family == AF_INET6)
        return a->in6.sin6_port == b->in6.sin6_port
               && memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr,
                         sizeof(a->in6.sin6_addr)) == 0;
    return 0;
}
