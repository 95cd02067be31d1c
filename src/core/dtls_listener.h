/* A DTLS server's listening socket (tickless_listener_new_dtls()): worker
 * threads accept from it with tickless_listener_accept().
 *
 * DTLS has no listener object in OpenSSL: a server is one UDP socket until
 * a client proves it can receive at its address, by echoing a stateless
 * cookie (DTLSv1_listen()). The accepting thread then gives the client a
 * socket of its own, bound to the listener's address and connected to the
 * client (the kernel delivers its datagrams there from then on), and hands
 * the connection to tickless like any other: it finishes its handshake on
 * the connection's assist. The cookie secret is the listener's, rotated
 * (dtls_cookie.h). */
#ifndef TICKLESS_CORE_DTLS_LISTENER_H
#define TICKLESS_CORE_DTLS_LISTENER_H

#include <openssl/ssl.h>

#include <tickless/tickless.h>

typedef struct dtls_listener dtls_listener;

/* Takes |fd| (a bound UDP socket) on success; |ctx| gets a reference and
 * the listener's cookie callbacks. 0, or a TICKLESS_ERR_* code. */
int tl_dtls_listener_new(SSL_CTX *ctx, int fd, tickless_pool *pool,
                         dtls_listener **out);

/* The next client with a valid cookie, as a connection of |pool| whose
 * handshake may still be under way; TICKLESS_ERR_TIMEOUT, _CLOSED, ... */
int tl_dtls_listener_accept(dtls_listener *d, tickless_conn **out,
                            int timeout_ms);

/* Its listening socket, which it owns. */
int tl_dtls_listener_fd(const dtls_listener *d);

/* Stops accepting: blocked and later accepts return TICKLESS_ERR_CLOSED.
 * Accepted connections have sockets of their own and go on. */
void tl_dtls_listener_close(dtls_listener *d);

/* Frees it and closes its socket. No accept may be in progress. */
void tl_dtls_listener_free(dtls_listener *d);

#endif
