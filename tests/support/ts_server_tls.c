/*
 * ts_server_tls: the TLS test server. A TCP listener on 127.0.0.1 (or
 * where options.bind_to says); every
 * accepted socket becomes a connection served by ts_fdloop.
 */
#include "ts_server_local.h"

#include <errno.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ts_net.h"

static void tls_on_listen_readable(ts_fdloop *l)
{
    for (;;) {
        int fd = accept4(l->listen_fd, NULL, NULL,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        SSL *ssl;

        if (fd < 0)
            return; /* EAGAIN: all taken; anything else: try next wake-up */
        int one = 1;

        /* Echoes are small writes: Nagle plus delayed ACKs would add 40 ms
         * stalls. */
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if ((ssl = SSL_new(l->s->ctx)) == NULL || SSL_set_fd(ssl, fd) != 1) {
            SSL_free(ssl);
            close(fd);
            continue;
        }
        /* We close the socket ourselves, to choose between FIN and RST. */
        SSL_set_accept_state(ssl);
        (void)ts_fdloop_add(l, ssl, fd, NULL, NULL, 0);
    }
}

int ts_server_tls_open(ts_server *s)
{
    ts_fdloop *l = calloc(1, sizeof(*l));

    if (l == NULL)
        return -1;
    l->s = s;
    l->on_listen_readable = tls_on_listen_readable;
    l->listen_fd = ts_net_bind_on(s->opt.bind_to, SOCK_STREAM, s->opt.port, 1,
                                  &s->port);
    if (l->listen_fd < 0 || ts_net_set_nonblock(l->listen_fd, 1) != 0) {
        if (l->listen_fd >= 0)
            close(l->listen_fd);
        free(l);
        return -1;
    }
    /* Partial writes let the echo queue hand over whatever fits. */
    SSL_CTX_set_mode(s->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    s->impl = l;
    return 0;
}

void ts_server_tls_run(ts_server *s)
{
    ts_fdloop *l = s->impl;

    ts_fdloop_run(l);
    free(l);
    s->impl = NULL;
}
