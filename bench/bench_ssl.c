/*
 * bench_ssl: the few OpenSSL calls every scenario's client makes alike:
 * failure text with OpenSSL's reason, the would-block test, and the native
 * mode's context. Each scenario keeps its own connection code: the modes
 * wait and time things differently in each (see rtt_conn.h, latency.h).
 */
#include "bench.h"

#include <string.h>

#include <openssl/err.h>

#if BENCH_HAVE_QUIC
#include <openssl/quic.h>

#include "ts_certs.h"
#endif

void bench_ssl_add_reason(char *msg, size_t size)
{
    size_t len = strlen(msg);

    if (ERR_peek_last_error() != 0 && len + 3 < size) {
        msg[len++] = ':';
        msg[len++] = ' ';
        ERR_error_string_n(ERR_peek_last_error(), msg + len, size - len);
    }
    ERR_clear_error();
}

int bench_ssl_would_block(SSL *ssl, int ret)
{
    int e = SSL_get_error(ssl, ret);

    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

#if BENCH_HAVE_QUIC

SSL_CTX *bench_ssl_native_ctx(void)
{
    /* The trust is ts_client_ctx()'s (the generated certificate only, in a
     * copy of its own); only the method differs, and a context's method is
     * fixed when it is made, so the native context takes over the plain
     * one's certificate store. */
    SSL_CTX *plain = ts_client_ctx(TS_QUIC), *ctx;

    if (plain == NULL)
        return NULL;
    if ((ctx = SSL_CTX_new(OSSL_QUIC_client_thread_method())) != NULL) {
        SSL_CTX_set1_cert_store(ctx, SSL_CTX_get_cert_store(plain));
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    SSL_CTX_free(plain);
    return ctx;
}

#endif /* BENCH_HAVE_QUIC */
