/* tickless_stream: one QUIC stream of a connection, used with blocking
 * calls from any thread. A stream shares its connection's engine (mutex,
 * assist, deadline) but sleeps on a wait queue of its own, so a thread
 * blocked on one stream is woken only when that stream can move. */
#include "base/alloc.h"
#include "core/core.h"

#include <stddef.h>

#include <openssl/err.h>

struct tickless_stream {
    handle h;            /* live until tickless_stream_close() */
    atomic_uint refs;    /* the handle + calls in flight; never raised
                            from zero again (tl_ref_take_live()) */
    atomic_int close_claimed; /* tickless_stream_close() has begun */
    tickless_conn *conn; /* a reference is held */
    SSL *ssl;            /* the QUIC stream object; owned */
    waitq wq;
    int closed;          /* tickless_stream_close() called (engine mu) */
    int write_ended;     /* we concluded or reset its sending part
                            (engine mu): later writes are refused, and
                            a reset of it is ours, not the peer's */
};

typedef struct stream_io {
    tickless_stream *s;
    unsigned char *buf;
    size_t len;
    size_t done;
} stream_io;

static void stream_unref(tickless_stream *s)
{
    tickless_conn *c = s->conn;
    int locked;

    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    /* The engine may be ticking: free the OpenSSL object under its lock,
     * or this thread's own lock section's (HANDLE_HELD). Not entered
     * (handle.h): the handle is dead, and the stream's reference on its
     * connection keeps the mutex alive. */
    locked = tl_handle_lock(conn_mu(c), HANDLE_MAY_HOLD);
    SSL_free(s->ssl);
    tl_engine_kick(c->engine); /* credit, RESET_STREAM/STOP_SENDING */
    if (locked == 0)
        tl_conn_unlock_mu(c);
    tl_waitq_destroy(&s->wq);
    tl_handle_release(s);
    tl_conn_unref(c);
}

/* Step 1 of the guard alone (handle.h): 0, or TICKLESS_ERR_INVALID (NULL,
 * closed, not a stream) or TICKLESS_ERR_FORKED. */
static int stream_check(const tickless_stream *s, const char *fn)
{
    return tl_handle_check(s != NULL ? &s->h : NULL, HANDLE_STREAM, fn);
}

#ifdef TICKLESS_HAVE_QUIC

/* A stream as the guard sees it (handle.h). */
static atomic_uint *stream_refs(void *s)
{
    return &((tickless_stream *)s)->refs;
}

static void stream_unref_obj(void *s)
{
    stream_unref(s);
}

static pthread_mutex_t *stream_mu(void *s)
{
    return conn_mu(((tickless_stream *)s)->conn);
}

static int stream_closed(void *obj)
{
    tickless_stream *s = obj;

    return s->closed || conn_is_closed(s->conn);
}

static void stream_unlock(void *s)
{
    tl_conn_unlock_mu(((tickless_stream *)s)->conn);
}

_Static_assert(offsetof(tickless_stream, h) == 0, "the handle comes first");

static const handle_class stream_class = {
    stream_refs, stream_unref_obj, stream_mu, stream_closed, stream_unlock
};

/* The first stream call turns the connection into a stream container: no
 * default stream, incoming streams queued for tickless_stream_accept().
 * Caller holds the engine mutex. */
int tl_conn_use_streams(tickless_conn *c)
{
    if (c->uses_streams)
        return 0;
    ERR_clear_error();
    if (!SSL_set_default_stream_mode(c->ssl, SSL_DEFAULT_STREAM_MODE_NONE)) {
        /* Too late: tickless_conn_read/write created a default stream. */
        ERR_clear_error();
        return TICKLESS_ERR_INVALID;
    }
    if (!SSL_set_incoming_stream_policy(c->ssl,
                                        SSL_INCOMING_STREAM_POLICY_ACCEPT, 0)) {
        ERR_clear_error();
        return TICKLESS_ERR_SSL;
    }
    c->uses_streams = 1;
    return 0;
}

