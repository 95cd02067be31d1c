/* The blocking-style calls. Each one is a nonblocking OpenSSL operation run
 * under the engine's mutex, retried whenever the assist (or another caller)
 * says something changed, until it succeeds, fails, times out or the
 * connection is closed. No OpenSSL call here ever blocks and no thread
 * sleeps holding the mutex. */
#include "assist/assist.h"
#include "core/core.h"
#include "core/self_poll.h"
#include "base/sigpipe.h"

#include <errno.h>

#include <openssl/err.h>

typedef struct io_args {
    unsigned char *buf;
    size_t len;
    size_t done;
} io_args;

static int call_closed(const conn_call *call)
{
    return conn_is_closed(call->c)
           || (call->also_closed != NULL && *call->also_closed);
}

/* Whether |call| writes where we ended writing ourselves (a shutdown, a
 * stream's conclude or reset): refused at once, whoever has the writers'
 * turn, as no attempt could change the answer. */
static int call_write_ended(const conn_call *call)
{
    if (call->kind != IO_WRITE)
        return 0;
    if (call->stream == NULL && call->c->uses_streams)
        return 0; /* no default stream to write: op_write() says INVALID */
    return call->c->shutting_down
           || (call->write_ended != NULL && *call->write_ended);
}

/* The guard (handle.h) for the handle |call| is made on: its stream, or
 * else its connection (a listener's accepts: the engine). */
static int call_enter(conn_call *call)
{
    if (call->stream != NULL)
        return tl_stream_enter(call->stream, call->fn, 0);
    return tl_conn_enter(call->c, call->fn, 0);
}

/* |rc|: how the call ends. */
static void conn_leave(conn_call *call, int rc)
{
    tickless_conn *e = call->c->engine;

    /* A call that got through is likely followed by more, which read the
     * socket themselves (QUIC calls tick): the assist leaves it to them
     * for a while (HANDOFF_NS). A call that timed out or failed leaves it
     * to the assist at once, the application now waiting for it; so does
     * any call on an application-driven pool, whose runner is the
     * application's own thread: there is no other thread to fight. */
    if (rc == 0 && tl_assist_has_thread(&e->link))
        tl_conn_hand_off(e, e->now());
    else
        e->driven_until_ns = 0;
    /* The call may have moved the deadline (a write queues data to send):
     * tell the assist before letting go. */
    tl_conn_publish(e);
    if (call->stream != NULL)
        tl_stream_exit(call->stream, 0);
    else
        tl_conn_exit(call->c, 0);
}

/* Sleeps until someone wakes |call->wq|, |deadline| passes
 * (TICKLESS_ERR_TIMEOUT) or the connection is closed. */
static int conn_wait(conn_call *call, unsigned want, uint64_t deadline)
{
    tickless_conn *e = call->c->engine;
    waitq *wq = call->wq;
    uint64_t gen = wq->gen;
    unsigned kind = call->kind;
    int rc = 0;

    if (e->proto != CONN_QUIC)
        e->io_want |= want; /* QUIC's socket interest is OpenSSL's own */
    tl_waitq_enter(e, wq, kind);
    tl_conn_publish(e);
    while (gen == wq->gen && !call_closed(call)) {
        /* Every release of the mutex must re-arm a tick the assist had to
         * skip while we held it, even a release inside a wait that woke
         * spuriously and sleeps again. */
        if (tl_assist_take_deferred(&e->link))
            tl_conn_publish(e);
        if (deadline == CLOCK_NEVER) {
            pthread_cond_wait(&wq->cv, &e->mu);
        } else {
            struct timespec ts = tl_clock_to_timespec(deadline);

            if (pthread_cond_timedwait(&wq->cv, &e->mu, &ts) == ETIMEDOUT) {
                rc = TICKLESS_ERR_TIMEOUT;
                break;
            }
        }
    }
    tl_waitq_leave(e, wq, kind);
    return rc;
}

