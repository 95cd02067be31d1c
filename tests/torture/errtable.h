/*
 * errtable: the error codes each public function may return, copied by
 * hand from the "Returns:" footers of include/tickless/tickless.h.
 *
 * Written out rather than parsed, on purpose: a header change that adds a
 * code to a function must be a deliberate change here too, and the table
 * is what the harness holds the library to.
 */
#ifndef TORTURE_ERRTABLE_H
#define TORTURE_ERRTABLE_H

namespace torture {

enum class Fn {
    CONN_NEW, HANDSHAKE, READ, WRITE, SHUTDOWN, LOCK, STATS, STATS_RESET, ERROR,
    STREAM_OPEN, STREAM_ACCEPT, STREAM_READ, STREAM_WRITE, STREAM_CONCLUDE,
    STREAM_RESET, STREAM_PEER_ERROR, POOL_NEW, POOL_FREE, POOL_RUN, POOL_FD,
    LISTENER_NEW, LISTENER_NEW_DTLS, LISTENER_ACCEPT, LISTENER_ACCEPT_STREAM,
    LISTEN, LISTENER_PORT, COUNT_
};

const char *fn_name(Fn f);
/* 1 if |rc| is 0 (or, where documented, a count >= 0) or a code the header
 * lists for |f|. */
bool documented(Fn f, int rc);
/* "TICKLESS_ERR_TIMEOUT" or the number. */
const char *rc_name(int rc);

} // namespace torture

#endif
