/*
 * ts_relay: a UDP relay with seeded network impairment, for QUIC and DTLS
 * tests through loss, delay, reordering and duplication.
 *
 * Clients send to 127.0.0.1:ts_relay_port(); the relay forwards each
 * datagram to 127.0.0.1:upstream_port and the answers back. Every distinct
 * client address (up to max_clients, 64 by default) gets its own upstream
 * socket, so the server sees as many distinct peers as there are clients.
 * Datagrams from one client more are dropped, unless client_idle_ms is set:
 * then the slot of a client silent (both ways) for that long is given to
 * the newcomer, so a soak test can open and close clients for ever.
 *
 * Each datagram, in each direction, independently: is dropped with
 * probability |loss| (or always, while blackholed); otherwise is delayed by
 * delay_ms plus a uniform 0..jitter_ms; with probability |duplicate| is sent
 * twice; with probability |reorder| is held back until the next datagram in
 * the same direction has been sent (or 50 ms, if none comes); with
 * probability |corrupt| has one byte flipped (the copy sent, not a
 * duplicate). Decisions come
 * from a splitmix64 PRNG seeded with |seed|, so a run is reproducible given
 * the same order of arrivals.
 *
 * One thread; it sleeps in epoll until a socket is readable or the next
 * delayed datagram is due (nanosecond timeout), so hundreds of clients cost
 * nothing per wake-up. Setters and counters may be
 * used from any thread.
 *
 * For fuzzing, a tap sees each datagram as it arrives, and
 * ts_relay_inject() sends arbitrary datagrams as if a client or the server
 * had sent them: from the very socket and address the other side knows.
 */
#ifndef TS_RELAY_H
#define TS_RELAY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_relay ts_relay;

/* Called on the relay thread with each datagram as it arrived, before any
 * impairment: |to_server| 1 from client number |client| (its slot), 0 from
 * the server to it. |data| is valid during the call only; keep it short,
 * and call no ts_relay function but the counters from it. */
typedef void (*ts_relay_tap_fn)(void *arg, int to_server, int client,
                                const uint8_t *data, size_t len);

typedef struct ts_relay_options {
    uint64_t seed;
    double loss;        /* probability 0..1 a datagram is dropped, each way */
    double duplicate;   /* probability a datagram is sent twice */
    double reorder;     /* probability a datagram is held behind the next */
    uint32_t delay_ms;  /* one-way delay added to each datagram */
    uint32_t jitter_ms; /* uniform extra delay 0..jitter_ms */
    double corrupt;     /* probability a datagram has one byte flipped */
    unsigned max_clients;    /* client addresses served at once; 0: 64 */
    uint32_t client_idle_ms; /* forget a client silent this long, when its
                                slot is needed; 0: never */
    ts_relay_tap_fn tap;     /* NULL: none */
    void *tap_arg;
} ts_relay_options;

/* Starts a relay to 127.0.0.1:|upstream_port|. |o| NULL = no impairment.
 * Returns 0 with *out set, or -1. */
int ts_relay_start(uint16_t upstream_port, const ts_relay_options *o,
                   ts_relay **out);

/* The port clients send to (127.0.0.1). */
uint16_t ts_relay_port(const ts_relay *r);

/* While on, every datagram in both directions is dropped (counted). */
void ts_relay_set_blackhole(ts_relay *r, int on);

/* Changes the loss probability for datagrams arriving from now on. */
void ts_relay_set_loss(ts_relay *r, double loss);

/* Datagrams sent on (duplicates count twice) / dropped, both directions. */
uint64_t ts_relay_forwarded(ts_relay *r);
uint64_t ts_relay_dropped(ts_relay *r);

/* Datagrams sent on with a byte flipped. */
uint64_t ts_relay_corrupted(ts_relay *r);

/*
 * Sends |len| bytes at once, past the impairment and the delay queue, as if
 * they had come through the relay: |to_server| 1 from the upstream socket
 * of client number |client| (the server sees that client's address and
 * port), 0 from the relay's port to that client. Any thread.
 * Returns 0, or -1 (no such client yet, or the send failed).
 */
int ts_relay_inject(ts_relay *r, int client, int to_server, const void *data,
                    size_t len);

/* Stops the thread, drops what is still queued, frees everything. NULL ok. */
void ts_relay_stop(ts_relay *r);

#ifdef __cplusplus
}
#endif

#endif /* TS_RELAY_H */