/* OpenSSL wants to be called again (CONN_RETRY), and nothing will say
 * when: sleeps until CONN_RETRY_NS from now (or a wake-up: a close, a
 * tick). Returns nonzero only if |deadline| has passed. */
static int conn_pause(conn_call *call, uint64_t deadline)
{
    uint64_t soon = clock_add(tl_clock_now_ns(), CONN_RETRY_NS);

    if (soon < deadline) {
        (void)conn_wait(call, 0, soon);
        return 0;
    }
    return conn_wait(call, 0, deadline) != 0;
}

/* A lone caller polls the socket itself (no hop from the assist's thread
 * to this one); any other sleeps until woken. */
static int sleep_or_poll(conn_call *call, unsigned want, uint64_t deadline)
{
    int rc;

    if (tl_self_poll_eligible(call)) {
        rc = tl_self_poll_wait(call, want, deadline);
        if (rc != SELF_POLL_FAILED)
            return rc;
    }
    return conn_wait(call, want, deadline);
}

/* What the other callers' sleep depends on, taken before an attempt. */
typedef struct others_view {
    int watching;      /* someone sleeps: compare after the attempt */
    uint64_t rx;       /* engine_input() */
    int timer_due;     /* the engine's deadline had passed */
    int shutting_down; /* a shutdown had already begun */
} others_view;

/* Input the engine has taken off its socket so far: datagrams counted on
 * QUIC's network BIO, bytes read through the DTLS/TLS socket BIO. */
static uint64_t engine_input(tickless_conn *e)
{
    if (e->proto == CONN_QUIC)
        return rx_count_get(&e->rx);
    return BIO_number_read(SSL_get_rbio(e->ssl));
}

static void others_before(conn_call *call, others_view *v)
{
    tickless_conn *e = call->c->engine;

    v->watching = tl_engine_watched(e);
    if (!v->watching)
        return;
    v->rx = engine_input(e);
    v->timer_due = e->deadline_ns <= e->now();
    v->shutting_down = call->c->shutting_down;
}

/* Sleeping callers are woken by the assist, which sees the socket and the
 * timer. But one caller's attempt can change what another waits for behind
 * the assist's back, and then it must wake them itself:
 *  - a QUIC call ticks the engine (OpenSSL's implicit event mode), which
 *    drains the socket and may fire a due timer: the assist never sees
 *    either, and a reader would sleep until the next deadline; a DTLS/TLS
 *    call reads the socket too (a reader finishing the handshake takes
 *    the bytes a writer waits for);
 *  - a successful call can leave decrypted data that a sleeping reader of
 *    the same object wants (a read into a short buffer, a DTLS datagram
 *    holding several records) while the socket is empty;
 *  - a shutdown changes the connection's state for all its callers.
 * Waking only on these (never merely because an attempt ran) keeps two
 * sleepers from waking each other in a loop: each wake-up follows real
 * input, a fired timer, data left to read or the start of a shutdown. */
static void others_after(conn_call *call, const others_view *v, int rc)
{
    tickless_conn *c = call->c;
    tickless_conn *e = c->engine;

    if (!v->watching || !tl_engine_watched(e))
        return;
    if (engine_input(e) != v->rx
        || (v->timer_due && e->proto == CONN_QUIC
            && tl_ossl_timeout_ns(e->ssl, e->proto) != 0))
        tl_engine_wake_ready(e); /* the call's tick took input or fired */
    else if (e->proto == CONN_QUIC)
        tl_engine_wake_progress(e);
    else if (rc == 0 && call->wq->readers > 0
             && tl_ossl_readable(call->ssl, c->proto))
        tl_waitq_wake(call->wq);
    if (!v->shutting_down && c->shutting_down)
        tl_engine_wake_owned(e, c);
}

/* Whether |call|'s own object can make progress now. An OpenSSL call may
 * look for its data first and tick the engine after: the data it filed
 * then is only seen on a second look. So may a write refused for want of
 * the peer's credit take in the credit after, which no getter shows:
 * |took_input| (the attempt's tick read the socket) lets it look again.
 * QUIC only; any doubt answers 1. */
