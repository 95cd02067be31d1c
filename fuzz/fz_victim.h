/*
 * fz_victim: a tickless-managed server connection under fire, for the
 * datagram targets (fuzz_quic_datagrams, fuzz_dtls_datagrams).
 *
 * A real tickless client talks to the tickless server through the test
 * relay (tests/support/ts_relay.h), so that arbitrary datagrams can be sent
 * from the relay's sockets with the real 4-tuples: to the server as if the
 * client sent them, to the client as if the server did. A *stranger* socket
 * (a new one for each input that asks) reaches the server as a new peer:
 * the QUIC listener, or a DTLS server connection still waiting for its
 * ClientHello. The relay's tap keeps the first and the latest datagram each
 * way, which inputs splice or mutate: that is how fuzzed bytes get past the
 * connection-ID and record-header checks into the connection's own code.
 *
 * After each input the connection must still echo (DTLS may lose an echo
 * to a flood, and gets three tries). If the input ended it with an error
 * the protocol allows (PEER, SSL or EOF: say a forged alert), it is
 * reconnected, and a server that cannot be connected to again is a
 * finding. Everything is set up once (LLVMFuzzerInitialize) and lives
 * across inputs; only connections that die are made anew.
 *
 * Threads: inputs run on libFuzzer's thread; the tap runs on the relay's.
 */
#ifndef FZ_VICTIM_H
#define FZ_VICTIM_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "tickless/tickless.h"
#include "ts_certs.h"
#include "ts_relay.h"

#define FZ_CAPTURE_MAX 2048

/* One captured datagram. */
typedef struct fz_capture {
    uint8_t data[FZ_CAPTURE_MAX];
    size_t len; /* 0: none yet */
} fz_capture;

typedef struct fz_victim fz_victim;

/* What differs between QUIC and DTLS. Each returns 0, or -1 after setting
 * v->why. */
typedef struct fz_victim_ops {
    /* Once: the server side (pool, listener or listening socket). */
    int (*setup)(fz_victim *v);
    /* Makes v->client and v->server, connected through v->relay (which
     * fz_victim_connect() has just started), handshakes complete. */
    int (*connect)(fz_victim *v);
    /* Closes v->server (and what belongs to it); the client is closed by
     * the caller. */
    void (*disconnect)(fz_victim *v);
    /* Makes v->stranger_fd, a UDP socket whose datagrams reach the server
     * as a new peer, and whatever the server needs to meet it. */
    int (*stranger_open)(fz_victim *v);
    /* Closes the stranger and whatever the server made for it, checking
     * that the server's calls on it return as documented. */
    void (*stranger_close)(fz_victim *v);
    /* After every input: tidies what the input may have left queued (QUIC:
     * connections it started from the client's own address). */
    void (*after_input)(fz_victim *v);
} fz_victim_ops;

struct fz_victim {
    const char *name;          /* "QUIC" or "DTLS" */
    enum ts_proto proto;
    const fz_victim_ops *ops;
    int lossy;                 /* DTLS: an echo may be lost (UDP drops
                                  datagrams when a flood fills the socket's
                                  buffer); QUIC: a lost echo is a bug */

    SSL_CTX *client_ctx;
    SSL_CTX *server_ctx;
    tickless_pool *pool;       /* the server side's assist */
    uint16_t server_port;
    void *impl;                /* the protocol file's */

    ts_relay *relay;           /* new for each connection */
    tickless_conn *client;     /* dedicated assist; NULL while down */
    tickless_conn *server;
    int stranger_fd;           /* -1 unless an input opened it */
    uint64_t echo_seq;
    char why[256];             /* what the last failed step said */

    pthread_mutex_t tap_mu;    /* guards the captures */
    fz_capture first[2];       /* [to_server]: first datagram each way */
    fz_capture last[2];        /* ... and the latest */

    /* Counters, printed at exit. */
    uint64_t inputs, datagrams, echoes, connects, deaths, lost;
};

/* Sets up |v| (ops, name, proto filled in by the caller) and connects.
 * Dies if that fails. */
void fz_victim_init(fz_victim *v);

/* After an input: the connection must echo. A lossy one gets
 * FZ_ECHO_TRIES tries, as a flood may have cost an echo; one that loses
 * them all no longer serves, which is a finding. Reconnects a connection
 * that died as the protocol allows. */
void fz_victim_check(fz_victim *v);

#define FZ_ECHO_TRIES 3

/* Connects if the connection is down: a new relay, client and server.
 * Tries a few times; dies if the server cannot be reached (it stopped
 * serving). */
void fz_victim_ensure(fz_victim *v);

/* Closes the client and the server connection and stops the relay. */
void fz_victim_drop(fz_victim *v);

/*
 * One echo through the connection: the client writes a numbered message,
 * the server reads it and writes it back, the client reads it. Every call
 * must return within its timeout (else fz_die). Returns 0 if the echo came
 * back intact; 1 if the connection died of something the protocol allows
 * (then it has been dropped, to be made anew); 2 if the echo was lost on a
 * lossy (DTLS) connection, which is kept. Dies if bytes come back altered
 * or, on QUIC, if the echo never comes while the connection lives.
 */
int fz_victim_echo(fz_victim *v);

/* Copies a capture under the tap's lock; returns its length (0: none). */
size_t fz_victim_capture(fz_victim *v, int first, int to_server,
                         uint8_t *out);

/* Prints the counters (at exit). */
void fz_victim_report(const fz_victim *v);

#endif /* FZ_VICTIM_H */
