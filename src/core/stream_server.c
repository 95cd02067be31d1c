/* The listener's stream server: tickless_listener_accept_stream() hands
 * blocking workers the next incoming stream of any connection, so that N
 * workers serve M connections x K streams with no stream waiting for
 * another to finish.
 *
 * The call adopts every connection the listener has queued (a "served"
 * member: the listener, not the application, holds its handle) and gives
 * out the streams their peers open, the connection served least recently
 * first, so that one busy client cannot starve the others. A served
 * connection that has ended (closed by the peer, idle timeout) is given
 * back once its last stream is closed; the rest go with the listener.
 *
 * Each call looks at every served connection: O(connections). Everything
 * here runs under the listener engine's mutex, which its members share. */
#include "core/core.h"

#include <openssl/err.h>

#ifdef TICKLESS_HAVE_QUIC_SERVER

/* Takes every connection the listener has queued into service. One that
 * cannot be taken (no memory) is freed: its peer sees a close. */
static void adopt_queued(tickless_conn *e)
{
    tickless_conn *m;
    SSL *ssl;

    while ((ssl = SSL_accept_connection(e->ssl,
                                        SSL_ACCEPT_CONNECTION_NO_BLOCK))
           != NULL) {
        if (tl_conn_new_member(ssl, e, &m) != 0) {
            SSL_free(ssl);
            continue;
        }
        m->served = 1;
        m->served_turn = e->serve_turns; /* behind those that waited */
        if (tl_conn_use_streams(m) != 0)
            tl_conn_release_served(m); /* cannot happen to a fresh one */
    }
    ERR_clear_error();
}

int tl_serve_next_stream(conn_call *call, void *arg)
{
    tickless_stream **out = arg;
    tickless_conn *e = call->c;
    tickless_conn *m, *next, *best = NULL;
    SSL *ssl;
    int rc;

    adopt_queued(e);
    for (m = e->members; m != NULL; m = next) {
        next = m->member_next; /* releasing |m| may unlink it */
        if (!m->served || m->closed)
            continue;
        if (tl_ossl_streams_queued(m->ssl)) {
            if (best == NULL || m->served_turn < best->served_turn)
                best = m;
        } else if (conn_served_finished(m)) {
            tl_conn_release_served(m);
        }
    }
    ERR_clear_error();
    if (best == NULL)
        return (int)IO_READ;
    ssl = SSL_accept_stream(best->ssl, SSL_ACCEPT_STREAM_NO_BLOCK);
    if (ssl == NULL) {
        ERR_clear_error();
        return (int)IO_READ;
    }
    best->served_turn = ++e->serve_turns;
    tl_engine_kick(e); /* the peer may now open another */
    rc = tl_stream_wrap(best, ssl, out);
    if (rc != 0)
        SSL_free(ssl); /* the peer sees the stream reset */
    return rc;
}

void tl_serve_release_all(tickless_conn *e)
{
    tickless_conn *m, *next;

    for (m = e->members; m != NULL; m = next) {
        next = m->member_next;
        if (m->served && !m->closed)
            tl_conn_release_served(m);
    }
}

#else /* no QUIC server: nothing is ever served */

int tl_serve_next_stream(conn_call *call, void *arg)
{
    (void)call;
    (void)arg;
    return TICKLESS_ERR_UNSUPPORTED;
}

void tl_serve_release_all(tickless_conn *e)
{
    (void)e;
}

#endif
