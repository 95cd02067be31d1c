/*
 * ts_net: the few socket calls every part of the test support repeats.
 * Everything is IPv4 loopback unless ts_net_bind_on() is asked for [::1]
 * or a dual-stack socket: tests never talk to anything else.
 * Every function returns a file descriptor or 0 on success, -1 with errno set
 * on failure; a failed call leaves no descriptor open.
 */
#ifndef TS_NET_H
#define TS_NET_H

#include <stdint.h>

#include <netinet/in.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ts_net_bind() flags. */
#define TS_NET_REUSEADDR 1 /* SO_REUSEADDR */
#define TS_NET_REUSEPORT 2 /* SO_REUSEPORT: other processes may bind the
                              port too; the kernel keeps each peer's
                              datagrams on one of them */

/*
 * A socket of |type| (SOCK_DGRAM or SOCK_STREAM) bound to 127.0.0.1:|port|
 * (0 = ephemeral), close-on-exec, with the TS_NET_* |flags| (1 is
 * TS_NET_REUSEADDR). A stream socket is also listening. *bound_port (may be
 * NULL) receives the port.
 */
int ts_net_bind(int type, uint16_t port, int flags, uint16_t *bound_port);

/* Where ts_net_bind_on() binds. */
enum ts_net_where {
    TS_NET_V4 = 0, /* 127.0.0.1 */
    TS_NET_V6,     /* [::1], IPv6 only (IPV6_V6ONLY) */
    TS_NET_DUAL    /* [::] with IPV6_V6ONLY off: IPv4 too, its peers
                      seen as ::ffff:a.b.c.d */
};

/* ts_net_bind() on the address |where| (an enum ts_net_where) says. */
int ts_net_bind_on(int where, int type, uint16_t port, int flags,
                   uint16_t *bound_port);

/* A peer's address, whichever its family. */
typedef union ts_sockaddr {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
} ts_sockaddr;

/* The length of |a| for its family (AF_INET, AF_INET6), else 0. */
socklen_t ts_sockaddr_len(const ts_sockaddr *a);

/* 1 if |a| and |b| are the same family, address and port. */
int ts_sockaddr_equal(const ts_sockaddr *a, const ts_sockaddr *b);

/*
 * Two parts of Linux's ephemeral range (32768-60999): our UDP clients take
 * their local ports in turn from the first (ts_net_connect()), and
 * ts_net_free_port() hands out ports from the second, so that a test
 * opening thousands of clients never takes a port a peer process is about
 * to bind. The kernel's own choices (bind to port 0) fall in either.
 */
#define TS_NET_CLIENT_PORT_FIRST 32768u
#define TS_NET_CLIENT_PORT_END 46768u /* one past the last */
#define TS_NET_FREE_PORT_FIRST TS_NET_CLIENT_PORT_END
#define TS_NET_FREE_PORT_END 61000u

/*
 * A socket of |type| connected to 127.0.0.1:|port|, blocking. UDP connect()
 * only fixes the peer; TCP connect() completes the three-way handshake. A
 * UDP socket's local port is taken in turn from the clients' part of the
 * ephemeral range, so a port is not reused soon after a client closed it
 * (see ts_net.c).
 */
int ts_net_connect(int type, uint16_t port);

/*
 * A port of |type| that was free a moment ago on every address, IPv4 and
 * IPv6, for a peer process that must be told where to listen; from the
 * free part of the range (above). 0 if none was found.
 */
uint16_t ts_net_free_port(int type);

/* Switches O_NONBLOCK on (|on| != 0) or off. */
int ts_net_set_nonblock(int fd, int on);

/* The local port |fd| is bound to (either family), or 0. */
uint16_t ts_net_local_port(int fd);

#ifdef __cplusplus
}
#endif

#endif /* TS_NET_H */
