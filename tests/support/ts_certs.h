/*
 * ts_certs: one throw-away identity per process, and SSL_CTX/SSL objects that
 * use it.
 *
 * A self-signed P-256 certificate for CN=localhost (SAN DNS:localhost,
 * IP:127.0.0.1) is generated in memory on first use (pthread_once), so no test
 * depends on files, expiry dates or the system trust store. Client contexts
 * trust exactly that certificate and verify the peer, so a test that
 * succeeds has really authenticated the server.
 *
 * QUIC needs OpenSSL >= 3.5 (the server side, SSL_new_listener, arrived in
 * 3.5). On older builds, or with OPENSSL_NO_QUIC, the QUIC variants return
 * NULL and ts_have_quic() returns 0, so a test can GTEST_SKIP.
 */
#ifndef TS_CERTS_H
#define TS_CERTS_H

#include <stdint.h>

#include <openssl/ssl.h>

#ifdef __cplusplus
extern "C" {
#endif

#if OPENSSL_VERSION_NUMBER >= 0x30500000L && !defined(OPENSSL_NO_QUIC)
#define TS_HAVE_QUIC 1
#else
#define TS_HAVE_QUIC 0
#endif

enum ts_proto { TS_QUIC, TS_DTLS, TS_TLS };

/* The ALPN protocol every test connection negotiates ("tickless-test"). */
#define TS_ALPN "tickless-test"

/* 1 if this build has both a QUIC client and a QUIC server (listener). */
int ts_have_quic(void);

/* "QUIC", "DTLS" or "TLS", for test names and messages. */
const char *ts_proto_name(enum ts_proto p);

/*
 * The process's certificate and key (get0: owned by ts_certs, valid until
 * exit), or NULL if generation failed.
 */
X509 *ts_cert_get0(void);
EVP_PKEY *ts_key_get0(void);

/*
 * Writes the certificate and key as PEM files, for peers that tickless did
 * not write (openssl s_server, aioquic). Returns 0 or -1.
 */
int ts_write_pem_files(const char *cert_path, const char *key_path);

/*
 * A new server context for |p| with the certificate and key loaded and an
 * ALPN selection callback that accepts only TS_ALPN (QUIC requires ALPN; TLS
 * and DTLS clients that offer none are accepted). Caller frees. NULL on
 * failure or for TS_QUIC without QUIC support.
 */
SSL_CTX *ts_server_ctx(enum ts_proto p);

/*
 * A new client context for |p| that verifies the server (SSL_VERIFY_PEER)
 * against the generated certificate as its only trust anchor. Caller frees.
 * NULL on failure or for TS_QUIC without QUIC support.
 */
SSL_CTX *ts_client_ctx(enum ts_proto p);

/*
 * A new client SSL from |ctx| for 127.0.0.1:|port|, in connect state, whose
 * BIO owns a freshly connected socket (BIO_CLOSE): UDP for QUIC and DTLS,
 * TCP (connect() completed) for TLS. SNI and hostname verification are set
 * to "localhost"; QUIC also gets ALPN TS_ALPN and the initial peer address.
 * No handshake is started. The TLS and DTLS sockets are left blocking
 * (tickless makes them nonblocking); the QUIC socket is made nonblocking,
 * as OpenSSL's QUIC needs (a QUIC SSL object stays in blocking mode by
 * default all the same: it polls the socket itself). Caller frees with SSL_free(), which closes the socket.
 * NULL on failure.
 */
SSL *ts_client_new(SSL_CTX *ctx, enum ts_proto p, uint16_t port);

/*
 * DTLS: retransmit the handshake after 50 ms, doubling up to 800 ms, instead
 * of OpenSSL's 1 s doubling to 60 s, so tests through loss stay fast.
 */
void ts_dtls_fast_timer(SSL *ssl);

/*
 * QUIC: request an idle timeout of |ms| for |ssl| (a connection, before its
 * handshake). No-op without QUIC support or for non-QUIC objects.
 */
void ts_quic_set_idle_timeout(SSL *ssl, uint64_t ms);

/*
 * The DNS name |ssl|'s peer certificate must carry: SSL_set1_dnsname() on
 * OpenSSL >= 4.0, which deprecates SSL_set1_host(). Returns 1 or 0.
 */
int ts_expect_host(SSL *ssl, const char *dnsname);

#ifdef __cplusplus
}
#endif

#endif /* TS_CERTS_H */
