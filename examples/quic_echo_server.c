/*
 * quic_echo_server: a worker-pool QUIC echo server written as plain
 * blocking code. A pool of two tickless threads keeps every connection on
 * time (ACKs, retransmissions, keep-alives, idle timeouts); a fixed set of
 * worker threads loops: accept the next stream of any client, echo it,
 * close it (echo_service.c). Its socket comes from quic_listen.c. Needs
 * OpenSSL 3.5.
 *
 *   quic_echo_server CERT.pem KEY.pem PORT [WORKERS]
 *
 * Listens on UDP port PORT of every local address, IPv6 and IPv4 alike
 * (so "localhost" works whichever of ::1 and 127.0.0.1 a client tries
 * first), or IPv4 only on a host without IPv6. ALPN "echo". Every
 * bidirectional stream a client opens is echoed until its FIN, then
 * finished too: one stream (blocking_client) or many (quic_client).
 */
#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <tickless/tickless.h>

#include "echo_service.h"
#include "quic_listen.h"

int main(int argc, char **argv)
{
    tickless_pool_options opts;
    tickless_pool *pool = NULL;
    echo_service *svc = NULL;
    echo_service_stats st;
    int nworkers, rc;
    SSL *listener;

    if (argc < 4) {
        fprintf(stderr,
                "usage: %s CERT.pem KEY.pem PORT [WORKERS]\n"
                "  serves QUIC echo (ALPN \"echo\") on UDP PORT, IPv6 and "
                "IPv4;\n  WORKERS threads (default 8); Enter stops it\n",
                argv[0]);
        return 2;
    }
    nworkers = argc > 4 ? atoi(argv[4]) : 8;
    if (nworkers < 1 || nworkers > 64)
        nworkers = 8;

    tickless_pool_options_defaults(&opts);
    opts.threads = 2;
    opts.thread_name = "echo-assist";
    if ((rc = tickless_pool_new(&opts, &pool)) != 0) {
        fprintf(stderr, "pool: %s\n", tickless_strerror(rc));
        return 1;
    }
    listener = quic_listen(argv[1], argv[2], atoi(argv[3]), "echo");
    if (listener == NULL) {
        ERR_print_errors_fp(stderr);
        tickless_pool_free(pool);
        return 1;
    }
    if ((rc = echo_service_start(listener, pool, nworkers,
                                 ECHO_SERVICE_STALL_MS, &svc)) != 0) {
        fprintf(stderr, "echo service: %s\n", tickless_strerror(rc));
        tickless_pool_free(pool);
        return 1;
    }
    printf("echo server on UDP port %s with %d workers; Enter stops it\n",
           argv[3], nworkers);
    fflush(stdout);
    (void)getchar();

    echo_service_get_stats(svc, &st);
    echo_service_stop(svc);
    printf("served %llu streams (%llu echoed to the end), %llu bytes\n",
           (unsigned long long)st.accepted,
           (unsigned long long)st.streams, (unsigned long long)st.bytes);
    return tickless_pool_free(pool) == 0 ? 0 : 1;
}
