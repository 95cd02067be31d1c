/* fz_api_ops: the calls of fuzz_api_sequence, each checked against what
 * tickless.h documents for it. See fz_api.h for the rules the harness
 * keeps so that any surprise is tickless's. */
#include "fz_api.h"

#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>

#include "ts_net.h"

enum {
    OP_CONN_NEW, OP_HANDSHAKE, OP_READ, OP_WRITE, OP_SHUTDOWN, OP_CLOSE,
    OP_LOCK, OP_STATS, OP_STATS_RESET, OP_ERROR,
    OP_POOL_NEW, OP_POOL_FREE, OP_POOL_STATS, OP_POOL_STATS_RESET,
    OP_POOL_FD, OP_POOL_RUN,
    OP_LISTENER_NEW, OP_ACCEPT, OP_LISTENER_CLOSE, OP_LISTENER_FREE,
    OP_BAD_ARGS, OP_SET_LOG, OP_INFO, OP_SLEEP, OP_SERVER_ABORT,
    OP_STREAM_OPEN, OP_STREAM_ACCEPT, OP_STREAM_READ, OP_STREAM_WRITE,
    OP_STREAM_END, OP_STREAM_INFO, OP_STREAM_CLOSE,
    OP_COUNT
};

#define R(x) FZ_RC(TICKLESS_ERR_##x)
/* handshake, read, write, shutdown: what a live connection may answer */
#define RC_IO (FZ_RC(0) | R(TIMEOUT) | R(CLOSED) | R(PEER) | R(SSL) | R(SYS))
/* A blocked call that sleeps this long after its connection failed (as
 * another call reported) has slept through the failure. */
#define FAILURE_WAKE_MS 100

/* ---- slots ------------------------------------------------------------ */

/* Takes a call's share of the slot's object; NULL if the slot is empty. */
static void *use(fz_world *w, fz_slot *s)
{
    void *o;

    pthread_mutex_lock(&w->mu);
    o = s->obj;
    if (o != NULL)
        s->users++;
    pthread_mutex_unlock(&w->mu);
    return o;
}