static int call_ready(conn_call *call, int took_input)
{
    int ready = 0;

    if (call->c->proto != CONN_QUIC)
        return 0;
    ERR_set_mark();
    if (call->wq->kind != WQ_IO)
        ready = tl_waitq_accept_ready(call->c->engine, call->wq);
    else if (call->kind == IO_READ)
        ready = tl_ossl_read_ready(call->ssl);
    else if (call->kind == IO_WRITE)
        ready = tl_ossl_write_ready(call->ssl, call->wq->write_room,
                                    took_input);
    ERR_pop_to_mark();
    return ready;
}

/* Concurrent writers of one object (a connection's default stream, or a
 * QUIC stream) take turns, a whole call each: a call's bytes then reach
 * the peer in one piece, and what *nwritten credits to it is exactly its
 * own, however often it had to wait. The turn is taken at the first
 * attempt and kept until the call returns; a writer that finds it taken
 * sleeps until it is given back (WAIT_TURN). */
#define WAIT_TURN 0x100

static int turn_take(conn_call *call)
{
    if (call->kind != IO_WRITE)
        return 1;
    if (call->wq->writer != NULL && call->wq->writer != call)
        return 0;
    call->wq->writer = call;
    return 1;
}

static void turn_give_back(conn_call *call)
{
    if (call->wq->writer != call)
        return;
    call->wq->writer = NULL;
    /* Writers asleep now wait for the turn (the holder is awake): the
     * next one's turn. Nobody else is woken for nothing. */
    if (call->wq->writers > 0)
        tl_waitq_wake(call->wq);
}

int tl_conn_run(conn_call *call, int timeout_ms, conn_op op, void *arg)
{
    tickless_conn *c = call->c;
    others_view others = { 0 };
    sigpipe_guard guard;
    uint64_t deadline;
    int timed_out = 0;
    int second_look = 0;
    int took_input = 0;
    int rc;

    if (timeout_ms < TICKLESS_FOREVER)
        return TICKLESS_ERR_INVALID;
    deadline = tl_clock_deadline_after_ms(timeout_ms);
    rc = call_enter(call);
    if (rc != 0)
        return rc;
    if (c->proto == CONN_TLS)
        tl_sigpipe_block(&guard); /* only stream sockets raise SIGPIPE */
    for (;;) {
        if (call_closed(call) || call_write_ended(call)) {
            rc = TICKLESS_ERR_CLOSED;
            break;
        }
        if (c->fatal) {
            rc = c->fatal;
            break;
        }
        if (turn_take(call)) {
            uint64_t rx = engine_input(c->engine);

            others_before(call, &others);
            rc = op(call, arg);
            took_input = engine_input(c->engine) != rx;
            others_after(call, &others, rc);
            /* The attempt may have finished a handshake or read what a
             * held write waited for: try it now, not at the next tick. */
            tl_conn_tx_step(c);
            if (rc == (int)IO_WRITE && c->proto == CONN_QUIC)
                call->wq->write_room = tl_ossl_write_room(call->ssl);
            if (rc <= 0)
                break;
        } else {
            rc = WAIT_TURN;
        }
        /* OpenSSL would block. If the object seems ready after all, look
         * again: once per wait, so it can never spin, and again after an
         * attempt whose own tick took input, since a tick reads at most
         * one batch of datagrams (OpenSSL's demux: 32) and what this one
         * read may be what the look before it was for (bounded by the
         * datagrams the socket brings). A last attempt after the timeout
         * has been made: data that arrived just in time is returned. */
        if (rc != WAIT_TURN && (!second_look || took_input)
            && call_ready(call, took_input)) {
            second_look = 1;
            continue;
        }
        second_look = 0;
        if (timeout_ms == 0 || timed_out) {
            rc = TICKLESS_ERR_TIMEOUT;
            break;
        }
        if (rc == WAIT_TURN)
            timed_out = conn_wait(call, 0, deadline) != 0;
        else if (rc == (int)CONN_RETRY)
            timed_out = conn_pause(call, deadline);
        else
            timed_out = sleep_or_poll(call, (unsigned)rc, deadline) != 0;
    }
    turn_give_back(call);
    if (c->proto == CONN_TLS)
        tl_sigpipe_restore(&guard);
    conn_leave(call, rc);
    return rc;
}