int tl_stream_wrap(tickless_conn *c, SSL *ssl, tickless_stream **out)
{
    tickless_stream *s = tl_calloc(1, sizeof(*s));
    int rc;

    if (s == NULL)
        return TICKLESS_ERR_NOMEM;
    rc = tl_waitq_init(&s->wq, WQ_IO, ssl, c);
    if (rc != 0) {
        tl_free(s);
        return rc;
    }
    tl_handle_init(&s->h, HANDLE_STREAM, &stream_class);
    atomic_init(&s->refs, 1);
    atomic_init(&s->close_claimed, 0);
    s->conn = c;
    s->ssl = ssl;
    tl_conn_ref(c);
    c->open_streams++;
    *out = s;
    return 0;
}

/* The peer ended this stream's direction (|reading|: RESET_STREAM;
 * writing: STOP_SENDING). This stream only: the connection goes on,
 * nothing is sticky. */
static int peer_ended(tickless_conn *c, int reading)
{
    ERR_clear_error();
    tl_conn_set_error(c, TICKLESS_ERR_STREAM_RESET, SSL_ERROR_SSL,
                      reading ? "the peer reset the stream (RESET_STREAM)"
                           : "the peer stopped the stream (STOP_SENDING)");
    return TICKLESS_ERR_STREAM_RESET;
}

/* What the stream's state says about a failed call on |s| in that
 * direction (|reading|, or writing): a TICKLESS_ERR_* code, or 0 if it
 * is fine and the connection has the answer. */
static int stream_state_result(tickless_conn *c, tickless_stream *s,
                               int reading)
{
    int state = reading ? SSL_get_stream_read_state(s->ssl)
                        : SSL_get_stream_write_state(s->ssl);

    switch (state) {
    case SSL_STREAM_STATE_RESET_REMOTE:
        return peer_ended(c, reading);
    case SSL_STREAM_STATE_RESET_LOCAL:
    case SSL_STREAM_STATE_FINISHED:
        /* A sending part reset that we did not ask for is OpenSSL's
         * answer to the peer's STOP_SENDING. */
        if (!reading && !s->write_ended)
            return peer_ended(c, reading);
        ERR_clear_error();
        return TICKLESS_ERR_CLOSED; /* we ended this direction ourselves */
    case SSL_STREAM_STATE_WRONG_DIR:
        ERR_clear_error();
        return TICKLESS_ERR_INVALID;
    default:
        return 0; /* the connection itself has the answer */
    }
}

/* OpenSSL's newest error when it is about this stream alone (finished,
 * reset), whatever state getter lags behind: its SSL_R_* reason; 0 when it
 * is the connection's. */
static int stream_level_reason(void)
{
    unsigned long e = ERR_peek_last_error();

    if (ERR_GET_LIB(e) != ERR_LIB_SSL)
        return 0;
    switch (ERR_GET_REASON(e)) {
#ifdef SSL_R_STREAM_FINISHED
    case SSL_R_STREAM_FINISHED:
#endif
#ifdef SSL_R_STREAM_RESET
    case SSL_R_STREAM_RESET:
#endif
#ifdef SSL_R_STREAM_SEND_ONLY
    case SSL_R_STREAM_SEND_ONLY:
#endif
#ifdef SSL_R_STREAM_RECV_ONLY
    case SSL_R_STREAM_RECV_ONLY:
#endif
        return ERR_GET_REASON(e);
    default:
        return 0;
    }
}

/* The answer to a call in that direction (|reading|, or writing) that
 * OpenSSL refused for stream-level |reason|. A reset part is the peer's
 * doing (its RESET_STREAM on what we receive, its STOP_SENDING answered on
 * what we send) unless we reset our sending part ourselves: the state
 * getters say so only while the connection lives, OpenSSL's error always.
 * The rest (finished, wrong direction) we did. */
