/*
 * blocking_client: the smallest real tickless program. It connects to a
 * QUIC, DTLS or TLS server, sends one line, prints what comes back, and
 * closes -- with plain blocking calls, while a tickless assist thread keeps
 * the connection's timers running behind its back.
 *
 *   blocking_client quic|dtls|tls HOST PORT [ALPN] [MESSAGE]
 *
 * Certificates are verified against the system store unless
 * TICKLESS_EXAMPLE_CAFILE names a PEM file to trust instead.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <tickless/tickless.h>

#include "client_ssl.h"

int main(int argc, char **argv)
{
    const char *proto, *host, *port, *alpn, *message;
    tickless_conn *conn;
    char reply[4096];
    size_t n;
    SSL *ssl;
    int fd, rc;

    if (argc < 4) {
        fprintf(stderr, "usage: %s quic|dtls|tls HOST PORT [ALPN] [MESSAGE]\n",
                argv[0]);
        return 2;
    }
    proto = argv[1];
    host = argv[2];
    port = argv[3];
    alpn = argc > 4 ? argv[4] : NULL;
    message = argc > 5 ? argv[5] : "hello from tickless\n";

    fd = client_connect(host, port,
                        strcmp(proto, "tls") == 0 ? SOCK_STREAM : SOCK_DGRAM);
    if (fd < 0) {
        perror("connect");
        return 1;
    }
    ssl = client_ssl_new(proto, host, fd, alpn);
    if (ssl == NULL) {
        ERR_print_errors_fp(stderr);
        close(fd);
        return 1;
    }

    /* From here on the SSL object is tickless's, and so are its timers. */
    rc = tickless_conn_new(ssl, NULL, &conn);
    if (rc != 0) {
        fprintf(stderr, "tickless_conn_new: %s\n", tickless_strerror(rc));
        SSL_free(ssl);
        return 1;
    }
    rc = tickless_conn_handshake(conn, 10000);
    if (rc == 0)
        rc = tickless_conn_write(conn, message, strlen(message), &n, 10000);
    if (rc == 0)
        rc = tickless_conn_read(conn, reply, sizeof(reply), &n, 10000);
    if (rc == 0)
        printf("%.*s", (int)n, reply);
    if (rc != 0 && rc != TICKLESS_ERR_EOF) {
        tickless_error_info info = TICKLESS_ERROR_INFO_INIT;

        tickless_conn_error(conn, &info);
        fprintf(stderr, "%s: %s\n", tickless_err_name(rc),
                info.message[0] ? info.message : tickless_strerror(rc));
    }
    tickless_conn_shutdown(conn, 2000);
    tickless_conn_close(conn);
    return rc == 0 || rc == TICKLESS_ERR_EOF ? 0 : 1;
}
