/*
 * ts_server: in-process QUIC, DTLS and TLS servers for tests.
 *
 * Each server owns one thread and one socket bound to 127.0.0.1 (or, as
 * asked, to [::1] only or dual-stack to [::]), on an ephemeral port or on
 * the port asked for. It either echoes every
 * application byte back on the same connection (and stream) or, as a sink,
 * only counts them. Everything below may be called from any thread; the
 * counters are atomic.
 *
 * What each server does:
 *  - QUIC (OpenSSL >= 3.5): one listener, any number of connections, no
 *    address validation (no Retry). The client's first bidirectional stream
 *    (its default stream) becomes the server connection's default stream.
 *    When the client concludes its stream, the server concludes its own
 *    after echoing everything; it never closes the connection itself, it
 *    waits for the client to (or for the idle timeout), then frees it.
 *  - DTLS 1.2: any number of concurrent clients, each on a socket connected
 *    to it and bound to the same port. Records are echoed one for one.
 *    close_notify is answered with close_notify.
 *  - TLS: any number of concurrent clients. close_notify is answered with
 *    close_notify, then the socket is closed.
 */
#ifndef TS_SERVER_H
#define TS_SERVER_H

#include <stdint.h>

#include "ts_certs.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_server ts_server;

typedef struct ts_server_options {
    enum ts_proto proto;
    int sink;                 /* 0: echo every byte back; 1: only count them */
    uint64_t idle_timeout_ms; /* QUIC: the server's idle timeout (0: default) */
    int fast_dtls_timer;      /* DTLS: ts_dtls_fast_timer() on each connection */
    /*
     * The port to bind, 0 for an ephemeral one. A server restarting on the
     * port of one just stopped (ts_server_stop() has closed all its sockets
     * when it returns) can bind it at once: TLS and DTLS set SO_REUSEADDR
     * (TCP: past the old connections' TIME_WAIT; DTLS needs it anyway for
     * its per-client sockets), and a closed UDP port has no TIME_WAIT. QUIC
     * binds without it, so that a port still held elsewhere fails the start
     * instead of being shared.
     */
    uint16_t port;
    /*
     * Where to bind, an enum ts_net_where (ts_net.h): TS_NET_V4 (0,
     * 127.0.0.1), TS_NET_V6 ([::1] only) or TS_NET_DUAL ([::], IPv4 too).
     */
    int bind_to;
} ts_server_options;

/*
 * Starts a server; on return it is bound and accepting.
 * Returns 0 with *out set, or -1 (TS_QUIC without QUIC support, the port
 * in use, or a socket, OpenSSL or thread failure).
 */
int ts_server_start(const ts_server_options *o, ts_server **out);

/* The port clients connect to (on the address options.bind_to says). */
uint16_t ts_server_port(const ts_server *s);

/* Application bytes received, summed over all connections ever served. */
uint64_t ts_server_bytes_received(ts_server *s);

/* Sink mode, QUIC: reads whose bytes were not the ts_fill_pattern stream. */
uint64_t ts_server_pattern_errors(ts_server *s);

/* Connections the server has taken on (QUIC accepted, TCP accepted, DTLS
 * ClientHello from a new peer). */
uint64_t ts_server_connections_accepted(ts_server *s);

/* Connections whose handshake has completed on the server side. */
int ts_server_handshakes_completed(ts_server *s);

/* Connections currently held by the server. */
int ts_server_connections_open(ts_server *s);

/*
 * Waits until ts_server_bytes_received() >= |n| or |timeout_ms| passed.
 * Returns 0 if reached, -1 on timeout.
 */
int ts_server_wait_bytes_received(ts_server *s, uint64_t n,
                                  unsigned timeout_ms);

/*
 * Drops every current connection abruptly; returns once done. The server
 * goes on accepting new connections on the same port.
 *  - TLS: each TCP socket is closed with SO_LINGER {1, 0}, so the client
 *    gets a RST.
 *  - DTLS, QUIC: the connection state is discarded and nothing is sent (no
 *    alert, no CONNECTION_CLOSE): to the client the server has vanished.
 *    Its later datagrams are silently ignored.
 */
void ts_server_abort_connections(ts_server *s);

/*
 * Stops the thread and frees everything. NULL is a no-op. Live connections
 * are dropped without a word (QUIC: no CONNECTION_CLOSE; TLS: a FIN but no
 * close_notify); as the port closes too, a QUIC or DTLS client learns of it
 * from the ICMP port unreachable its next datagram draws (OpenSSL's QUIC
 * client then fails with "network BIO I/O error"). Every socket of the
 * server is closed when this returns, so a new server may be started on
 * its port at once (options.port): a restart, whose new server knows none
 * of the old connections.
 */
void ts_server_stop(ts_server *s);

#ifdef __cplusplus
}
#endif

#endif /* TS_SERVER_H */
