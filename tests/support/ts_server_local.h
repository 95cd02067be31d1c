/*
 * ts_server_local: what the protocol-specific server files share.
 *
 * Threads: ts_server_start() runs the protocol's open function on the
 * caller's thread (so the port is known on return), then one server thread
 * runs the protocol's run function until ts_server_stop(). All SSL objects and
 * sockets of a server are touched only by that thread after start. Other
 * threads talk to it through atomics and the wake-up eventfd; an abort is a
 * request/acknowledge pair under |mu|.
 */
#ifndef TS_SERVER_LOCAL_H
#define TS_SERVER_LOCAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "ts_server.h"

/* Largest DTLS/TLS record payload, and the read buffer that holds one. */
#define TS_RECORD_MAX 16384
/* Largest UDP datagram: a buffer of this size never truncates one. */
#define TS_DATAGRAM_MAX 65536
/* Echo backlog per connection above which the server stops reading from it,
 * so a client that never reads meets flow control rather than our heap. */
#define TS_OUTBUF_CAP (1024 * 1024)
/* Longest a server thread sleeps even when OpenSSL names no deadline. */
#define TS_MAX_SLEEP_MS 1000

struct ts_server {
    ts_server_options opt;    /* read-only after start */
    SSL_CTX *ctx;             /* owned; used by the server thread */
    uint16_t port;            /* read-only after start */
    int wake_fd;              /* eventfd: written by any thread */
    pthread_t thread;
    int thread_started;       /* read-only after start */
    void *impl;               /* owned by the protocol file / server thread */

    atomic_int stop;
    atomic_uint_fast64_t bytes_received;
    atomic_uint_fast64_t pattern_errors; /* sink: bytes off the ts_fill_pattern stream */
    atomic_uint_fast64_t accepted;
    atomic_int handshakes;
    atomic_int open_conns;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t abort_requested; /* guarded by mu */
    uint64_t abort_done;      /* guarded by mu */
    int thread_exited;        /* guarded by mu */
};

/*
 * Per protocol: open binds the socket, sets s->port and s->impl (on the
 * starting thread; on failure it frees what it made and returns -1). run is
 * the server thread's body: it returns when s->stop is set and frees
 * s->impl.
 */
int ts_server_quic_open(ts_server *s);
void ts_server_quic_run(ts_server *s);
int ts_server_dtls_open(ts_server *s);
void ts_server_dtls_run(ts_server *s);
int ts_server_tls_open(ts_server *s);
void ts_server_tls_run(ts_server *s);

/* Server thread: empties the wake-up eventfd after poll reported it. */
void ts_server_drain_wake(ts_server *s);

/*
 * Server thread: returns the abort generation to carry out, or 0 if none is
 * pending. After dropping the connections, call ts_server_abort_ack().
 */
uint64_t ts_server_abort_pending(ts_server *s);
void ts_server_abort_ack(ts_server *s, uint64_t gen);

/* Turns an OpenSSL deadline in |tv| (or none) into a poll timeout in ms,
 * rounded up so that we never wake just before it and spin. */
int ts_server_timeout_ms(const struct timeval *tv, int is_infinite);

#include "ts_outbuf.h"

/*
 * ts_fdloop: the poll loop that serves TLS and DTLS connections, each an SSL
 * object over its own socket (ts_server_fdloop.c). The protocol files supply
 * only how new connections arrive on the listening socket.
 */
#include "ts_net.h"

typedef struct ts_fdloop ts_fdloop;

struct ts_fdloop {
    ts_server *s;
    int listen_fd;            /* TCP listener or DTLS's unconnected socket */
    int is_dtls;
    /* Called when listen_fd is readable; takes on new connections with
     * ts_fdloop_add(). */
    void (*on_listen_readable)(ts_fdloop *l);
    /*
     * DTLS: called with a ClientHello (|len| bytes) that a new client sent
     * from the address of an existing connection; the loop has dropped that
     * connection already (see "Reused ports" in ts_server_fdloop.c). Takes
     * the new client on, like on_listen_readable.
     */
    void (*on_new_hello)(ts_fdloop *l, const ts_sockaddr *peer,
                         const uint8_t *hello, size_t len);
    /*
     * DTLS: called with a datagram from |from| found at the head of a
     * connection's socket although that socket is connected to another
     * peer: it arrived between the socket's bind() and connect(), and was
     * meant for listen_fd. Handles it as listen_fd would have.
     */
    void (*on_stray)(ts_fdloop *l, const ts_sockaddr *from,
                     const uint8_t *data, size_t len);
    struct ts_fdconn **conns; /* owned */
    size_t n, cap;
    /*
     * DTLS: TS_DATAGRAM_MAX bytes for whole datagrams (read off the
     * listening socket, or peeked at on a connection's); NULL for
     * TLS. Allocated by the protocol's open, freed by ts_fdloop_run() on
     * its way out. On the heap, not _Thread_local: a thread-local buffer
     * would be static TLS in every thread of every program that links the
     * support library (see bench/bench_server.c).
     */
    uint8_t *dgram;
};

/*
 * Takes on |ssl| (in accept state, its BIOs on |fd|, not owning it) and
 * |fd|, both freed by the loop. |peer| may be NULL. DTLS passes the
 * ClientHello datagram that started the connection as |hello| (|len|
 * bytes; only read during the call), TLS NULL. Returns 0 or -1 (then both
 * are freed already).
 */
int ts_fdloop_add(ts_fdloop *l, SSL *ssl, int fd,
                  const ts_sockaddr *peer, const uint8_t *hello,
                  size_t len);

/* 1 if a live connection has peer address |peer|. */
int ts_fdloop_has_peer(const ts_fdloop *l, const ts_sockaddr *peer);

/* Serves until l->s->stop; then frees every connection and l->listen_fd. */
void ts_fdloop_run(ts_fdloop *l);

#endif /* TS_SERVER_LOCAL_H */
