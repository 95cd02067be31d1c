/*
 * ts_net: the few socket calls every part of the test support repeats.
 * Everything is IPv4 loopback: tests never talk to anything else.
 * Every function returns a file descriptor or 0 on success, -1 with errno set
 * on failure; a failed call leaves no descriptor open.
 */
#ifndef TS_NET_H
#define TS_NET_H

#include <stdint.h>

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

/*
 * A socket of |type| connected to 127.0.0.1:|port|, blocking. UDP connect()
 * only fixes the peer; TCP connect() completes the three-way handshake. A
 * UDP socket's local port is taken in turn from the ephemeral range, so a
 * port is not reused soon after a client closed it (see ts_net.c).
 */
int ts_net_connect(int type, uint16_t port);

/* Switches O_NONBLOCK on (|on| != 0) or off. */
int ts_net_set_nonblock(int fd, int on);

/* The local port |fd| is bound to, or 0. */
uint16_t ts_net_local_port(int fd);

#ifdef __cplusplus
}
#endif

#endif /* TS_NET_H */
