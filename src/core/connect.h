/* tickless_connect(): the name's lookup (connect_resolve.c), one address's
 * attempt (connect_attempt.c) and the race between them (connect.c).
 * Private to those files, and to the tests' resolver hooks. */
#ifndef TICKLESS_CORE_CONNECT_H
#define TICKLESS_CORE_CONNECT_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tickless/tickless.h"

/* Addresses beyond these are not tried. */
#define CONNECT_MAX_ATTEMPTS 16

/* What kind of SSL object the SSL_CTX makes. */
typedef enum connect_proto { CONNECT_TLS, CONNECT_DTLS, CONNECT_QUIC } connect_proto;

/* How an attempt ended, in the order tickless_connect() prefers to report
 * them when attempts end differently: a handshake that failed says most
 * about the server, a refusal least. */
typedef enum connect_outcome {
    CONNECT_PENDING = 0, /* still running; "no answer" if time runs out */
    CONNECT_REFUSED,     /* refused or unreachable */
    CONNECT_LOCAL,       /* socket(), memory or thread: our side failed */
    CONNECT_HANDSHAKE,   /* reached the server; its handshake failed */
    CONNECT_WON
} connect_outcome;

typedef enum connect_state {
    ATTEMPT_IDLE,        /* not started */
    ATTEMPT_CONNECTING,  /* TCP connect() in progress on |fd| */
    ATTEMPT_HANDSHAKING, /* |conn| made, its handshake running */
    ATTEMPT_DONE         /* ended: |outcome| and |err| say how */
} connect_state;

/* What every attempt of one tickless_connect() shares; read only. */
typedef struct connect_setup {
    SSL_CTX *ctx;
    connect_proto proto;
    const char *host;
    const char *port;
    int host_is_ip;
    const unsigned char *alpn; /* wire format, or NULL */
    unsigned alpn_len;
    const tickless_connect_options *opts;
    tickless_pool *pool;
} connect_setup;

/* One address. Owned by the thread in tickless_connect(). */
typedef struct connect_attempt {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char name[64];           /* "[::1]:443", "127.0.0.1:443" */
    connect_state state;
    int fd;                  /* ATTEMPT_CONNECTING: the socket, ours */
    tickless_conn *conn;     /* ATTEMPT_HANDSHAKING: the connection, ours */
    connect_outcome outcome; /* ATTEMPT_DONE: how it ended */
    tickless_error_info err; /* ATTEMPT_DONE and not won: why */
} connect_attempt;

/* Starts |a|: a socket, connect(); for UDP also the connection and its
 * handshake. Ends in any state but ATTEMPT_IDLE. */
void tl_connect_attempt_start(const connect_setup *s, connect_attempt *a);

/* ATTEMPT_CONNECTING, once the socket polled writable or in error:
 * finishes the TCP connect and starts the handshake, or ends |a|. */
void tl_connect_attempt_connected(const connect_setup *s, connect_attempt *a);

/* ATTEMPT_HANDSHAKING: waits up to |timeout_ms| for the handshake; ends
 * |a| as won or failed, or leaves it running. */
void tl_connect_attempt_wait(connect_attempt *a, int timeout_ms);

/* Closes whatever |a| holds (a loser, or everything on failure). */
void tl_connect_attempt_abandon(connect_attempt *a);

/* The addresses of s->host (IPv6 and IPv4 interleaved from whichever the
 * resolver put first, RFC 8305 section 4), looked up by |deadline|
 * (CLOCK_MONOTONIC ns, or CLOCK_NEVER). Returns 0 with *out (free with
 * tl_free(); |fd| and |name| not set yet) and *n > 0, or a TICKLESS_ERR_*
 * with |err|'s code and message set: TICKLESS_ERR_TIMEOUT if the lookup
 * did not finish in time (it then finishes, and frees itself, on its own
 * thread). */
int tl_connect_resolve(const connect_setup *s, uint64_t deadline,
                       connect_attempt **out, size_t *n,
                       tickless_error_info *err);

/* Test hook: while set, resolving |host| gives the numeric addresses in
 * |addrs| (comma-separated, in that order) instead of asking the
 * resolver, so a test can give "localhost" both ::1 and 127.0.0.1 on a
 * machine whose /etc/hosts has one. NULL |host| removes it. Internal
 * symbol: tests link tickless_internal (not installed). */
void tl_connect_set_resolve_override(const char *host, const char *addrs);

/* Test hook: each lookup made on a helper thread (a host name, not a
 * literal, with a timeout) first sleeps |ms| there, a resolver that slow;
 * 0 removes it. Lookups already started keep the delay they read. */
void tl_connect_set_resolve_delay(int ms);

#endif
