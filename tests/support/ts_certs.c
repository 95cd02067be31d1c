/* ts_certs: see ts_certs.h. */
#include "ts_certs.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ts_net.h"

/* Written once under pthread_once, read-only afterwards. */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static X509 *g_cert;
static EVP_PKEY *g_key;

/* ALPN in wire format: length-prefixed. */
static const unsigned char g_alpn_wire[] = "\x0dtickless-test";
#define ALPN_WIRE_LEN (sizeof(g_alpn_wire) - 1)

/* Runs when the process exits, so LeakSanitizer sees nothing left behind. */
static void certs_free(void)
{
    X509_free(g_cert);
    EVP_PKEY_free(g_key);
    g_cert = NULL;
    g_key = NULL;
}

static int add_ext(X509 *cert, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (ext == NULL)
        return 0;
    ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

/* The kinds of algorithm OpenSSL's providers offer, by the type name each
 * one's TYPE_do_all_provided() is named after. */
#define TS_ALGORITHM_KINDS(X)                                                  \
    X(EVP_MD) X(EVP_CIPHER) X(EVP_MAC) X(EVP_KDF) X(EVP_RAND) X(EVP_KEYMGMT)  \
    X(EVP_KEYEXCH) X(EVP_SIGNATURE) X(EVP_ASYM_CIPHER) X(EVP_KEM)             \
    X(OSSL_ENCODER) X(OSSL_DECODER)

#define TS_IGNORE_ALGORITHM(type)                                              \
    static void ignore_##type(type *m, void *arg)                              \
    {                                                                          \
        (void)m;                                                               \
        (void)arg;                                                             \
    }
TS_ALGORITHM_KINDS(TS_IGNORE_ALGORITHM)

#define TS_FETCH_ALL(type) type##_do_all_provided(NULL, ignore_##type, NULL);

/*
 * Every algorithm of the default providers fetched once, before the test
 * has threads. OpenSSL fills its algorithm tables lazily, on a first
 * fetch, under its own write locks, while other threads look names up
 * without a lock (RCU since 3.4): ThreadSanitizer, which cannot see the
 * atomics inside an uninstrumented libcrypto, reports the first TLS
 * record one thread's connection reads as a race with another thread's
 * first fetch of some algorithm (the torture harness: about one TLS run
 * in forty, in its first half second). Filled here, the tables only ever
 * get read afterwards.
 */
static void openssl_warm(void)
{
    TS_ALGORITHM_KINDS(TS_FETCH_ALL)
}

/*
 * The same shape as `openssl req -x509` makes (CA:TRUE, key identifiers): a
 * self-signed certificate that OpenSSL accepts as its own trust anchor.
 * No keyUsage: without keyCertSign OpenSSL would not treat it as
 * self-issued.
 */
static void certs_generate(void)
{
    EVP_PKEY *key;
    X509 *cert;
    X509_NAME *name;

    openssl_warm();
    key = EVP_EC_gen("P-256");
    cert = X509_new();

    if (key == NULL || cert == NULL)
        goto fail;
    if (!X509_set_version(cert, X509_VERSION_3) ||
        !ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) ||
        X509_gmtime_adj(X509_getm_notBefore(cert), -3600) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(cert), 30L * 24 * 3600) == NULL ||
        !X509_set_pubkey(cert, key))
        goto fail;
    /* A name of our own: X509_get_subject_name() returns a const one
     * since OpenSSL 4.0. */
    name = X509_NAME_new();
    if (name == NULL
        || !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                       (const unsigned char *)"localhost", -1,
                                       -1, 0)
        || !X509_set_subject_name(cert, name)
        || !X509_set_issuer_name(cert, name)) {
        X509_NAME_free(name);
        goto fail;
    }
    X509_NAME_free(name);
    if (!add_ext(cert, NID_basic_constraints, "critical,CA:TRUE") ||
        !add_ext(cert, NID_subject_key_identifier, "hash") ||
        !add_ext(cert, NID_authority_key_identifier, "keyid:always") ||
        !add_ext(cert, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"))
        goto fail;
    if (X509_sign(cert, key, EVP_sha256()) == 0)
        goto fail;
    g_cert = cert;
    g_key = key;
    atexit(certs_free);
    return;

fail:
    fprintf(stderr, "ts_certs: certificate generation failed\n");
    ERR_print_errors_fp(stderr);
    X509_free(cert);
    EVP_PKEY_free(key);
}

X509 *ts_cert_get0(void)
{
    pthread_once(&g_once, certs_generate);
    return g_cert;
}

EVP_PKEY *ts_key_get0(void)
{
    pthread_once(&g_once, certs_generate);
    return g_key;
}

int ts_have_quic(void)
{
    return TS_HAVE_QUIC;
}

const char *ts_proto_name(enum ts_proto p)
{
    switch (p) {
    case TS_QUIC:
        return "QUIC";
    case TS_DTLS:
        return "DTLS";
    case TS_TLS:
        return "TLS";
    }
    return "?";
}

int ts_write_pem_files(const char *cert_path, const char *key_path)
{
    X509 *cert = ts_cert_get0();
    EVP_PKEY *key = ts_key_get0();
    FILE *f;
    int ok;

    if (cert == NULL || key == NULL)
        return -1;
    if ((f = fopen(cert_path, "w")) == NULL)
        return -1;
    ok = PEM_write_X509(f, cert);
    ok = (fclose(f) == 0) && ok;
    if (!ok || (f = fopen(key_path, "w")) == NULL)
        return -1;
    ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    ok = (fclose(f) == 0) && ok;
    return ok ? 0 : -1;
}

static const SSL_METHOD *method_for(enum ts_proto p, int server)
{
    switch (p) {
    case TS_QUIC:
#if TS_HAVE_QUIC
        return server ? OSSL_QUIC_server_method() : OSSL_QUIC_client_method();
#else
        return NULL;
#endif
    case TS_DTLS:
        return server ? DTLS_server_method() : DTLS_client_method();
    case TS_TLS:
        return server ? TLS_server_method() : TLS_client_method();
    }
    return NULL;
}

static int alpn_select(SSL *ssl, const unsigned char **out,
                       unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
    unsigned char *sel;

    (void)ssl;
    (void)arg;
    /* SSL_select_next_proto's |out| is non-const for historic reasons only. */
    if (SSL_select_next_proto(&sel, outlen, g_alpn_wire, ALPN_WIRE_LEN, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *ts_server_ctx(enum ts_proto p)
{
    const SSL_METHOD *m = method_for(p, 1);
    X509 *cert = ts_cert_get0();
    EVP_PKEY *key = ts_key_get0();
    SSL_CTX *ctx;

    if (m == NULL || cert == NULL || key == NULL)
        return NULL;
    if ((ctx = SSL_CTX_new(m)) == NULL)
        return NULL;
    if (SSL_CTX_use_certificate(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, key) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    return ctx;
}

SSL_CTX *ts_client_ctx(enum ts_proto p)
{
    const SSL_METHOD *m = method_for(p, 0);
    X509 *cert = ts_cert_get0();
    SSL_CTX *ctx;

    if (m == NULL || cert == NULL)
        return NULL;
    if ((ctx = SSL_CTX_new(m)) == NULL)
        return NULL;
    /* A fresh context's store is empty: the generated cert is the only CA.
     * The client trusts its own copy: OpenSSL caches derived fields inside
     * an X509 lazily, and a server thread and a client thread of this one
     * process must not share that object (ThreadSanitizer sees the race). */
    cert = X509_dup(cert);
    if (cert == NULL
        || X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), cert) != 1) {
        X509_free(cert);
        SSL_CTX_free(ctx);
        return NULL;
    }
    X509_free(cert); /* the store holds its own reference */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

/*
 * The datagram BIO for QUIC and DTLS. Telling it the peer makes it use
 * send() on the connected socket and report the peer to OpenSSL.
 */
static BIO *dgram_bio(int fd, uint16_t port)
{
    BIO_ADDR *peer = BIO_ADDR_new();
    struct in_addr lo;
    BIO *bio = NULL;

    lo.s_addr = htonl(INADDR_LOOPBACK);
    if (peer == NULL ||
        !BIO_ADDR_rawmake(peer, AF_INET, &lo, sizeof(lo), htons(port)))
        goto out;
    if ((bio = BIO_new_dgram(fd, BIO_CLOSE)) == NULL)
        goto out;
    if (BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, peer) <= 0) {
        BIO_free(bio);
        bio = NULL;
    }
out:
    BIO_ADDR_free(peer);
    return bio;
}

#if TS_HAVE_QUIC
static int quic_client_setup(SSL *ssl, uint16_t port)
{
    BIO_ADDR *peer = BIO_ADDR_new();
    struct in_addr lo;
    int ok;

    lo.s_addr = htonl(INADDR_LOOPBACK);
    ok = peer != NULL &&
         BIO_ADDR_rawmake(peer, AF_INET, &lo, sizeof(lo), htons(port)) &&
         SSL_set1_initial_peer_addr(ssl, peer) &&
         SSL_set_alpn_protos(ssl, g_alpn_wire, ALPN_WIRE_LEN) == 0;
    BIO_ADDR_free(peer);
    return ok;
}
#endif

SSL *ts_client_new(SSL_CTX *ctx, enum ts_proto p, uint16_t port)
{
    int type = (p == TS_TLS) ? SOCK_STREAM : SOCK_DGRAM;
    SSL *ssl;
    BIO *bio;
    int fd;

    if (ctx == NULL || (p == TS_QUIC && !TS_HAVE_QUIC))
        return NULL;
    if ((ssl = SSL_new(ctx)) == NULL)
        return NULL;
    if ((fd = ts_net_connect(type, port)) < 0) {
        SSL_free(ssl);
        return NULL;
    }
    /*
     * QUIC drives its socket nonblocking even when the SSL object is in
     * blocking mode (it polls itself): on a blocking socket its recvmmsg()
     * can block for good. TLS and DTLS sockets stay blocking.
     */
    if (p == TS_QUIC && ts_net_set_nonblock(fd, 1) != 0) {
        close(fd);
        SSL_free(ssl);
        return NULL;
    }
    if (p == TS_TLS) {
        int one = 1;

        /* Tests write small chunks: no Nagle stalls against delayed ACKs. */
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    bio = (p == TS_TLS) ? BIO_new_socket(fd, BIO_CLOSE) : dgram_bio(fd, port);
    if (bio == NULL) {
        close(fd);
        SSL_free(ssl);
        return NULL;
    }
    /* From here the BIO owns fd and the SSL owns the BIO. */
    SSL_set_bio(ssl, bio, bio);
    SSL_set_connect_state(ssl);
    if (SSL_set_tlsext_host_name(ssl, "localhost") != 1 ||
        ts_expect_host(ssl, "localhost") != 1)
        goto fail;
#if TS_HAVE_QUIC
    if (p == TS_QUIC && !quic_client_setup(ssl, port))
        goto fail;
#endif
    return ssl;

fail:
    SSL_free(ssl);
    return NULL;
}

/* Called with the current timeout (0 at the start of a flight), in us. */
static unsigned int dtls_fast_timer_cb(SSL *ssl, unsigned int timer_us)
{
    (void)ssl;
    if (timer_us == 0)
        return 50000;
    return timer_us >= 400000 ? 800000 : timer_us * 2;
}

void ts_dtls_fast_timer(SSL *ssl)
{
    if (ssl != NULL && SSL_is_dtls(ssl))
        DTLS_set_timer_cb(ssl, dtls_fast_timer_cb);
}

void ts_quic_set_idle_timeout(SSL *ssl, uint64_t ms)
{
#if TS_HAVE_QUIC
    if (ssl != NULL && SSL_is_quic(ssl))
        (void)SSL_set_value_uint(ssl, SSL_VALUE_CLASS_FEATURE_REQUEST,
                                 SSL_VALUE_QUIC_IDLE_TIMEOUT, ms);
#else
    (void)ssl;
    (void)ms;
#endif
}

int ts_expect_host(SSL *ssl, const char *dnsname)
{
#if OPENSSL_VERSION_NUMBER >= 0x40000000L
    return SSL_set1_dnsname(ssl, dnsname);
#else
    return SSL_set1_host(ssl, dnsname);
#endif
}
