/*
 * echo_service: the QUIC echo service behind examples/quic_echo_server,
 * kept apart from its main() so the test suite runs the same code.
 *
 * One tickless listener; a fixed set of worker threads, each looping
 *     accept the next stream of any client -> echo it -> close it
 * with plain blocking calls (tickless_listener_accept_stream()). A
 * client's every stream is echoed until its FIN, then concluded. Streams
 * are served in parallel, of one client or many: a client sending on more
 * streams at once than there are workers gets its streams served as
 * workers come free, never one waiting for another to finish.
 */
#ifndef ECHO_SERVICE_H
#define ECHO_SERVICE_H

#include <stdint.h>

#include <openssl/ssl.h>

#include <tickless/tickless.h>

typedef struct echo_service echo_service;

typedef struct echo_service_stats {
    uint64_t accepted;    /* streams accepted */
    uint64_t streams;     /* echoed to the end (the client's FIN) */
    uint64_t resets;      /* ended by the client's reset */
    uint64_t bytes;       /* echoed */
} echo_service_stats;

/* How long a stream may go without progress (a client that stops sending,
 * or stops reading the echo) before its worker resets it and moves on: a
 * blocking worker is the client's for that long. */
#define ECHO_SERVICE_STALL_MS 10000

/* Starts |workers| threads serving |listener| (from SSL_new_listener(),
 * with its UDP socket; taken over, also on failure) on |pool| (NULL: a
 * dedicated assist thread), giving up on a stream after |stall_ms| without
 * progress. Returns 0 or a TICKLESS_ERR_* code. */
int echo_service_start(SSL *listener, tickless_pool *pool, int workers,
                       int stall_ms, echo_service **out);

void echo_service_get_stats(echo_service *svc, echo_service_stats *out);

/* Closes the listener (its connections end, blocked calls return), joins
 * the workers and frees everything. NULL is ignored. */
void echo_service_stop(echo_service *svc);

#endif