static int stream_level_result(tickless_conn *c, tickless_stream *s,
                               int reason, int reading)
{
#ifdef SSL_R_STREAM_RESET
    if (reason == SSL_R_STREAM_RESET && (reading || !s->write_ended))
        return peer_ended(c, reading);
#else
    (void)c;
    (void)s;
    (void)reading;
#endif
    (void)reason;
    ERR_clear_error();
    return TICKLESS_ERR_CLOSED;
}

/* Why a stream call on |s| failed. Stream-level trouble (the peer reset or
 * stopped this stream, or we ended it) ends only this stream; a
 * connection-level failure is recorded on the connection and made sticky
 * there. */
static int stream_result(tickless_conn *c, tickless_stream *s, int ret,
                         int reading)
{
    SSL *ssl = s->ssl;
    int state, reason;

    switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        return (int)IO_READ;
    case SSL_ERROR_WANT_WRITE:
        return (int)IO_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return TICKLESS_ERR_EOF;
    default:
        break;
    }
    state = stream_state_result(c, s, reading);
    if (state != 0)
        return state;
    reason = stream_level_reason();
    if (reason != 0)
        return stream_level_result(c, s, reason, reading);
    return tl_conn_ssl_result(c, ssl, ret);
}

/* A failed call that is not I/O (conclude, reset). SSL_get_error() would
 * report the object's last I/O result instead, possibly a stale
 * WANT_READ from another thread's read, and such a call never waits:
 * the stream's state says why, or else the connection's. */
static int stream_op_failed(tickless_conn *c, tickless_stream *s)
{
    int code = stream_state_result(c, s, 0);
    int reason;

    if (code != 0)
        return code;
    reason = stream_level_reason();
    if (reason != 0)
        return stream_level_result(c, s, reason, 0);
    return tl_conn_ssl_error(c, SSL_ERROR_SSL, 0);
}

static int op_stream_read(conn_call *call, void *arg)
{
    stream_io *io = arg;
    size_t n = 0;

    ERR_clear_error();
    if (SSL_read_ex(call->ssl, io->buf, io->len, &n)) {
        io->done = n;
        return 0;
    }
    return stream_result(call->c, call->stream, 0, 1);
}

static int op_stream_write(conn_call *call, void *arg)
{
    stream_io *io = arg;

    /* After a shutdown, our conclude or our reset, tl_conn_run() refuses
     * the write before it gets here. */
    while (io->done < io->len) {
        size_t chunk = io->len - io->done;
        size_t max = tl_ossl_max_write(call->ssl, CONN_QUIC);
        size_t n = 0;

        if (chunk > max)
            chunk = max; /* see tl_ossl_max_write() */
        ERR_clear_error();
        if (SSL_write_ex(call->ssl, io->buf + io->done, chunk, &n)) {
            io->done += n;
            continue;
        }
        return stream_result(call->c, call->stream, 0, 0);
    }
    return 0;
}

typedef struct open_args {
    int flags;
    tickless_stream **out;
} open_args;

static int op_open(conn_call *call, void *arg)
{
    open_args *a = arg;
    tickless_conn *c = call->c;
    uint64_t flags = SSL_STREAM_FLAG_NO_BLOCK;
    unsigned long e;
    SSL *ssl;
    int rc = tl_conn_use_streams(c);

    if (rc != 0)
        return rc;
    ERR_clear_error();
    if (!SSL_is_init_finished(c->ssl)) {
        int ret = SSL_do_handshake(c->ssl);

        if (ret != 1)
            return tl_conn_ssl_result(c, c->ssl, ret);
    }
    if (a->flags & TICKLESS_STREAM_UNI)
        flags |= SSL_STREAM_FLAG_UNI;
    ssl = SSL_new_stream(c->ssl, flags);
    if (ssl == NULL) {
        rc = tl_conn_quic_ended(c);
        if (rc != 0) {
            ERR_clear_error();
            return rc;
        }
        e = ERR_peek_last_error();
        if (ERR_GET_LIB(e) == ERR_LIB_SSL
            && ERR_GET_REASON(e) == SSL_R_STREAM_COUNT_LIMITED) {
            ERR_clear_error();
            return (int)IO_READ; /* until the peer allows more streams */
        }
        /* Not I/O: SSL_get_error() would report the last I/O call's
         * result, so the queue speaks for itself. Not sticky. */
        {
            char msg[200];

            ERR_error_string_n(e, msg, sizeof(msg));
            ERR_clear_error();
            tl_conn_set_error(c, TICKLESS_ERR_SSL, SSL_ERROR_SSL, msg);
        }
        return TICKLESS_ERR_SSL;
    }
    rc = tl_stream_wrap(c, ssl, a->out);
    if (rc != 0)
        SSL_free(ssl);
    return rc;
}

