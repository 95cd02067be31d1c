/* errtable: see errtable.h. Each row quotes its footer's codes. */
#include "errtable.h"

#include <tickless/tickless.h>

#include <initializer_list>

namespace torture {

namespace {

struct Row {
    Fn fn;
    const char *name;
    bool counts;                 /* a return >= 0 is a count, not just 0 */
    std::initializer_list<int> codes;
};

#define E(x) TICKLESS_ERR_##x
const Row kRows[] = {
    {Fn::CONN_NEW, "tickless_conn_new", false,
     {E(INVALID), E(BUSY), E(UNSUPPORTED), E(NOMEM), E(SYS), E(CLOSED)}},
    {Fn::HANDSHAKE, "tickless_conn_handshake", false,
     {E(INVALID), E(TIMEOUT), E(CLOSED), E(PEER), E(SSL), E(SYS)}},
    {Fn::READ, "tickless_conn_read", false,
     {E(EOF), E(INVALID), E(TIMEOUT), E(CLOSED), E(PEER), E(SSL), E(SYS)}},
    {Fn::WRITE, "tickless_conn_write", false,
     {E(INVALID), E(TIMEOUT), E(CLOSED), E(PEER), E(SSL), E(SYS)}},
    {Fn::SHUTDOWN, "tickless_conn_shutdown", false,
     {E(INVALID), E(TIMEOUT), E(CLOSED), E(PEER), E(SSL), E(SYS)}},
    /* Returns the SSL object or NULL (checked in ops.cc); 0 stands for it. */
    {Fn::LOCK, "tickless_conn_lock", false, {}},
    {Fn::STATS, "tickless_conn_stats", false, {E(INVALID)}},
    {Fn::STATS_RESET, "tickless_conn_stats_reset", false, {E(INVALID)}},
    {Fn::ERROR, "tickless_conn_error", false, {E(INVALID)}},
    {Fn::STREAM_OPEN, "tickless_stream_open", false,
     {E(INVALID), E(UNSUPPORTED), E(TIMEOUT), E(CLOSED), E(PEER), E(SSL),
      E(NOMEM), E(FORKED)}},
    /* "Returns: as tickless_stream_open()" */
    {Fn::STREAM_ACCEPT, "tickless_stream_accept", false,
     {E(INVALID), E(UNSUPPORTED), E(TIMEOUT), E(CLOSED), E(PEER), E(SSL),
      E(NOMEM), E(FORKED)}},
    {Fn::STREAM_READ, "tickless_stream_read", false,
     {E(INVALID), E(TIMEOUT), E(EOF), E(CLOSED), E(STREAM_RESET), E(PEER),
      E(SSL), E(UNSUPPORTED), E(FORKED)}},
    {Fn::STREAM_WRITE, "tickless_stream_write", false,
     {E(INVALID), E(TIMEOUT), E(EOF), E(CLOSED), E(STREAM_RESET), E(PEER),
      E(SSL), E(UNSUPPORTED), E(FORKED)}},
    {Fn::STREAM_CONCLUDE, "tickless_stream_conclude", false,
     {E(INVALID), E(CLOSED), E(STREAM_RESET), E(PEER), E(SSL),
      E(UNSUPPORTED), E(FORKED)}},
    {Fn::STREAM_RESET, "tickless_stream_reset", false,
     {E(INVALID), E(CLOSED), E(STREAM_RESET), E(PEER), E(SSL),
      E(UNSUPPORTED), E(FORKED)}},
    /* 1 with *app_error set, or 0 */
    {Fn::STREAM_PEER_ERROR, "tickless_stream_peer_error", true,
     {E(INVALID), E(FORKED), E(CLOSED)}},
    {Fn::POOL_NEW, "tickless_pool_new", false,
     {E(INVALID), E(NOMEM), E(SYS)}},
    {Fn::POOL_FREE, "tickless_pool_free", false, {E(INVALID), E(BUSY)}},
    {Fn::POOL_RUN, "tickless_pool_run", true,
     {E(INVALID), E(BUSY), E(SYS)}},
    {Fn::POOL_FD, "tickless_pool_fd", true, {E(INVALID)}},
    {Fn::LISTENER_NEW, "tickless_listener_new", false,
     {E(INVALID), E(UNSUPPORTED), E(BUSY), E(SSL), E(NOMEM), E(SYS)}},
    {Fn::LISTENER_NEW_DTLS, "tickless_listener_new_dtls", false,
     {E(INVALID), E(NOMEM), E(SYS), E(SSL)}},
    /* "DTLS also TICKLESS_ERR_SYS ... or TICKLESS_ERR_SSL": srv_dtls.cc
     * allows those two only on a DTLS listener. */
    {Fn::LISTENER_ACCEPT, "tickless_listener_accept", false,
     {E(INVALID), E(TIMEOUT), E(CLOSED), E(UNSUPPORTED), E(NOMEM), E(SYS),
      E(SSL)}},
    {Fn::LISTENER_ACCEPT_STREAM, "tickless_listener_accept_stream", false,
     {E(INVALID), E(TIMEOUT), E(CLOSED), E(UNSUPPORTED), E(NOMEM)}},
    {Fn::LISTEN, "tickless_listen", false,
     {E(INVALID), E(NOT_FOUND), E(UNSUPPORTED), E(SYS), E(SSL), E(NOMEM)}},
    /* the port (a count, 1-65535) */
    {Fn::LISTENER_PORT, "tickless_listener_port", true,
     {E(INVALID), E(SYS)}},
};
#undef E

const Row *row(Fn f)
{
    for (const Row &r : kRows)
        if (r.fn == f)
            return &r;
    return nullptr;
}

} // namespace

const char *fn_name(Fn f)
{
    const Row *r = row(f);
    return r ? r->name : "?";
}

bool documented(Fn f, int rc)
{
    const Row *r = row(f);
    if (r == nullptr)
        return false;
    if (rc == 0 || (r->counts && rc > 0))
        return true;
    for (int c : r->codes)
        if (c == rc)
            return true;
    return false;
}

const char *rc_name(int rc)
{
    if (rc >= 0)
        return rc == 0 ? "0" : "count";
    return tickless_err_name(rc);
}

} // namespace torture
