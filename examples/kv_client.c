/*
 * kv_client: one request to kv_server, its reply printed. A QUIC
 * connection, one stream: the request, our FIN, then the server's reply
 * until its FIN -- plain blocking calls, while a tickless assist thread
 * keeps the connection on time.
 *
 *   kv_client HOST PORT PUT KEY VALUE...
 *   kv_client HOST PORT GET KEY
 *   kv_client HOST PORT DEL KEY
 *
 * The words after PORT are sent as one line, joined by spaces ("PUT k a
 * b" sets k to "a b"), and the server's reply is printed as it comes:
 * OK, VALUE value, NOT_FOUND or ERROR reason. HOST is a name or an
 * address: tickless_connect() tries every address a name has, IPv6 and
 * IPv4, until a handshake completes. Certificates are verified against
 * the system store unless TICKLESS_EXAMPLE_CAFILE names a PEM file to
 * trust instead. Exit status 0 if the server replied, whatever it said.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include <tickless/tickless.h>

#define TIMEOUT_MS 10000

/* Sends |req| on a stream of its own and prints the reply. 0 or a
 * TICKLESS_ERR_* code. */
static int request(tickless_conn *conn, const char *req, size_t len)
{
    tickless_stream *s;
    char reply[2048];
    size_t n;
    int rc;

    rc = tickless_stream_open(conn, 0, &s, TIMEOUT_MS);
    if (rc != 0)
        return rc;
    rc = tickless_stream_write(s, req, len, &n, TIMEOUT_MS);
    if (rc == 0)
        rc = tickless_stream_conclude(s);
    /* A server that refuses a request before it has read all of it stops
     * our sending (TICKLESS_ERR_STREAM_RESET) but still replies: read on. */
    if (rc == 0 || rc == TICKLESS_ERR_STREAM_RESET) {
        while ((rc = tickless_stream_read(s, reply, sizeof(reply), &n,
                                          TIMEOUT_MS)) == 0)
            fwrite(reply, 1, n, stdout);
        if (rc == TICKLESS_ERR_EOF)
            rc = 0; /* the server's FIN: the whole reply */
    }
    tickless_stream_close(s);
    return rc;
}

int main(int argc, char **argv)
{
    const char *cafile = getenv("TICKLESS_EXAMPLE_CAFILE");
    tickless_error_info err = TICKLESS_ERROR_INFO_INIT;
    tickless_connect_options opts;
    tickless_conn *conn;
    size_t len = 0;
    char *req;
    SSL_CTX *ctx;
    int i, rc;

    if (argc < 4) {
        fprintf(stderr,
                "usage: %s HOST PORT PUT KEY VALUE... | GET KEY | DEL KEY\n",
                argv[0]);
        return 2;
    }
    /* argv[3..] joined by spaces, and the newline that ends a request. */
    for (i = 3; i < argc; i++)
        len += strlen(argv[i]) + 1;
    req = malloc(len + 1);
    if (req == NULL)
        return 1;
    req[0] = '\0';
    for (i = 3; i < argc; i++) {
        strcat(req, argv[i]);
        strcat(req, i + 1 < argc ? " " : "\n");
    }

    /* Resolve, try every address, verify, ALPN "kv", handshake. */
    ctx = SSL_CTX_new(OSSL_QUIC_client_method());
    if (ctx == NULL
        || !(cafile != NULL ? SSL_CTX_load_verify_file(ctx, cafile)
                            : SSL_CTX_set_default_verify_paths(ctx))) {
        fprintf(stderr, "cannot make the SSL_CTX\n");
        SSL_CTX_free(ctx);
        free(req);
        return 1;
    }
    tickless_connect_options_defaults(&opts);
    opts.alpn = "kv";
    opts.error = &err;
    rc = tickless_connect(ctx, argv[1], argv[2], &opts, NULL, &conn,
                          TIMEOUT_MS);
    SSL_CTX_free(ctx); /* the connection holds its own reference */
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", tickless_err_name(rc), err.message);
        free(req);
        return 1;
    }

    rc = request(conn, req, len);
    if (rc != 0) {
        tickless_conn_error(conn, &err);
        fprintf(stderr, "%s: %s\n", tickless_err_name(rc),
                err.message[0] ? err.message : tickless_strerror(rc));
    }
    (void)tickless_conn_shutdown(conn, 2000);
    tickless_conn_close(conn);
    free(req);
    return rc == 0 ? 0 : 1;
}
