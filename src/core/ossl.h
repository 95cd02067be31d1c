/* The one place that knows which OpenSSL line tickless was built against.
 *
 * OpenSSL >= 3.2 has one event API for every protocol: SSL_handle_events(),
 * SSL_get_event_timeout(), SSL_net_read_desired()/SSL_net_write_desired().
 * On 3.0 and 3.1 only DTLS has timers (DTLSv1_get_timeout() and
 * DTLSv1_handle_timeout()), TLS has none, and there is no QUIC. Everything
 * else in tickless calls these wrappers and never tests a version. */
#ifndef TICKLESS_CORE_OSSL_H
#define TICKLESS_CORE_OSSL_H

#include <stdint.h>

#include <openssl/ssl.h>

#include "base/interest.h"

#if OPENSSL_VERSION_NUMBER >= 0x30200000L
#define TICKLESS_HAVE_HANDLE_EVENTS 1
#endif
#if OPENSSL_VERSION_NUMBER >= 0x30200000L && !defined(OPENSSL_NO_QUIC)
#define TICKLESS_HAVE_QUIC 1
#endif
#if OPENSSL_VERSION_NUMBER >= 0x30500000L && !defined(OPENSSL_NO_QUIC)
#define TICKLESS_HAVE_QUIC_SERVER 1
#endif

typedef enum conn_proto { CONN_QUIC, CONN_DTLS, CONN_TLS } conn_proto;

/* Works out which protocol |ssl| speaks. Returns 0, TICKLESS_ERR_INVALID for
 * QUIC listeners and stream objects, or TICKLESS_ERR_UNSUPPORTED for QUIC
 * when this build has no QUIC. */
int tl_ossl_classify(SSL *ssl, conn_proto *out);

/* The socket behind |ssl|'s read BIO, or -1 if it has none. */
int tl_ossl_socket_fd(SSL *ssl, conn_proto proto);

/* Puts the SSL object (QUIC) or its socket (DTLS, TLS) in nonblocking mode
 * and enables partial writes. DTLS: a zero-length datagram then reads as
 * "retry", not as the end of the stream (see ossl.c); QUIC (OpenSSL >= 3.4)
 * gets implicit event handling. Returns 0, TICKLESS_ERR_SSL or
 * TICKLESS_ERR_SYS. */
int tl_ossl_make_nonblocking(SSL *ssl, conn_proto proto, int fd);

/* Nanoseconds until OpenSSL wants to be ticked, or CLOCK_NEVER. */
uint64_t tl_ossl_timeout_ns(SSL *ssl, conn_proto proto);

/* Runs OpenSSL's timer and network processing. For DTLS and TLS this only
 * fires due timers: it never reads application data off the socket. Returns
 * 1 on success, 0 on failure (error on this thread's queue). */
int tl_ossl_handle_events(SSL *ssl, conn_proto proto);

/* What OpenSSL itself wants from the socket (QUIC only; 0 otherwise). */
unsigned tl_ossl_net_interest(SSL *ssl, conn_proto proto);

/* DTLS/TLS: a handshake the application has started and that is not
 * finished (the assist carries it on by itself; see tl_conn_tick()). Never
 * true for QUIC, whose handshake is OpenSSL's event handling's job. */
int tl_ossl_handshake_underway(SSL *ssl, conn_proto proto);

/* Whether application data can be read from |ssl| without touching the
 * socket: decrypted bytes (QUIC, TLS), or a DTLS record already taken off
 * the socket with its datagram. */
int tl_ossl_readable(SSL *ssl, conn_proto proto);

/* Wake predicates for QUIC wait queues (waitq.c): whether a blocked
 * caller of |ssl| could make progress now. Any doubt answers 1. */
int tl_ossl_read_ready(SSL *ssl);          /* data, FIN, reset or closed */
/* More send-buffer room than |room_seen| (what tl_ossl_write_room() said
 * when a writer was refused), or unwritable; or, |input_seen| (a tick
 * has just taken input), an empty send buffer, whose writer can only be
 * waiting for the peer's credit. */
int tl_ossl_write_ready(SSL *ssl, uint64_t room_seen, int input_seen);
/* QUIC: the stream's free send-buffer space now; 0 otherwise. */
uint64_t tl_ossl_write_room(SSL *ssl);
/* QUIC: an incoming stream, or the connection closed (asked only of QUIC
 * connections: 0 otherwise). */
int tl_ossl_accept_stream_ready(SSL *conn);
int tl_ossl_accept_conn_ready(SSL *listener); /* incoming connection */
/* QUIC connection |conn| has incoming streams queued; 0 if not QUIC. */
int tl_ossl_streams_queued(SSL *conn);
/* The QUIC connection of |ssl| (a connection or stream object) is closing
 * or closed, by either side or its idle timeout; 0 if not QUIC. */
int tl_ossl_quic_terminated(SSL *ssl);

/* Whether |ssl| is a QUIC listener this build can drive (OpenSSL >= 3.5). */
int tl_ossl_is_listener(SSL *ssl);

/* Whether |ssl| is a QUIC connection that came from a listener
 * (SSL_accept_connection()), sharing the listener's socket and engine. */
int tl_ossl_is_accepted(SSL *ssl);

/* Largest application write tickless hands to one SSL_write_ex call: for
 * DTLS one record; for QUIC the stream's send buffer's free space or its
 * size, whichever is larger (so that the buffer grows by doubling, not by
 * a copy per write). Asked again before each call: it changes. */
size_t tl_ossl_max_write(SSL *ssl, conn_proto proto);

#endif
