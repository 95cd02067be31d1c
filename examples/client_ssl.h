/*
 * client_ssl: what every example client does before tickless takes over:
 * a connected socket, and a client SSL object on it that verifies the
 * server (against the system store, or the PEM file named by
 * TICKLESS_EXAMPLE_CAFILE) and offers an ALPN.
 */
#ifndef CLIENT_SSL_H
#define CLIENT_SSL_H

#include <openssl/ssl.h>

/* A socket of |type| (SOCK_STREAM, SOCK_DGRAM) connected to HOST:PORT, or
 * -1 with errno set. */
int client_connect(const char *host, const char *port, int type);

/* A client SSL for |proto| ("quic", "dtls" or "tls") on the connected |fd|
 * (the SSL owns it from then on), verifying |host|, offering |alpn| if
 * non-empty. NULL on failure (OpenSSL's error queue says why; |fd| is
 * still the caller's). */
SSL *client_ssl_new(const char *proto, const char *host, int fd,
                    const char *alpn);

#endif
