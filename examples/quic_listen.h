/*
 * quic_listen: the QUIC listener socket the example servers share
 * (quic_echo_server, kv_server). Needs OpenSSL 3.5.
 */
#ifndef QUIC_LISTEN_H
#define QUIC_LISTEN_H

#include <openssl/ssl.h>

/* A QUIC listener (SSL_new_listener()) on UDP port |port| of every local
 * address, IPv6 and IPv4 alike (so "localhost" works whichever of ::1 and
 * 127.0.0.1 a client tries first), or IPv4 only on a host without IPv6
 * (said on stderr). It presents |cert| and |key| (PEM files) and accepts
 * only clients offering ALPN |alpn|, which must outlive the listener (a
 * string literal). NULL on failure: see stderr and OpenSSL's error queue. */
SSL *quic_listen(const char *cert, const char *key, int port,
                 const char *alpn);

#endif