static int op_accept(conn_call *call, void *arg)
{
    tickless_stream **out = arg;
    tickless_conn *c = call->c;
    SSL *ssl;
    int rc = tl_conn_use_streams(c);

    if (rc != 0)
        return rc;
    ERR_clear_error();
    ssl = SSL_accept_stream(c->ssl, SSL_ACCEPT_STREAM_NO_BLOCK);
    if (ssl == NULL) {
        ERR_clear_error();
        rc = tl_conn_quic_ended(c);
        if (rc != 0)
            return rc;
        if (!SSL_is_init_finished(c->ssl)) {
            int ret = SSL_do_handshake(c->ssl);

            if (ret != 1)
                return tl_conn_ssl_result(c, c->ssl, ret);
        }
        return (int)IO_READ;
    }
    tl_engine_kick(c->engine); /* the peer may now open another */
    rc = tl_stream_wrap(c, ssl, out);
    if (rc != 0)
        SSL_free(ssl);
    return rc;
}

/* Runs |op| on the connection |c| (open, accept) after switching it to
 * streams; |fn| is the public function. */
static int conn_stream_call(tickless_conn *c, waitq *wq, conn_op op, void *arg,
                            int timeout_ms, const char *fn)
{
    conn_call call;

    /* One entry for the whole call (tl_conn_run()): the op makes the
     * connection a stream container first. Entering twice, once for that
     * and once for the call, let a close complete in between, and the
     * call then met a handle given back (TICKLESS_ERR_INVALID) where the
     * header promises TICKLESS_ERR_CLOSED (CloseRace.CloserQueuedAhead...
     * StreamOpen, once under ASan). */
    call.fn = fn;
    call.c = c;
    call.ssl = c->ssl;
    call.wq = wq;
    call.also_closed = NULL;
    call.write_ended = NULL;
    call.kind = 0;
    call.stream = NULL;
    return tl_conn_run(&call, timeout_ms, op, arg);
}

/* Runs |op| on stream |s|: tl_conn_run() enters the stream. */
static int stream_call(tickless_stream *s, unsigned kind, conn_op op,
                       void *arg, int timeout_ms, const char *fn)
{
    conn_call call;

    call.fn = fn;
    call.c = s->conn;
    call.ssl = s->ssl;
    call.wq = &s->wq;
    call.also_closed = &s->closed;
    call.write_ended = &s->write_ended;
    call.kind = kind;
    call.stream = s;
    return tl_conn_run(&call, timeout_ms, op, arg);
}

#endif /* TICKLESS_HAVE_QUIC */

/* What opening and accepting a stream check first: |out| (cleared), the
 * connection, and that it is QUIC. */
static int stream_begin(tickless_conn *c, tickless_stream **out,
                        int bad_flags, const char *fn)
{
    int rc;

    if (out != NULL)
        *out = NULL;
    if (out == NULL || bad_flags)
        return TICKLESS_ERR_INVALID;
    rc = tl_conn_check(c, fn);
    if (rc != 0)
        return rc;
    return c->proto == CONN_QUIC ? 0 : TICKLESS_ERR_UNSUPPORTED;
}