static void release(fz_world *w, fz_slot *s)
{
    pthread_mutex_lock(&w->mu);
    s->users--;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Empties the slot and waits until no call is in flight on it; returns
 * what it held. Caller holds w->mu. */
static void *take_idle(fz_world *w, fz_slot *s)
{
    void *o = s->obj;

    s->obj = NULL;
    while (s->users > 0)
        pthread_cond_wait(&w->cv, &w->mu);
    return o;
}

/* Empties connection slot |s| and returns its connection, once the other
 * thread's calls on it have returned or are blocked inside tickless: then
 * it may be closed. */
static tickless_conn *take_conn(fz_world *w, fz_slot *s)
{
    tickless_conn *c;

    pthread_mutex_lock(&w->mu);
    c = s->obj;
    s->obj = NULL;
    while (c != NULL && s->users > 0) {
        tickless_stats st = TICKLESS_STATS_INIT;
        unsigned users = s->users;
        struct timespec ts;

        pthread_mutex_unlock(&w->mu);
        if (tickless_conn_stats(c, &st) != 0)
            fz_die("tickless_conn_stats failed on a live connection");
        pthread_mutex_lock(&w->mu);
        if (st.waiters >= users && s->users == users)
            break; /* all of them are inside, asleep */
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        (void)pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    pthread_mutex_unlock(&w->mu);
    return c;
}

/* When each connection slot's failure was recorded (fz_slot.fatal); guarded
 * by w->mu. */
static uint64_t g_fatal_ns[FZ_CONNS];

/* A free connection slot for |c|, or -1. */
static int put_conn(fz_world *w, tickless_conn *c, enum ts_proto p,
                    void *owner)
{
    int i;

    pthread_mutex_lock(&w->mu);
    for (i = 0; i < FZ_CONNS; i++) {
        fz_slot *s = &w->conns[i];

        if (s->obj == NULL && !s->reserved) {
            s->obj = c;
            s->proto = p;
            s->member = owner != NULL;
            s->owner = owner;
            s->fatal = 0;
            s->stream_container = 0;
            g_fatal_ns[i] = 0;
            pthread_mutex_unlock(&w->mu);
            return i;
        }
    }
    pthread_mutex_unlock(&w->mu);
    return -1;
}

/* ---- checks around connection calls ----------------------------------- */

typedef struct conn_call {
    fz_slot *s;
    tickless_conn *c;
    uint64_t t0;
    int timeout_ms;
    uint64_t fatal_ns;   /* when the slot's failure was recorded, or 0 */
    int fatal;           /* ... and what it was */
} conn_call;

/* Notes what the slot's sticky failure was when the call started. */
static void call_begin(fz_world *w, conn_call *cc, fz_slot *s,
                       tickless_conn *c, int timeout_ms)
{
    cc->s = s;
    cc->c = c;
    cc->timeout_ms = timeout_ms;
    pthread_mutex_lock(&w->mu);
    cc->fatal = s->fatal;
    cc->fatal_ns = g_fatal_ns[s - w->conns];
    pthread_mutex_unlock(&w->mu);
    cc->t0 = fz_now_ns();
}

/* After handshake/read/write/shutdown: bounded, in the documented set,
 * sticky after a failure, and woken by one. */
static void call_end(fz_world *w, conn_call *cc, const char *what, int rc,
                     unsigned allowed)
{
    fz_slot *s = cc->s;

    fz_bounded(what, cc->t0, cc->timeout_ms < 0 ? 0 : cc->timeout_ms);
    fz_expect_rc(what, rc, allowed);
    if (cc->fatal != 0 && rc != cc->fatal && rc != TICKLESS_ERR_CLOSED &&
        rc != TICKLESS_ERR_INVALID)
        fz_die("%s returned %s after a call on the connection had failed "
               "with %s (failures are sticky)", what, tickless_err_name(rc),
               tickless_err_name(cc->fatal));
    pthread_mutex_lock(&w->mu);
    if (s->obj == cc->c) {
        uint64_t fns = g_fatal_ns[s - w->conns];

        /* Its deadline was more than FAILURE_WAKE_MS after the failure,
         * so a timeout means it slept that long through it (not merely
         * that it woke late). */
        if (rc == TICKLESS_ERR_TIMEOUT && s->fatal != 0 && fns > cc->t0 &&
            cc->t0 + (uint64_t)cc->timeout_ms * 1000000u >
                fns + (uint64_t)FAILURE_WAKE_MS * 1000000u)
            fz_die("%s slept %llu ms past its connection's failure (%s, "
                   "reported by another call) and returned %s",
                   what, (unsigned long long)((fz_now_ns() - fns) / 1000000u),
                   tickless_err_name(s->fatal), tickless_err_name(rc));
        if (s->fatal == 0 &&
            (rc == TICKLESS_ERR_PEER || rc == TICKLESS_ERR_SSL ||
             rc == TICKLESS_ERR_SYS)) {
            s->fatal = rc;
            g_fatal_ns[s - w->conns] = fz_now_ns();
        }
    }
    pthread_mutex_unlock(&w->mu);
}

/* ---- argument decoding ------------------------------------------------- */

/* A timeout from |b|: mostly short ones within the worker's budget, and
 * sometimes an invalid one (*bad set). */
static int timeout_of(fz_worker *k, uint8_t b, int *bad)
{
    static const int table[8] = { 0, 0, 1, 2, 10, 30, 150, 0 };
    int t;

    *bad = (b & 7) == 7;
    if (*bad)
        return (b & 8) ? INT_MIN : -2;
    t = table[b & 7];
    if (t > k->budget_ms)
        t = k->budget_ms > 0 ? k->budget_ms : 0;
    k->budget_ms -= t;
    return t;
}

static size_t len_of(uint8_t x)
{
    static const size_t table[4] = { 1, 100, 1200, 20000 };

    return table[x & 3];
}

/* ---- connections ------------------------------------------------------- */

static tickless_pool *pool_arg(fz_world *w, uint8_t x, fz_slot **ps)
{
    *ps = NULL;
    if (x % 3 == 0)
        return NULL;
    *ps = &w->pools[x % 3 - 1];
    return use(w, *ps);
}

/* a: slot | proto << 2 | target << 4; b: pool | tweak << 2 */
static void op_conn_new(fz_worker *k, uint8_t a, uint8_t b)
{
    fz_world *w = k->w;
    enum ts_proto p = (enum ts_proto)(((a >> 2) & 3) % 3);
    unsigned target = (a >> 4) & 3;
    uint16_t port = w->echo_port[p];
    fz_slot *ps;
    tickless_pool *pool;
    tickless_conn *c = NULL;
    SSL *ssl;
    int rc;

    if (p == TS_QUIC && target == 1) {
        pthread_mutex_lock(&w->mu);
        if (w->listener.obj != NULL)
            port = w->listener.port; /* one of our own, accepted by us */
        pthread_mutex_unlock(&w->mu);
    } else if (p != TS_TLS && target == 2) {
        port = w->blackhole_port; /* handshakes that never complete */
    }
    if (port == w->echo_port[p])
        atomic_store(&w->used[p], 1);
    ssl = ts_client_new(w->client_ctx[p], p, port);
    if (ssl == NULL)
        fz_die("ts_client_new failed (%s)", ts_proto_name(p));
    if (b & 4)
        ts_dtls_fast_timer(ssl);
    if (b & 8)
        ts_quic_set_idle_timeout(ssl, 500);
    pool = pool_arg(w, b, &ps);
    rc = tickless_conn_new(ssl, pool, &c);
    if (ps != NULL && pool != NULL)
        release(w, ps);
    fz_expect_rc("tickless_conn_new", rc,
                 FZ_RC(0) | R(NOMEM) | R(SYS) | R(CLOSED));
    if (rc != 0) {
        if (c != NULL)
            fz_die("tickless_conn_new failed and set *out");
        SSL_free(ssl);
        return;
    }
    if (c == NULL)
        fz_die("tickless_conn_new returned 0 and no connection");
    if (put_conn(w, c, p, NULL) < 0)
        tickless_conn_close(c); /* the table is full */
}

/* R(INVALID) if |c| (in |s|) became a stream container: its own reads
 * and writes are refused then (header, "Streams"). */
static unsigned container(fz_world *w, fz_slot *s, tickless_conn *c)
{
    unsigned r;

    pthread_mutex_lock(&w->mu);
    r = s->obj == c && s->stream_container ? R(INVALID) : 0;
    pthread_mutex_unlock(&w->mu);
    return r;
}

static void op_handshake(fz_worker *k, fz_slot *s, tickless_conn *c,
                         uint8_t a, uint8_t b)
{
    conn_call cc;
    int bad, t = timeout_of(k, b, &bad), rc;

    (void)a;
    call_begin(k->w, &cc, s, c, t);
    rc = tickless_conn_handshake(c, t);
    call_end(k->w, &cc, "tickless_conn_handshake", rc,
             bad ? R(INVALID) : RC_IO);
}

static void op_read(fz_worker *k, fz_slot *s, tickless_conn *c, uint8_t a,
                    uint8_t b)
{
    static _Thread_local uint8_t buf[20000];
    size_t len = len_of(a >> 2), n = 12345;
    conn_call cc;
    int bad, t = timeout_of(k, b, &bad), rc;

    call_begin(k->w, &cc, s, c, t);
    rc = tickless_conn_read(c, buf, len, &n, t);
    call_end(k->w, &cc, "tickless_conn_read", rc,
             bad ? R(INVALID) : RC_IO | R(EOF) | container(k->w, s, c));
    if (rc == 0 ? (n == 0 || n > len) : n != 0)
        fz_die("tickless_conn_read returned %s with *nread %zu (len %zu)",
               tickless_err_name(rc), n, len);
}

static void op_write(fz_worker *k, fz_slot *s, tickless_conn *c, uint8_t a,
                     uint8_t b)
{
    static const uint8_t buf[20000];
    size_t len = len_of(a >> 2), n = 12345;
    conn_call cc;
    int bad, t = timeout_of(k, b, &bad), rc;

    call_begin(k->w, &cc, s, c, t);
    rc = tickless_conn_write(c, buf, len, &n, t);
    call_end(k->w, &cc, "tickless_conn_write", rc,
             bad ? R(INVALID) : RC_IO | container(k->w, s, c));
    if ((rc == 0 && n != len) || n > len ||
        (rc == TICKLESS_ERR_TIMEOUT && n >= len))
        fz_die("tickless_conn_write returned %s with *nwritten %zu of %zu",
               tickless_err_name(rc), n, len);
}

static void op_shutdown(fz_worker *k, fz_slot *s, tickless_conn *c,
                        uint8_t a, uint8_t b)
{
    conn_call cc;
    int bad, t = timeout_of(k, b, &bad), rc;

    (void)a;
    call_begin(k->w, &cc, s, c, t);
    rc = tickless_conn_shutdown(c, t);
    call_end(k->w, &cc, "tickless_conn_shutdown", rc,
             bad ? R(INVALID) : RC_IO | container(k->w, s, c));
}

/* Ends a take_idle_sibling(): the slot holds |c| again (NULL: empty). */
static void unreserve(fz_world *w, int idx, tickless_conn *c)
{
    pthread_mutex_lock(&w->mu);
    w->conns[idx].obj = c;
    w->conns[idx].reserved = 0;
    pthread_mutex_unlock(&w->mu);
}

/* An idle connection slot other than |s| holding a member of the same
 * listener: emptied, reserved and returned (its index in *idx), or NULL. */
static tickless_conn *take_idle_sibling(fz_world *w, fz_slot *s, int *idx)
{
    int i;

    pthread_mutex_lock(&w->mu);
    for (i = 0; i < FZ_CONNS; i++) {
        fz_slot *o = &w->conns[i];

        if (o != s && o->obj != NULL && o->member && o->owner == s->owner &&
            o->users == 0) {
            tickless_conn *c = o->obj;

            o->obj = NULL;
            o->reserved = 1; /* put_conn() keeps out until unreserve() */
            pthread_mutex_unlock(&w->mu);
            *idx = i;
            return c;
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Inside tickless_conn_lock(): calls on the same connection must say
 * INVALID, never deadlock or act, and nothing done inside may end the
 * section early. |s| holds |c| with our share counted. Returns 1 if it
 * closed |c| (and gave up that share), else 0. */
static int op_lock(fz_worker *k, fz_slot *s, tickless_conn *c, uint8_t b)
{
    fz_world *w = k->w;
    tickless_stats st = TICKLESS_STATS_INIT;
    tickless_error_info ei = TICKLESS_ERROR_INFO_INIT;
    tickless_conn *other = (tickless_conn *)&other;
    tickless_listener *l;
    uint8_t buf[16];
    size_t n = 1;
    int rc, i;
    uint64_t t0 = fz_now_ns();
    SSL *ssl = tickless_conn_lock(c);

    fz_bounded("tickless_conn_lock", t0, 0);
    if (ssl == NULL) {
        /* Closed: only a member whose listener was closed can be. */
        if (!s->member)
            fz_die("tickless_conn_lock returned NULL on a live connection");
        return 0;
    }
    switch (b % 11) {
    case 0:
        (void)SSL_version(ssl);
        (void)SSL_pending(ssl);
        (void)SSL_get_state(ssl);
        break;
    case 1:
        fz_expect_rc("stats_reset inside lock", tickless_conn_stats_reset(c),
                     R(INVALID));
        break;
    case 2:
        rc = tickless_conn_read(c, buf, sizeof(buf), &n, 0);
        fz_expect_rc("read inside lock", rc, R(INVALID));
        break;
    case 3:
        fz_expect_rc("tickless_conn_shutdown inside lock",
                     tickless_conn_shutdown(c, 0), R(INVALID));
        break;
    case 4:
        fz_expect_rc("tickless_conn_error inside lock",
                     tickless_conn_error(c, &ei), R(INVALID));
        break;
    case 5:
        rc = tickless_conn_new(ssl, NULL, &other);
        /* An accepted member's SSL is refused as accepted first
         * (INVALID, documented), before being found taken (BUSY). */
        fz_expect_rc("conn_new on a taken SSL", rc,
                     s->member ? R(INVALID) : R(BUSY));
        if (other != NULL)
            fz_die("tickless_conn_new failed and set *out");
        break;
    case 6:
        if (tickless_conn_lock(c) != NULL)
            fz_die("tickless_conn_lock twice on one thread returned the SSL");
        if (s->member && (l = use(w, &w->listener)) != NULL) {
            if (l == s->owner) { /* its listener shares the lock */
                other = NULL;
                rc = tickless_listener_accept(l, &other, 0);
                fz_expect_rc("accept inside a member's lock", rc,
                             R(INVALID));
            }
            release(w, &w->listener);
        }
        break;
    case 7:
        /* Closing from inside the lock ends the section too; only when
         * no other call is in flight, none could have started late. */
        pthread_mutex_lock(&w->mu);
        if (s->obj == c && s->users == 1) {
            s->obj = NULL;
            s->users--;
            pthread_cond_broadcast(&w->cv);
            pthread_mutex_unlock(&w->mu);
            tickless_conn_close(c);
            return 1;
        }
        pthread_mutex_unlock(&w->mu);
        break;
    case 8:
        /* Closing the listener (any thread may) from inside a lock on
         * one of its connections. */
        if (s->member && (l = use(w, &w->listener)) != NULL) {
            if (l == s->owner)
                tickless_listener_close(l);
            release(w, &w->listener);
        }
        break;
    case 9:
        /* Another connection of the same listener: a different
         * connection, which the header lets us close. */
        if (s->member && (other = take_idle_sibling(w, s, &i)) != NULL) {
            tickless_conn_close(other);
            unreserve(w, i, NULL);
        }
        break;
    default:
        /* A call on another connection of the same listener. */
        if (s->member && (other = take_idle_sibling(w, s, &i)) != NULL) {
            rc = tickless_conn_read(other, buf, sizeof(buf), &n, 0);
            fz_expect_rc("read on a sibling inside lock", rc,
                         RC_IO | R(EOF) | R(INVALID));
            unreserve(w, i, other); /* back where it was */
        }
        break;
    }
    /* Still ours: a call on |c| must still be refused. */
    if (tickless_conn_stats(c, &st) != TICKLESS_ERR_INVALID)
        fz_die("tickless_conn_lock's section ended early (after inner "
               "action %u): a call on the connection went through", b % 11);
    tickless_conn_unlock(c);
    return 0;
}

static void op_stats(fz_slot *s, tickless_conn *c, uint8_t b)
{
    tickless_stats st;
    int rc;

    (void)s;
    memset(&st, 0xab, sizeof(st));
    switch (b & 3) {
    case 0:
        st.size = sizeof(st);
        rc = tickless_conn_stats(c, &st);
        fz_expect_rc("tickless_conn_stats", rc, FZ_RC(0) | R(INVALID));
        if (rc == 0 && (st.timer_ticks > st.ticks || st.io_ticks > st.ticks ||
                        st.waiters > 2))
            fz_die("tickless_conn_stats: ticks %llu, timer %llu, io %llu, "
                   "waiters %llu", (unsigned long long)st.ticks,
                   (unsigned long long)st.timer_ticks,
                   (unsigned long long)st.io_ticks,
                   (unsigned long long)st.waiters);
        break;
    case 1:
        st.size = sizeof(st.size);
        fz_expect_rc("stats, size too small", tickless_conn_stats(c, &st),
                     R(INVALID));
        break;
    case 2:
        /* An older caller's struct: only what fits is written. */
        st.size = offsetof(tickless_stats, timer_ticks);
        rc = tickless_conn_stats(c, &st);
        fz_expect_rc("stats, short struct", rc, FZ_RC(0) | R(INVALID));
        if (st.size != offsetof(tickless_stats, timer_ticks) ||
            st.timer_ticks != 0xababababababababull)
            fz_die("tickless_conn_stats wrote past the caller's size");
        break;
    default:
        fz_expect_rc("stats(NULL out)", tickless_conn_stats(c, NULL),
                     R(INVALID));
        break;
    }
}

static void op_error(tickless_conn *c, uint8_t b)
{
    tickless_error_info ei;
    size_t cut = offsetof(tickless_error_info, message) + 7;
    int rc;

    memset(&ei, 0xab, sizeof(ei));
    switch (b & 3) {
    case 0:
        ei.size = sizeof(ei);
        rc = tickless_conn_error(c, &ei);
        fz_expect_rc("tickless_conn_error", rc, FZ_RC(0));
        if (memchr(ei.message, '\0', sizeof(ei.message)) == NULL ||
            ei.code > 0 || ei.code < TICKLESS_ERR_MIN_)
            fz_die("tickless_conn_error: code %d, message not terminated",
                   ei.code);
        break;
    case 1:
        ei.size = sizeof(ei.size);
        fz_expect_rc("error, size too small", tickless_conn_error(c, &ei),
                     R(INVALID));
        break;
    case 2:
        /* A struct that ends inside the message still gets a string. */
        ei.size = cut;
        rc = tickless_conn_error(c, &ei);
        fz_expect_rc("error, short struct", rc, FZ_RC(0));
        if (memchr(ei.message, '\0', cut - offsetof(tickless_error_info,
                                                    message)) == NULL ||
            ((const uint8_t *)&ei)[cut] != 0xab)
            fz_die("tickless_conn_error: a short struct was not cut "
                   "cleanly");
        break;
    default:
        fz_expect_rc("error(NULL out)", tickless_conn_error(c, NULL),
                     R(INVALID));
        break;
    }
}

/* The ops that take a connection slot (a & 3). */
static void conn_op(fz_worker *k, uint8_t op, uint8_t a, uint8_t b)
{
    fz_world *w = k->w;
    fz_slot *s = &w->conns[a & 3];
    tickless_conn *c;
    int rc;

    if (op == OP_CLOSE) {
        c = take_conn(w, s);
        if (c != NULL && (b & 1)) {
            int bad, t = timeout_of(k, b >> 1, &bad);
            uint64_t t0 = fz_now_ns();

            rc = tickless_conn_shutdown(c, t);
            fz_bounded("shutdown before close", t0, t < 0 ? 0 : t);
            fz_expect_rc("shutdown before close", rc,
                         bad ? R(INVALID) : RC_IO);
        }
        tickless_conn_close(c); /* NULL (an empty slot) is ignored */
        return;
    }
    if ((c = use(w, s)) == NULL) {
        /* An empty slot: the same call on NULL must refuse. */
        size_t n = 1;
        uint8_t buf[1];

        switch (op) {
        case OP_HANDSHAKE:
            rc = tickless_conn_handshake(NULL, 0);
            break;
        case OP_READ:
            rc = tickless_conn_read(NULL, buf, 1, &n, 0);
            break;
        case OP_WRITE:
            rc = tickless_conn_write(NULL, buf, 1, &n, 0);
            break;
        case OP_STATS_RESET:
            rc = tickless_conn_stats_reset(NULL);
            break;
        default:
            rc = tickless_conn_shutdown(NULL, 0);
            break;
        }
        fz_expect_rc("a call on NULL", rc, R(INVALID));
        if (n != 1 && n != 0)
            fz_die("a call on NULL wrote %zu to its count", n);
        return;
    }
    switch (op) {
    case OP_HANDSHAKE:
        op_handshake(k, s, c, a, b);
        break;
    case OP_READ:
        op_read(k, s, c, a, b);
        break;
    case OP_WRITE:
        op_write(k, s, c, a, b);
        break;
    case OP_SHUTDOWN:
        op_shutdown(k, s, c, a, b);
        break;
    case OP_LOCK:
        if (op_lock(k, s, c, b))
            return; /* closed inside the lock: our share is gone too */
        break;
    case OP_STATS:
        op_stats(s, c, b);
        break;
    case OP_STATS_RESET:
        fz_expect_rc("tickless_conn_stats_reset",
                     tickless_conn_stats_reset(c), FZ_RC(0));
        break;
    case OP_ERROR:
        op_error(c, b);
        break;
    }
    release(w, s);
}

/* ---- pools --------------------------------------------------------------- */

/* a & 1: slot; b: threads (0-2) | options << 2 (4-7: invalid) | name,
 * slack bits. */
static void op_pool_new(fz_worker *k, uint8_t a, uint8_t b)
{
    fz_world *w = k->w;
    fz_slot *s = &w->pools[a & 1];
    tickless_pool_options o;
    tickless_pool *p = (tickless_pool *)&p;
    unsigned variant = (b >> 2) & 7;
    int bad = variant >= 4, rc, keep;

    tickless_pool_options_defaults(&o);
    o.threads = (b & 3) == 3 ? 1 : b & 3;
    o.thread_name = (b & 0x80) ? "fuzz-pool-with-a-long-name" : NULL;
    o.timer_slack_ns = (b & 0x40) ? 1000 : 0;
    switch (variant) {
    case 3:
        o.first_cpu = 0;
        break;
    case 4:
        o.threads = 257;
        break;
    case 5:
        o.size = sizeof(o.size);
        break;
    case 6:
        o.stack_size = 1000;
        break;
    case 7:
        o.first_cpu = -2;
        break;
    }
    if (variant == 2)
        o.threads = 1; /* what NULL options mean */
    rc = tickless_pool_new(variant == 2 ? NULL : &o, &p);
    fz_expect_rc("tickless_pool_new", rc,
                 bad ? R(INVALID) : FZ_RC(0) | R(NOMEM) | R(SYS));
    if (rc != 0) {
        if (p != NULL)
            fz_die("tickless_pool_new failed and set *out");
        return;
    }
    pthread_mutex_lock(&w->mu);
    keep = s->obj == NULL && !s->reserved;
    if (keep) {
        s->obj = p;
        s->threads = o.threads;
    }
    pthread_mutex_unlock(&w->mu);
    if (!keep)
        fz_expect_rc("pool_free of an unused pool", tickless_pool_free(p),
                     FZ_RC(0));
}

static void op_pool_free(fz_world *w, fz_slot *s)
{
    tickless_pool *p;
    int rc;

    pthread_mutex_lock(&w->mu);
    if (s->reserved) {
        pthread_mutex_unlock(&w->mu);
        return;
    }
    s->reserved = 1;
    p = take_idle(w, s);
    pthread_mutex_unlock(&w->mu);
    rc = tickless_pool_free(p);
    fz_expect_rc("tickless_pool_free", rc,
                 p == NULL ? R(INVALID) : FZ_RC(0) | R(BUSY));
    pthread_mutex_lock(&w->mu);
    if (rc == TICKLESS_ERR_BUSY)
        s->obj = p; /* connections remain: it keeps working */
    s->reserved = 0;
    pthread_mutex_unlock(&w->mu);
}

static void pool_op(fz_worker *k, uint8_t op, uint8_t a, uint8_t b)
{
    fz_world *w = k->w;
    fz_slot *s = &w->pools[a & 1];
    struct tickless_pool_stats st;
    tickless_pool *p;
    uint64_t t0;
    int rc, bad, t;

    if (op == OP_POOL_FREE) {
        op_pool_free(w, s);
        return;
    }
    if ((p = use(w, s)) == NULL)
        return;
    switch (op) {
    case OP_POOL_STATS:
        memset(&st, 0xab, sizeof(st));
        st.size = (b & 1) ? sizeof(st.size) : sizeof(st);
        rc = tickless_pool_stats(p, (b & 2) ? NULL : &st);
        fz_expect_rc("tickless_pool_stats", rc,
                     (b & 3) ? R(INVALID) : FZ_RC(0));
        if (rc == 0 && (st.threads != s->threads || st.connections > 8 ||
                        st.timer_ticks > st.ticks || st.io_ticks > st.ticks))
            fz_die("tickless_pool_stats: threads %u (made with %u), "
                   "connections %llu, ticks %llu (timer %llu, io %llu)",
                   st.threads, s->threads,
                   (unsigned long long)st.connections,
                   (unsigned long long)st.ticks,
                   (unsigned long long)st.timer_ticks,
                   (unsigned long long)st.io_ticks);
        break;
    case OP_POOL_STATS_RESET:
        fz_expect_rc("tickless_pool_stats_reset", tickless_pool_stats_reset(p),
                     FZ_RC(0));
        break;
    case OP_POOL_FD:
        rc = tickless_pool_fd(p);
        if (s->threads == 0 ? rc < 0 : rc != TICKLESS_ERR_INVALID)
            fz_die("tickless_pool_fd returned %d for a pool of %u threads",
                   rc, s->threads);
        break;
    case OP_POOL_RUN:
        t = timeout_of(k, b, &bad);
        t0 = fz_now_ns();
        rc = tickless_pool_run(p, t);
        fz_bounded("tickless_pool_run", t0, t < 0 ? 0 : t);
        if (rc < 0)
            fz_expect_rc("tickless_pool_run", rc,
                         (bad || s->threads > 0) ? R(INVALID)
                                                 : R(BUSY) | R(SYS));
        else if (bad || s->threads > 0)
            fz_die("tickless_pool_run returned %d, not INVALID", rc);
        break;
    }
    release(w, s);
}

/* ---- the listener ------------------------------------------------------- */

/* A QUIC listener on a new port of 127.0.0.1; *port set. */
static SSL *new_listener_ssl(fz_world *w, uint16_t *port)
{
    SSL *lst = SSL_new_listener(w->listener_ctx,
                                SSL_LISTENER_FLAG_NO_VALIDATE);
    int fd = ts_net_bind(SOCK_DGRAM, 0, 0, port);
    BIO *bio;

    if (lst == NULL || fd < 0 || ts_net_set_nonblock(fd, 1) != 0 ||
        (bio = BIO_new_dgram(fd, BIO_CLOSE)) == NULL)
        fz_die("could not make a QUIC listener");
    SSL_set_bio(lst, bio, bio);
    return lst;
}

static void op_listener_new(fz_worker *k, uint8_t a)
{
    fz_world *w = k->w;
    fz_slot *s = &w->listener, *ps;
    tickless_listener *l = (tickless_listener *)&l;
    tickless_pool *pool;
    uint16_t port = 0;
    SSL *lst;
    int rc;

    pthread_mutex_lock(&w->mu);
    if (s->obj != NULL || s->reserved) {
        pthread_mutex_unlock(&w->mu);
        return;
    }
    s->reserved = 1;
    pthread_mutex_unlock(&w->mu);
    lst = new_listener_ssl(w, &port);
    pool = pool_arg(w, a, &ps);
    rc = tickless_listener_new(lst, pool, &l);
    if (ps != NULL && pool != NULL)
        release(w, ps);
    fz_expect_rc("tickless_listener_new", rc,
                 FZ_RC(0) | R(NOMEM) | R(SYS) | R(SSL));
    if (rc != 0) {
        if (l != NULL)
            fz_die("tickless_listener_new failed and set *out");
        SSL_free(lst);
    }
    pthread_mutex_lock(&w->mu);
    if (rc == 0) {
        s->obj = l;
        s->port = port;
    }
    s->reserved = 0;
    pthread_mutex_unlock(&w->mu);
}

static void listener_op(fz_worker *k, uint8_t op, uint8_t a, uint8_t b)
{
    fz_world *w = k->w;
    fz_slot *s = &w->listener;
    tickless_listener *l;
    tickless_conn *c;
    uint64_t t0;
    int rc, bad, t;

    switch (op) {
    case OP_LISTENER_NEW:
        op_listener_new(k, a);
        return;
    case OP_LISTENER_FREE:
        pthread_mutex_lock(&w->mu);
        if (s->reserved) {
            pthread_mutex_unlock(&w->mu);
            return;
        }
        l = take_idle(w, s);
        pthread_mutex_unlock(&w->mu);
        t0 = fz_now_ns();
        tickless_listener_free(l); /* NULL is ignored */
        fz_bounded("tickless_listener_free", t0, 0);
        return;
    }
    if ((l = use(w, s)) == NULL)
        return;
    if (op == OP_ACCEPT) {
        t = timeout_of(k, b, &bad);
        c = (tickless_conn *)&c;
        t0 = fz_now_ns();
        rc = tickless_listener_accept(l, &c, t);
        fz_bounded("tickless_listener_accept", t0, t < 0 ? 0 : t);
        fz_expect_rc("tickless_listener_accept", rc,
                     bad ? R(INVALID)
                         : FZ_RC(0) | R(TIMEOUT) | R(CLOSED) | R(NOMEM));
        if ((rc == 0) != (c != NULL))
            fz_die("tickless_listener_accept returned %s with *out %p",
                   tickless_err_name(rc), (void *)c);
        if (c != NULL && put_conn(w, c, TS_QUIC, l) < 0)
            tickless_conn_close(c);
    } else {
        t0 = fz_now_ns();
        tickless_listener_close(l); /* a second one does nothing */
        fz_bounded("tickless_listener_close", t0, 0);
    }
    release(w, s);
}

/* ---- bad arguments ------------------------------------------------------ */

static void expect_conn_new_invalid(const char *what, SSL *ssl)
{
    tickless_conn *c = (tickless_conn *)&c;

    fz_expect_rc(what, tickless_conn_new(ssl, NULL, &c), R(INVALID));
    if (c != NULL)
        fz_die("%s: tickless_conn_new failed and set *out", what);
    SSL_free(ssl);
}

/* Each refusal the header promises, with the exact code. */
static void op_bad_args(fz_worker *k, uint8_t a)
{
    fz_world *w = k->w;
    struct tickless_pool_stats pst = TICKLESS_POOL_STATS_INIT;
    tickless_stats st = TICKLESS_STATS_INIT;
    tickless_error_info ei = TICKLESS_ERROR_INFO_INIT;
    tickless_listener *l = (tickless_listener *)&l;
    tickless_conn *c = (tickless_conn *)&c;
    fz_slot *s;
    uint8_t buf[4];
    size_t n = 7;
    uint16_t port;
    SSL *ssl;
    BIO *mem;

    switch (a % 12) {
    case 0:
        fz_expect_rc("conn_new(NULL)", tickless_conn_new(NULL, NULL, &c),
                     R(INVALID));
        if (c != NULL)
            fz_die("tickless_conn_new(NULL) set *out");
        ssl = ts_client_new(w->client_ctx[TS_TLS], TS_TLS,
                            w->echo_port[TS_TLS]);
        fz_expect_rc("conn_new(out NULL)", tickless_conn_new(ssl, NULL, NULL),
                     R(INVALID));
        SSL_free(ssl);
        break;
    case 1:
        expect_conn_new_invalid("conn_new, no BIO",
                                SSL_new(w->client_ctx[TS_TLS]));
        break;
    case 2:
        ssl = SSL_new(w->client_ctx[TS_DTLS]);
        mem = BIO_new(BIO_s_mem());
        SSL_set_bio(ssl, mem, mem);
        expect_conn_new_invalid("conn_new, memory BIO", ssl);
        break;
    case 3:
        ssl = new_listener_ssl(w, &port);
        fz_expect_rc("conn_new on a listener",
                     tickless_conn_new(ssl, NULL, &c), R(INVALID));
        SSL_free(ssl);
        break;
    case 4:
        ssl = ts_client_new(w->client_ctx[TS_QUIC], TS_QUIC,
                            w->blackhole_port);
        fz_expect_rc("listener_new on a connection",
                     tickless_listener_new(ssl, NULL, &l), R(INVALID));
        if (l != NULL)
            fz_die("tickless_listener_new failed and set *out");
        SSL_free(ssl);
        fz_expect_rc("listener_new(NULL)",
                     tickless_listener_new(NULL, NULL, &l), R(INVALID));
        ssl = SSL_new_listener(w->listener_ctx, 0);
        fz_expect_rc("listener_new, no socket",
                     tickless_listener_new(ssl, NULL, &l), R(INVALID));
        fz_expect_rc("listener_new(out NULL)",
                     tickless_listener_new(ssl, NULL, NULL), R(INVALID));
        SSL_free(ssl);
        break;
    case 5:
        fz_expect_rc("accept(NULL)", tickless_listener_accept(NULL, &c, 0),
                     R(INVALID));
        if (c != NULL)
            fz_die("tickless_listener_accept(NULL) set *out");
        if ((l = use(w, &w->listener)) != NULL) {
            fz_expect_rc("accept(out NULL)",
                         tickless_listener_accept(l, NULL, 0), R(INVALID));
            release(w, &w->listener);
        }
        tickless_listener_close(NULL);
        tickless_listener_free(NULL);
        break;
    case 6:
        s = &w->conns[(a >> 4) & 3];
        if ((c = use(w, s)) == NULL)
            break;
        fz_expect_rc("read(buf NULL)",
                     tickless_conn_read(c, NULL, 1, &n, 0), R(INVALID));
        fz_expect_rc("read(len 0)", tickless_conn_read(c, buf, 0, &n, 0),
                     R(INVALID));
        fz_expect_rc("read(nread NULL)",
                     tickless_conn_read(c, buf, 1, NULL, 0), R(INVALID));
        fz_expect_rc("write(buf NULL)",
                     tickless_conn_write(c, NULL, 1, &n, 0), R(INVALID));
        fz_expect_rc("write(len 0)", tickless_conn_write(c, buf, 0, &n, 0),
                     R(INVALID));
        fz_expect_rc("write(nwritten NULL)",
                     tickless_conn_write(c, buf, 1, NULL, 0), R(INVALID));
        if (n != 0)
            fz_die("a refused read/write left its count at %zu", n);
        /* Unlocking what this thread never locked changes nothing. */
        tickless_conn_unlock(c);
        fz_expect_rc("stats after a stray unlock", tickless_conn_stats(c, &st),
                     FZ_RC(0));
        release(w, s);
        break;
    case 7:
        fz_expect_rc("stats(NULL)", tickless_conn_stats(NULL, &st),
                     R(INVALID));
        fz_expect_rc("stats_reset(NULL)", tickless_conn_stats_reset(NULL),
                     R(INVALID));
        fz_expect_rc("error(NULL)", tickless_conn_error(NULL, &ei),
                     R(INVALID));
        if (tickless_conn_lock(NULL) != NULL)
            fz_die("tickless_conn_lock(NULL) returned an SSL");
        tickless_conn_unlock(NULL);
        tickless_conn_close(NULL);
        break;
    case 8:
        fz_expect_rc("pool_new(out NULL)", tickless_pool_new(NULL, NULL),
                     R(INVALID));
        fz_expect_rc("pool_free(NULL)", tickless_pool_free(NULL), R(INVALID));
        fz_expect_rc("pool_stats(NULL)", tickless_pool_stats(NULL, &pst),
                     R(INVALID));
        fz_expect_rc("pool_stats_reset(NULL)", tickless_pool_stats_reset(NULL),
                     R(INVALID));
        fz_expect_rc("pool_fd(NULL)", tickless_pool_fd(NULL), R(INVALID));
        fz_expect_rc("pool_run(NULL)", tickless_pool_run(NULL, 0), R(INVALID));
        tickless_pool_options_defaults(NULL);
        break;
    case 9:
        fz_expect_rc("set_log level 0",
                     tickless_set_log(fz_api_log, NULL, 0, 0), R(INVALID));
        fz_expect_rc("set_log level 4",
                     tickless_set_log(fz_api_log, NULL, 4, 0), R(INVALID));
        break;
    case 10:
        /* Handshake, read, shutdown with a timeout below -1. */
        s = &w->conns[(a >> 4) & 3];
        if ((c = use(w, s)) == NULL)
            break;
        fz_expect_rc("handshake(-5)", tickless_conn_handshake(c, -5),
                     R(INVALID));
        fz_expect_rc("shutdown(INT_MIN)", tickless_conn_shutdown(c, INT_MIN),
                     R(INVALID));
        release(w, s);
        break;
    default:
        ssl = ts_client_new(w->client_ctx[TS_DTLS], TS_DTLS,
                            w->blackhole_port);
        /* An SSL object handed over twice. */
        if (tickless_conn_new(ssl, NULL, &c) != 0)
            fz_die("tickless_conn_new on a fresh DTLS SSL failed");
        {
            tickless_conn *again = (tickless_conn *)&again;

            fz_expect_rc("conn_new twice on one SSL",
                         tickless_conn_new(ssl, NULL, &again), R(BUSY));
            if (again != NULL)
                fz_die("tickless_conn_new (BUSY) set *out");
        }
        tickless_conn_close(c);
        break;
    }
}

/* ---- streams (QUIC) ---------------------------------------------------- */

#define RC_STREAM_NEW (FZ_RC(0) | R(INVALID) | R(TIMEOUT) | R(CLOSED) | \
                       R(PEER) | R(SSL) | R(NOMEM))
#define RC_STREAM_IO (FZ_RC(0) | R(INVALID) | R(TIMEOUT) | R(CLOSED) | \
                      R(STREAM_RESET) | R(PEER) | R(SSL))

/* a: connection slot | flags << 2 (2: an unknown flag); b: timeout. */
static void op_stream_new(fz_worker *k, uint8_t op, uint8_t a, uint8_t b)
{
    fz_world *w = k->w;
    fz_slot *cs = &w->conns[a & 3];
    tickless_stream *st = NULL;
    tickless_conn *c = use(w, cs);
    unsigned flags = (a >> 2) & 3, allowed;
    int bad, t, rc, i, kept = 0;
    uint64_t t0;

    if (c == NULL) {
        fz_expect_rc("stream_open(NULL)", tickless_stream_open(NULL, 0, &st, 0),
                     R(INVALID));
        return;
    }
    pthread_mutex_lock(&w->mu);
    if (cs->obj == c)
        cs->stream_container = 1; /* before: a read racing it may see it */
    pthread_mutex_unlock(&w->mu);
    t = timeout_of(k, b, &bad);
    allowed = cs->proto != TS_QUIC ? R(UNSUPPORTED) | R(INVALID)
              : bad || (op == OP_STREAM_OPEN && flags == 2) ? R(INVALID)
                                                            : RC_STREAM_NEW;
    t0 = fz_now_ns();
    if (op == OP_STREAM_OPEN)
        rc = tickless_stream_open(c, flags == 2 ? 0x2 : (int)(flags & 1), &st,
                                  t);
    else
        rc = tickless_stream_accept(c, &st, t);
    fz_bounded(op == OP_STREAM_OPEN ? "tickless_stream_open"
                                    : "tickless_stream_accept",
               t0, t < 0 ? 0 : t);
    fz_expect_rc(op == OP_STREAM_OPEN ? "tickless_stream_open"
                                      : "tickless_stream_accept",
                 rc, allowed);
    release(w, cs);
    if (rc != 0)
        return;
    if (st == NULL)
        fz_die("a stream call returned 0 and no stream");
    pthread_mutex_lock(&w->mu);
    for (i = 0; i < FZ_STREAMS && !kept; i++) {
        fz_slot *ss = &w->streams[i];

        if (ss->obj == NULL && !ss->reserved) {
            ss->obj = st;
            ss->reading = ss->writing = 0;
            kept = 1;
        }
    }
    pthread_mutex_unlock(&w->mu);
    if (!kept)
        tickless_stream_close(st);
}

/* Takes |s|'s stream for a read (|dir| 1) or a write (2), or for a call
 * that neither reads nor writes (0); NULL if empty or taken that way. */
static tickless_stream *stream_use(fz_world *w, fz_slot *s, int dir)
{
    tickless_stream *st;

    pthread_mutex_lock(&w->mu);
    st = s->obj;
    if (st != NULL && ((dir == 1 && s->reading) || (dir == 2 && s->writing)))
        st = NULL; /* one reader and one writer per stream at once */
    if (st != NULL) {
        s->users++;
        s->reading |= dir == 1;
        s->writing |= dir == 2;
    }
    pthread_mutex_unlock(&w->mu);
    return st;
}

static void stream_release(fz_world *w, fz_slot *s, int dir)
{
    pthread_mutex_lock(&w->mu);
    if (dir == 1)
        s->reading = 0;
    if (dir == 2)
        s->writing = 0;
    s->users--;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* a: stream slot | length << 2; b: timeout, or the reset's error code. */
static void stream_op(fz_worker *k, uint8_t op, uint8_t a, uint8_t b)
{
    static _Thread_local uint8_t buf[20000];
    fz_world *w = k->w;
    fz_slot *s = &w->streams[a & 3];
    int dir = op == OP_STREAM_READ ? 1 : op == OP_STREAM_WRITE ? 2 : 0;
    size_t len = len_of(a >> 2), n = 12345;
    uint64_t app = 7, t0;
    tickless_stream *st;
    int rc, bad, t;

    if (op == OP_STREAM_CLOSE) {
        pthread_mutex_lock(&w->mu);
        if (s->reserved) {
            pthread_mutex_unlock(&w->mu);
            return;
        }
        st = take_idle(w, s);
        pthread_mutex_unlock(&w->mu);
        tickless_stream_close(st); /* NULL is ignored */
        return;
    }
    if ((st = stream_use(w, s, dir)) == NULL) {
        if (tickless_stream_id(NULL) != UINT64_MAX)
            fz_die("tickless_stream_id(NULL) is not UINT64_MAX");
        fz_expect_rc("stream_read(NULL)",
                     tickless_stream_read(NULL, buf, 1, &n, 0), R(INVALID));
        return;
    }
    switch (op) {
    case OP_STREAM_READ:
    case OP_STREAM_WRITE:
        t = timeout_of(k, b, &bad);
        t0 = fz_now_ns();
        rc = dir == 1 ? tickless_stream_read(st, buf, len, &n, t)
                      : tickless_stream_write(st, buf, len, &n, t);
        fz_bounded(dir == 1 ? "tickless_stream_read" : "tickless_stream_write",
                   t0, t < 0 ? 0 : t);
        fz_expect_rc(dir == 1 ? "tickless_stream_read"
                              : "tickless_stream_write",
                     rc, bad ? R(INVALID)
                             : RC_STREAM_IO | (dir == 1 ? R(EOF) : 0));
        if (rc == 0 && (dir == 1 ? n == 0 || n > len : n != len))
            fz_die("tickless_stream_%s returned 0 with %zu of %zu bytes",
                   dir == 1 ? "read" : "write", n, len);
        if (n > len)
            fz_die("tickless_stream_%s counted %zu of %zu bytes",
                   dir == 1 ? "read" : "write", n, len);
        break;
    case OP_STREAM_END:
        rc = (b & 1) ? tickless_stream_reset(st, b >> 1)
                     : tickless_stream_conclude(st);
        fz_expect_rc((b & 1) ? "tickless_stream_reset"
                             : "tickless_stream_conclude",
                     rc, RC_STREAM_IO & ~R(TIMEOUT));
        break;
    default:
        rc = tickless_stream_peer_error(st, &app);
        if (rc < 0 || rc > 1 || (rc == 0 && app != 0))
            fz_die("tickless_stream_peer_error returned %d, app_error %llu",
                   rc, (unsigned long long)app);
        (void)tickless_stream_id(st);
        break;
    }
    stream_release(w, s, dir);
}

/* ---- the rest ----------------------------------------------------------- */

static atomic_uint_fast64_t g_log_calls;

void fz_api_log(int level, tickless_conn *conn, const char *message,
                void *arg)
{
    (void)conn;
    (void)arg;
    if (level < TICKLESS_LOG_ERROR || level > TICKLESS_LOG_INFO ||
        message == NULL || strnlen(message, 4096) == 4096)
        fz_die("log callback: level %d, message %s", level,
               message == NULL ? "NULL" : "not terminated");
    atomic_fetch_add(&g_log_calls, 1);
}

static void op_set_log(uint8_t a, uint8_t b)
{
    int level = (int)(a % 6) - 1; /* -1 .. 4: 1 to 3 are valid */
    tickless_log_fn fn = (b & 1) ? fz_api_log : NULL;
    int rc = tickless_set_log(fn, NULL, level, (b & 2) ? 1 : 0);

    fz_expect_rc("tickless_set_log", rc,
                 fn != NULL && (level < 1 || level > 3) ? R(INVALID)
                                                        : FZ_RC(0));
}

static void op_info(uint8_t a, uint8_t b)
{
    int e = (int)(int8_t)a * 256 + b;
    int known = e >= TICKLESS_ERR_MIN_ && e <= 0;
    const char *msg = tickless_strerror(e), *name = tickless_err_name(e);
    unsigned want = TICKLESS_FEATURE_QUIC | TICKLESS_FEATURE_QUIC_SERVER |
                    TICKLESS_FEATURE_HANDLE_EVENTS;

    if (msg == NULL || name == NULL ||
        known != (strcmp(msg, "unknown error") != 0) ||
        known != (strcmp(name, "TICKLESS_ERR_UNKNOWN") != 0))
        fz_die("tickless_strerror/err_name(%d): \"%s\", \"%s\"", e,
               msg ? msg : "NULL", name ? name : "NULL");
    if ((tickless_features() & want) != want)
        fz_die("tickless_features() is 0x%x on OpenSSL 3.5",
               tickless_features());
    if (tickless_version() != TICKLESS_VERSION_NUMBER)
        fz_die("tickless_version() is not the header's");
}

static const char *const g_op_names[OP_COUNT] = {
    "conn_new", "handshake", "read", "write", "shutdown", "close",
    "lock", "stats", "stats_reset", "error",
    "pool_new", "pool_free", "pool_stats", "pool_stats_reset",
    "pool_fd", "pool_run",
    "listener_new", "accept", "listener_close", "listener_free",
    "bad_args", "set_log", "info", "sleep", "server_abort",
    "stream_open", "stream_accept", "stream_read", "stream_write",
    "stream_end", "stream_info", "stream_close",
};

/* What each thread is doing, for fz_die(): the op and when it began. */
static struct {
    _Atomic unsigned op; /* index + 1; 0: none */
    _Atomic uint64_t since_ns;
} g_current[2];

static void print_current(void)
{
    uint64_t now = fz_now_ns();
    int i;

    for (i = 0; i < 2; i++) {
        unsigned op = atomic_load(&g_current[i].op);

        if (op == 0)
            fprintf(stderr, "fuzz:   thread %d: between ops\n", i);
        else
            fprintf(stderr, "fuzz:   thread %d: in %s for %.1f ms\n", i,
                    g_op_names[op - 1],
                    (double)(now - atomic_load(&g_current[i].since_ns)) /
                        1e6);
    }
}

void fz_api_op(fz_worker *k, uint8_t op, uint8_t a, uint8_t b)
{
    uint64_t t0 = fz_now_ns();
    unsigned ms;

    op %= OP_COUNT;
    k->ops++;
    fz_die_hook = print_current;
    atomic_store(&g_current[k->id].since_ns, t0);
    atomic_store(&g_current[k->id].op, op + 1u);
    fz_note("t%d %s %02x %02x", k->id, g_op_names[op], a, b);
    switch (op) {
    case OP_CONN_NEW:
        op_conn_new(k, a, b);
        break;
    case OP_HANDSHAKE:
    case OP_READ:
    case OP_WRITE:
    case OP_SHUTDOWN:
    case OP_CLOSE:
    case OP_LOCK:
    case OP_STATS:
    case OP_STATS_RESET:
    case OP_ERROR:
        conn_op(k, op, a, b);
        break;
    case OP_POOL_NEW:
        op_pool_new(k, a, b);
        break;
    case OP_POOL_FREE:
    case OP_POOL_STATS:
    case OP_POOL_STATS_RESET:
    case OP_POOL_FD:
    case OP_POOL_RUN:
        pool_op(k, op, a, b);
        break;
    case OP_LISTENER_NEW:
    case OP_ACCEPT:
    case OP_LISTENER_CLOSE:
    case OP_LISTENER_FREE:
        listener_op(k, op, a, b);
        break;
    case OP_BAD_ARGS:
        op_bad_args(k, a);
        break;
    case OP_SET_LOG:
        op_set_log(a, b);
        break;
    case OP_INFO:
        op_info(a, b);
        break;
    case OP_SLEEP:
        ms = a & 15;
        if ((int)ms > k->budget_ms)
            ms = k->budget_ms > 0 ? (unsigned)k->budget_ms : 0;
        k->budget_ms -= (int)ms;
        usleep(ms * 1000);
        break;
    case OP_SERVER_ABORT:
        ts_server_abort_connections(k->w->servers[a % 3]);
        break;
    case OP_STREAM_OPEN:
    case OP_STREAM_ACCEPT:
        op_stream_new(k, op, a, b);
        break;
    default:
        stream_op(k, op, a, b);
        break;
    }
    atomic_store(&g_current[k->id].op, 0u);
    fz_note("t%d %s done in %.1f ms", k->id, g_op_names[op],
            (double)(fz_now_ns() - t0) / 1e6);
}

void fz_api_clear(fz_world *w)
{
    int i;

    for (i = 0; i < FZ_STREAMS; i++) {
        tickless_stream_close(w->streams[i].obj);
        w->streams[i].obj = NULL;
    }
    for (i = 0; i < FZ_CONNS; i++) {
        tickless_conn_close(w->conns[i].obj);
        w->conns[i].obj = NULL;
        w->conns[i].users = 0;
    }
    tickless_listener_free(w->listener.obj);
    w->listener.obj = NULL;
    for (i = 0; i < FZ_POOLS; i++) {
        tickless_pool *p = w->pools[i].obj;
        int rc = p != NULL ? tickless_pool_free(p) : 0;

        if (rc != 0)
            fz_die("tickless_pool_free returned %s once every connection "
                   "and listener was closed", tickless_err_name(rc));
        w->pools[i].obj = NULL;
    }
    (void)tickless_set_log(NULL, NULL, 0, 0);
}
