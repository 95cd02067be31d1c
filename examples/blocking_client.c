/*
 * blocking_client: the smallest real tickless program. It connects to a
 * QUIC, DTLS or TLS server, sends one line, prints what comes back, and
 * closes -- with plain blocking calls, while a tickless assist thread keeps
 * the connection's timers running behind its back.
 *
 *   blocking_client quic|dtls|tls HOST PORT [ALPN] [MESSAGE]
 *
 * tickless_connect() does the rest: it resolves HOST, tries every address
 * (IPv6 and IPv4), verifies the certificate and the name, offers ALPN.
 * Certificates are verified against the system store unless
 * TICKLESS_EXAMPLE_CAFILE names a PEM file to trust instead.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include <tickless/tickless.h>

/* A client context for |proto| that trusts the system's CAs, or the file
 * TICKLESS_EXAMPLE_CAFILE names. */
static SSL_CTX *client_ctx(const char *proto)
{
    const char *cafile = getenv("TICKLESS_EXAMPLE_CAFILE");
    const SSL_METHOD *method;
    SSL_CTX *ctx;

    if (strcmp(proto, "tls") == 0) {
        method = TLS_client_method();
    } else if (strcmp(proto, "dtls") == 0) {
        method = DTLS_client_method();
    } else {
#if OPENSSL_VERSION_NUMBER >= 0x30200000L && !defined(OPENSSL_NO_QUIC)
        method = OSSL_QUIC_client_method();
#else
        fprintf(stderr, "this OpenSSL has no QUIC\n");
        return NULL;
#endif
    }
    ctx = SSL_CTX_new(method);
    if (ctx != NULL
        && !(cafile != NULL ? SSL_CTX_load_verify_file(ctx, cafile)
                            : SSL_CTX_set_default_verify_paths(ctx))) {
        SSL_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

int main(int argc, char **argv)
{
    tickless_error_info err = TICKLESS_ERROR_INFO_INIT;
    tickless_connect_options opts;
    const char *message;
    tickless_conn *conn;
    char reply[4096];
    SSL_CTX *ctx;
    size_t n;
    int rc;

    if (argc < 4) {
        fprintf(stderr, "usage: %s quic|dtls|tls HOST PORT [ALPN] [MESSAGE]\n",
                argv[0]);
        return 2;
    }
    message = argc > 5 ? argv[5] : "hello from tickless\n";
    ctx = client_ctx(argv[1]);
    if (ctx == NULL)
        return 1;

    tickless_connect_options_defaults(&opts);
    opts.alpn = argc > 4 && argv[4][0] != '\0' ? argv[4] : NULL;
    opts.error = &err;
    rc = tickless_connect(ctx, argv[2], argv[3], &opts, NULL, &conn, 10000);
    SSL_CTX_free(ctx); /* the connection holds its own reference */
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", tickless_err_name(rc), err.message);
        return 1;
    }

    /* From here on the connection's timers are the assist thread's. */
    rc = tickless_conn_write(conn, message, strlen(message), &n, 10000);
    if (rc == 0)
        rc = tickless_conn_read(conn, reply, sizeof(reply), &n, 10000);
    if (rc == 0)
        printf("%.*s", (int)n, reply);
    if (rc != 0 && rc != TICKLESS_ERR_EOF) {
        tickless_conn_error(conn, &err);
        fprintf(stderr, "%s: %s\n", tickless_err_name(rc),
                err.message[0] ? err.message : tickless_strerror(rc));
    }
    tickless_conn_shutdown(conn, 2000);
    tickless_conn_close(conn);
    return rc == 0 || rc == TICKLESS_ERR_EOF ? 0 : 1;
}