int tickless_stream_open(tickless_conn *c, int flags, tickless_stream **out,
                         int timeout_ms)
{
    int rc = stream_begin(c, out, (flags & ~TICKLESS_STREAM_UNI) != 0,
                          __func__);

    if (rc != 0)
        return rc;
#ifdef TICKLESS_HAVE_QUIC
    {
        open_args a = { flags, out };

        return conn_stream_call(c, &c->wq, op_open, &a, timeout_ms,
                                __func__);
    }
#else
    (void)timeout_ms;
    return TICKLESS_ERR_UNSUPPORTED;
#endif
}

int tickless_stream_accept(tickless_conn *c, tickless_stream **out,
                           int timeout_ms)
{
    int rc = stream_begin(c, out, 0, __func__);

    if (rc != 0)
        return rc;
#ifdef TICKLESS_HAVE_QUIC
    return conn_stream_call(c, &c->accept_wq, op_accept, out, timeout_ms,
                            __func__);
#else
    (void)timeout_ms;
    return TICKLESS_ERR_UNSUPPORTED;
#endif
}

/* A read or write of |len| bytes (|kind|: IO_READ or IO_WRITE), *ndone
 * the bytes done whatever the result. */
static int stream_io_call(tickless_stream *s, unsigned kind,
                          unsigned char *buf, size_t len, size_t *ndone,
                          int timeout_ms, const char *fn)
{
    stream_io io = { s, buf, len, 0 };
    int rc;

    rc = tl_io_args_check(buf, len, ndone);
    if (rc == 0)
        rc = stream_check(s, fn);
    if (rc != 0)
        return rc;
#ifdef TICKLESS_HAVE_QUIC
    rc = stream_call(s, kind,
                     kind == IO_READ ? op_stream_read : op_stream_write, &io,
                     timeout_ms, fn);
#else
    (void)kind;
    (void)timeout_ms;
    rc = TICKLESS_ERR_UNSUPPORTED;
#endif
    *ndone = io.done;
    return rc;
}

int tickless_stream_read(tickless_stream *s, void *buf, size_t len,
                         size_t *nread, int timeout_ms)
{
    return stream_io_call(s, IO_READ, buf, len, nread, timeout_ms, __func__);
}

int tickless_stream_write(tickless_stream *s, const void *buf, size_t len,
                          size_t *nwritten, int timeout_ms)
{
    return stream_io_call(s, IO_WRITE, (unsigned char *)buf, len, nwritten,
                          timeout_ms, __func__);
}

#ifdef TICKLESS_HAVE_QUIC
/* After tickless_conn_shutdown() the connection is closed for writing.
 * OpenSSL answers a stream's write, conclude or reset with an error
 * (taken for the connection's failure) or with WANT_READ (a write waits
 * out its timeout, a call that never waits says TIMEOUT): the answer is
 * TICKLESS_ERR_CLOSED, as for tickless_conn_write(). */
static int shut_for_writing(conn_call *call)
{
    return call->c->shutting_down || call->stream->write_ended;
}

/* We ended the stream's sending part. Its writers asleep (on the peer's
 * credit, or for their turn) are refused now, not at their timeout. */
static void end_writing(conn_call *call)
{
    call->stream->write_ended = 1;
    if (call->wq->writers > 0)
        tl_waitq_wake(call->wq);
}

static int op_conclude(conn_call *call, void *arg)
{
    (void)arg;
    if (shut_for_writing(call))
        return TICKLESS_ERR_CLOSED;
    ERR_clear_error();
    if (SSL_stream_conclude(call->ssl, 0)) {
        end_writing(call);
        return 0;
    }
    return stream_op_failed(call->c, call->stream);
}

static int op_reset(conn_call *call, void *arg)
{
    SSL_STREAM_RESET_ARGS args;

    args.quic_error_code = *(uint64_t *)arg;
    if (shut_for_writing(call))
        return TICKLESS_ERR_CLOSED;
    ERR_clear_error();
    if (SSL_stream_reset(call->ssl, &args, sizeof(args))) {
        end_writing(call);
        tl_engine_kick(call->c->engine);
        return 0;
    }
    return stream_op_failed(call->c, call->stream);
}
#endif