static int op_handshake(conn_call *call, void *arg)
{
    tickless_conn *c = call->c;
    int ret;

    (void)arg;
    ERR_clear_error();
    ret = SSL_do_handshake(c->ssl);
    if (ret == 1)
        return 0;
    ret = tl_conn_ssl_result(c, c->ssl, ret);
    /* A peer that closes during the handshake has not finished sending: it
     * went away. */
    if (ret == TICKLESS_ERR_EOF) {
        tl_conn_set_error(c, TICKLESS_ERR_PEER, SSL_ERROR_ZERO_RETURN,
                          "peer closed the connection during the handshake");
        tl_conn_make_fatal(c, ret = TICKLESS_ERR_PEER);
    }
    return ret;
}

static int op_read(conn_call *call, void *arg)
{
    tickless_conn *c = call->c;
    io_args *a = arg;
    size_t n = 0;

    if (c->uses_streams)
        return TICKLESS_ERR_INVALID; /* no default stream to read */
    if (c->read_eof)
        return TICKLESS_ERR_EOF;
    ERR_clear_error();
    if (SSL_read_ex(c->ssl, a->buf, a->len, &n)) {
        a->done = n;
        return 0;
    }
    return tl_conn_ssl_result(c, c->ssl, 0);
}

/* |rc| from a write attempt: writing on a connection the peer has torn
 * down is the peer's doing, not an end of stream. */
static int write_result(tickless_conn *c, int rc)
{
    if (rc == TICKLESS_ERR_EOF)
        tl_conn_make_fatal(c, rc = TICKLESS_ERR_PEER);
    return rc;
}

static int op_write(conn_call *call, void *arg)
{
    tickless_conn *c = call->c;
    io_args *a = arg;
    int rc;

    if (c->uses_streams)
        return TICKLESS_ERR_INVALID; /* no default stream to write */
    /* Bytes OpenSSL still holds go first: they were credited already. */
    rc = tl_conn_tx_flush(c);
    if (rc != 0)
        return write_result(c, rc);
    while (a->done < a->len) {
        size_t chunk = a->len - a->done;
        /* changes as it fills */
        size_t max = tl_ossl_max_write(c->ssl, c->proto);
        size_t n = 0;

        if (chunk > max)
            chunk = max;
        if (c->proto != CONN_QUIC && chunk > TX_HELD_MAX)
            chunk = TX_HELD_MAX; /* at most what tl_conn_tx_hold() can keep */
        ERR_clear_error();
        if (SSL_write_ex(c->ssl, a->buf + a->done, chunk, &n)) {
            a->done += n;
            continue;
        }
        rc = tl_conn_ssl_result(c, c->ssl, 0);
        /* A handshake still under way stopped the write before it
         * reached these bytes: nothing of them is held. Otherwise
         * OpenSSL may hold them in a record already: tickless repeats
         * them until they are taken, and they are this call's
         * (tx_held.h). */
        if (rc > 0 && c->proto != CONN_QUIC && SSL_is_init_finished(c->ssl)) {
            tl_conn_tx_hold(c, a->buf + a->done, chunk, (unsigned)rc);
            a->done += chunk;
            if (a->done == a->len)
                return 0; /* all of it is this call's: done */
        }
        return write_result(c, rc);
    }
    return 0;
}

