/*
 * server_scale.h: what the three parts of the server-scale scenario share.
 * server_scale.c runs every (N, shards) and prints the table;
 * server_scale_listener.c is the server process (a tickless_listen()
 * listener that holds every connection); server_scale_client.c is the
 * client process, which holds N connections and times a burst of new
 * handshakes. Private to bench/.
 */
#ifndef TICKLESS_BENCH_SERVER_SCALE_H
#define TICKLESS_BENCH_SERVER_SCALE_H

#include <stddef.h>
#include <stdint.h>

#include "bench.h"

#define SERVER_SCALE_MAX_COUNTS 16
#define SERVER_SCALE_MAX_SHARDS 8
#define SERVER_SCALE_MAX_WINDOW 1024 /* threads the client starts */

typedef struct server_scale_opts {
    unsigned counts[SERVER_SCALE_MAX_COUNTS]; /* N: connections held */
    size_t ncounts;
    unsigned shards[SERVER_SCALE_MAX_SHARDS]; /* listener shards to compare */
    size_t nshards;
    unsigned burst;  /* K: new handshakes timed at each N */
    unsigned window; /* handshakes in flight */
    bench_common_opts common; /* --csv: DIR/server-scale.csv */
} server_scale_opts;

/* What the server process sends back when it is told to stop. Plain data:
 * it crosses a socket. */
typedef struct server_scale_server_result {
    int ok;
    char error[160];
    unsigned accepted;   /* connections tickless_listener_accept() gave */
    unsigned late;       /* of those, accepted after the client finished */
    uint64_t late_ns;    /* how long after it the last one was accepted */
    unsigned listeners;  /* OpenSSL listeners they came from ... */
    unsigned per_listener[SERVER_SCALE_MAX_SHARDS]; /* ... and how many each */
} server_scale_server_result;

/* What the client process sends back. */
typedef struct server_scale_client_result {
    int ok;
    char error[256];
    unsigned held;        /* N, all established */
    uint64_t held_ns;     /* time to establish them */
    unsigned burst;       /* K */
    uint64_t burst_ns;    /* first start to last completion */
    uint64_t lat_p50_ns, lat_p99_ns; /* one handshake: connect to done */
    double cpu_pct;       /* the client process over the burst, % of a core */
    unsigned held_closed; /* held connections found closed after it */
} server_scale_client_result;

typedef struct server_scale_client_args {
    const server_scale_opts *o;
    unsigned n;
    uint16_t port;
} server_scale_client_args;

/* The server process's body, for bench_peer_start(): |arg| points to the
 * number of shards; the hello is the port (a uint16_t, 0 if the listener
 * did not start). When the client has finished, the parent sends the
 * number of connections it opened (a uint32_t) and shuts its side; the
 * server waits a while for them all to be accepted, stops and sends a
 * server_scale_server_result. */
int server_scale_listener_main(void *arg, int fd);

/* The client process's body, for bench_run_child(): |arg| is a
 * server_scale_client_args, |result| a server_scale_client_result. */
int server_scale_client_main(void *arg, void *result, size_t len);

#endif /* TICKLESS_BENCH_SERVER_SCALE_H */