int tickless_stream_conclude(tickless_stream *s)
{
    int rc = stream_check(s, __func__);

    if (rc != 0)
        return rc;
#ifdef TICKLESS_HAVE_QUIC
    /* One attempt: a FIN is queued, never waited for. */
    return stream_call(s, 0, op_conclude, NULL, 0, __func__);
#else
    return TICKLESS_ERR_UNSUPPORTED;
#endif
}

int tickless_stream_reset(tickless_stream *s, uint64_t app_error)
{
    int rc = stream_check(s, __func__);

    if (rc != 0)
        return rc;
#ifdef TICKLESS_HAVE_QUIC
    return stream_call(s, 0, op_reset, &app_error, 0, __func__);
#else
    (void)app_error;
    return TICKLESS_ERR_UNSUPPORTED;
#endif
}

int tickless_stream_peer_error(tickless_stream *s, uint64_t *app_error)
{
#ifdef TICKLESS_HAVE_QUIC
    int entered;
    int rc = 0;
#endif

    if (app_error != NULL)
        *app_error = 0;
    if (app_error == NULL)
        return TICKLESS_ERR_INVALID;
#ifdef TICKLESS_HAVE_QUIC
    /* A state reader: works inside a lock section on the connection, and
     * on a stream or connection closed while it waited (HANDLE_CLOSED_OK:
     * their codes are still there, or gone with the connection). A stream
     * whose last reference a close gave back first is
     * TICKLESS_ERR_CLOSED. */
    entered = tl_stream_enter(s, __func__, HANDLE_MAY_HOLD | HANDLE_CLOSED_OK);
    if (entered < 0)
        return entered;
    /* 1: the peer reset (read side) or stopped (write side) the stream;
     * 0 or -1 (not applicable to this stream's direction): it did not. A
     * reset of the sending part that we made ourselves has a code too:
     * not the peer's. */
    if (SSL_get_stream_read_state(s->ssl) == SSL_STREAM_STATE_RESET_REMOTE
        && SSL_get_stream_read_error_code(s->ssl, app_error) == 1)
        rc = 1;
    else if (!s->write_ended
             && SSL_get_stream_write_error_code(s->ssl, app_error) == 1)
        rc = 1;
    else
        *app_error = 0;
    ERR_clear_error();
    tl_stream_exit(s, entered);
    return rc;
#else
    return stream_check(s, __func__);
#endif
}

uint64_t tickless_stream_id(tickless_stream *s)
{
#ifdef TICKLESS_HAVE_QUIC
    uint64_t id;

    if (stream_check(s, __func__) != 0 || !tl_ref_take_live(&s->refs))
        return UINT64_MAX;
    id = SSL_get_stream_id(s->ssl); /* constant: no lock needed */
    stream_unref(s);
    return id;
#else
    (void)s;
    return UINT64_MAX;
#endif
}

void tickless_stream_close(tickless_stream *s)
{
    /* HANDLE_HELD: inside a lock section on the connection, which goes
     * on, its lock kept. */
    int entered =
        tl_stream_enter(s, __func__, HANDLE_MAY_HOLD | HANDLE_CLOSED_OK);

    if (entered < 0)
        return;
    /* Two closes racing: the handle's reference is given back once. The
     * loser gives back only the guard's. */
    if (atomic_exchange(&s->close_claimed, 1)) {
        tl_stream_exit(s, entered);
        return;
    }
    s->closed = 1;
    tl_waitq_wake(&s->wq);
    s->conn->open_streams--;
    if (s->conn->served && !s->conn->closed && conn_served_finished(s->conn))
        tl_conn_release_served(s->conn); /* the listener's handle on it */
    tl_stream_exit(s, entered); /* the handle's reference keeps |s| */
    tl_handle_kill(&s->h);
    stream_unref(s);
}