static int op_shutdown(conn_call *call, void *arg)
{
    tickless_conn *c = call->c;
    int ret;

    (void)arg;
    ERR_clear_error();
#ifdef TICKLESS_HAVE_QUIC
    if (c->proto == CONN_QUIC) {
        /* Without a FIN the peer would see the connection close under its
         * reader instead of a clean end of stream. */
        if (!c->shutting_down && !c->uses_streams)
            (void)SSL_stream_conclude(c->ssl, 0);
        c->shutting_down = 1;
        ERR_clear_error();
        /* Nonblocking: 0 while the stream flushes and CONNECTION_CLOSE is
         * exchanged; the assist keeps ticking and wakes us. */
        ret = SSL_shutdown_ex(c->ssl, 0, NULL, 0);
        if (ret == 1)
            return 0;
        if (ret == 0)
            return (int)IO_READ;
        ret = tl_conn_ssl_result(c, c->ssl, ret);
        return ret == TICKLESS_ERR_PEER ? 0 : ret; /* already gone: done */
    }
#endif
    /* TLS/DTLS: 0 means our close_notify is out, which is all we wait for.
     * Before the handshake there is no session to close: nothing to send. */
    c->shutting_down = 1;
    if (!SSL_is_init_finished(c->ssl))
        return 0;
    /* Credited bytes OpenSSL still holds go before the close_notify. */
    ret = tl_conn_tx_flush(c);
    if (ret != 0)
        return ret == TICKLESS_ERR_EOF ? TICKLESS_ERR_PEER : ret;
    ret = SSL_shutdown(c->ssl);
    if (ret >= 0)
        return 0;
    ret = tl_conn_ssl_result(c, c->ssl, ret);
    return ret == TICKLESS_ERR_EOF ? 0 : ret;
}

static conn_call conn_call_of(tickless_conn *c, unsigned kind,
                              const char *fn)
{
    conn_call call;

    call.fn = fn;
    call.c = c;
    call.ssl = c->ssl;
    call.wq = &c->wq;
    call.also_closed = NULL;
    call.write_ended = NULL;
    call.stream = NULL;
    call.kind = kind;
    return call;
}

/* A call that is neither a read nor a write: |op| on the connection. */
static int conn_op_call(tickless_conn *c, conn_op op, int timeout_ms,
                        const char *fn)
{
    conn_call call;
    int rc = tl_conn_check(c, fn);

    if (rc != 0)
        return rc;
    call = conn_call_of(c, 0, fn);
    return tl_conn_run(&call, timeout_ms, op, NULL);
}

int tickless_conn_handshake(tickless_conn *c, int timeout_ms)
{
    return conn_op_call(c, op_handshake, timeout_ms, __func__);
}

/* A read or write of |len| bytes (|kind|: IO_READ or IO_WRITE), *ndone
 * the bytes done whatever the result. */
static int conn_io(tickless_conn *c, unsigned kind, unsigned char *buf,
                   size_t len, size_t *ndone, int timeout_ms, const char *fn)
{
    io_args a = { buf, len, 0 };
    conn_call call;
    int rc;

    rc = tl_io_args_check(buf, len, ndone);
    if (rc == 0)
        rc = tl_conn_check(c, fn);
    if (rc != 0)
        return rc;
    call = conn_call_of(c, kind, fn);
    rc = tl_conn_run(&call, timeout_ms, kind == IO_READ ? op_read : op_write,
                     &a);
    *ndone = a.done;
    return rc;
}

int tickless_conn_read(tickless_conn *c, void *buf, size_t len, size_t *nread,
                       int timeout_ms)
{
    return conn_io(c, IO_READ, buf, len, nread, timeout_ms, __func__);
}

int tickless_conn_write(tickless_conn *c, const void *buf, size_t len,
                        size_t *nwritten, int timeout_ms)
{
    return conn_io(c, IO_WRITE, (unsigned char *)buf, len, nwritten,
                   timeout_ms, __func__);
}

int tickless_conn_shutdown(tickless_conn *c, int timeout_ms)
{
    return conn_op_call(c, op_shutdown, timeout_ms, __func__);
}
