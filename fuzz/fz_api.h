/*
 * fz_api: the shared objects of fuzz_api_sequence and the calls made on
 * them (fz_api_ops.c).
 *
 * Two threads run the ops of one input on a small table of objects: four
 * connection slots, two pool slots, one listener slot and four stream
 * slots. The harness must
 * itself obey the API, or every finding would be its own: a handle is
 * used only while its slot holds it, and the slot counts the calls in
 * flight (|users|), so that
 *  - tickless_conn_close() runs once the other thread's calls on that
 *    connection have either returned or are blocked inside tickless (the
 *    connection's waiters say so): the header allows closing under a
 *    blocked call, never before a call has started;
 *  - tickless_pool_free() and tickless_listener_free() wait until no call
 *    on the object is in flight, as they require;
 *  - a tickless_conn_lock() section counts as a call, and inside it the
 *    thread calls tickless only on that same connection (or its
 *    listener), which must answer TICKLESS_ERR_INVALID (header, "Lock
 *    order"), so the two threads can never wait for each other's locks.
 */
#ifndef FZ_API_H
#define FZ_API_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "fz.h"
#include "ts_certs.h"
#include "ts_server.h"

#define FZ_CONNS 4
#define FZ_POOLS 2
#define FZ_STREAMS 4

typedef struct fz_slot {
    void *obj;             /* tickless_conn/pool/listener, or NULL */
    unsigned users;        /* calls on obj in flight */
    /* Connections */
    enum ts_proto proto;
    int member;            /* accepted from the listener ... */
    void *owner;           /* ... this one (shares its lock) */
    int fatal;             /* the sticky code a call reported, or 0 */
    int stream_container;  /* a stream was opened or accepted on it: its
                              own read/write may answer INVALID */
    /* Streams: one reader and one writer at a time (header) */
    int reading, writing;
    /* Pools and the listener */
    unsigned threads;
    int reserved;          /* being made or freed: obj NULL, keep out */
    /* The listener */
    uint16_t port;
} fz_slot;

typedef struct fz_world {
    pthread_mutex_t mu;    /* guards every slot */
    pthread_cond_t cv;     /* a slot's users dropped */
    fz_slot conns[FZ_CONNS];
    fz_slot pools[FZ_POOLS];
    fz_slot listener;
    fz_slot streams[FZ_STREAMS];

    /* Set up once, read-only afterwards. */
    SSL_CTX *client_ctx[3]; /* by enum ts_proto */
    SSL_CTX *listener_ctx;
    ts_server *servers[3];  /* echo servers, by enum ts_proto */
    uint16_t echo_port[3];
    uint16_t blackhole_port; /* a UDP port nobody answers */
    atomic_int used[3];     /* an input connected to that server */
} fz_world;

/* One thread's run through an input. */
typedef struct fz_worker {
    fz_world *w;
    int id;                /* 0 or 1 */
    int budget_ms;         /* what its timeouts may still add up to */
    unsigned ops;
} fz_worker;

/* Runs one op (opcode without the thread bit, two argument bytes). */
void fz_api_op(fz_worker *k, uint8_t op, uint8_t a, uint8_t b);

/* Closes and frees everything in the table (no worker running), checking
 * that each pool then frees. */
void fz_api_clear(fz_world *w);

/* The log callback the ops install: checks its arguments. */
void fz_api_log(int level, tickless_conn *conn, const char *message,
                void *arg);

#endif /* FZ_API_H */
