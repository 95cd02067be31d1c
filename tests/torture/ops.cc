/*
 * ops: the operations a worker picks, one function each, and the worker
 * loop. Each operation makes one public call through the gate and the
 * checks of call.cc, and records in the incarnation's ledger what the
 * call was told, for the verifier.
 */
#include "ops.h"

#include <cinttypes>
#include <cstdio>

#include "call.h"
#include "pattern.h"
#include "report.h"

namespace torture {

/* Timeouts: 0 (try once), short, medium, long, and FOREVER, which only
 * blocking calls get: the close at the end of the incarnation ends them. */
int pick_timeout(Rng &r, bool forever_ok)
{
    uint64_t x = r.below(100);
    if (x < 15)
        return 0;
    if (x < 35)
        return 1 + (int)r.below(20);
    if (x < 60)
        return 50 + (int)r.below(250);
    if (x < 90 || !forever_ok)
        return 1000 + (int)r.below(2000);
    return TICKLESS_FOREVER;
}

namespace {

/* A duplex connection's reader and writer are patient: a read blocks while
 * the writer fills the socket and waits for room. */
int io_timeout(const Incarnation *inc, Rng &r)
{
    if (inc->duplex && r.chance(70))
        return r.chance(15) ? TICKLESS_FOREVER : 1500 + (int)r.below(3000);
    return pick_timeout(r, true);
}

constexpr uint64_t kWriterLimit = 4u << 20; /* stream bytes per writer */

bool stream_proto(const Incarnation *inc) { return inc->cfg.proto != Proto::DTLS; }

void op_read(Incarnation *inc, WorkerState *ws)
{
    Rng &r = ws->rng;
    size_t len = inc->cfg.proto == Proto::DTLS
                     ? 512 + (size_t)r.below(65536 - 512)
                     : 1 + (size_t)r.below(r.chance(70) ? 65536 : 64);
    int timeout = io_timeout(inc, r);
    if (!gate_enter(inc, ws))
        return;
    Call call(inc, ws, Fn::READ, timeout);
    size_t n = SIZE_MAX;
    int rc = tickless_conn_read(inc->c, ws->rbuf.data(), len, &n, timeout);
    char d[64];
    snprintf(d, sizeof(d), "len %zu nread %zu", len, n);
    call.end(rc, d);
    gate_exit(ws);

    if (n == SIZE_MAX)
        fail("tickless_conn_read did not write *nread (rc %s)", rc_name(rc));
    else if (rc == 0 && (n == 0 || n > len))
        fail("tickless_conn_read returned 0 with *nread %zu of %zu", n, len);
    else if (rc != 0 && n != 0)
        fail("tickless_conn_read returned %s with *nread %zu: bytes lost",
             rc_name(rc), n);
    if (rc != 0 || n == 0 || n > len)
        return;

    count(C_READ, n);
    const uint8_t *b = ws->rbuf.data();
    uint64_t key = inc->peer.key_tx;
    if (!stream_proto(inc)) {
        int64_t dg = dgram_identify(b, n, key);
        std::lock_guard<std::mutex> g(inc->mu);
        if (dg < 0)
            fail("conn %d.%d: a read returned %zu bytes that are no datagram "
                 "the peer sent", inc->slot, inc->index, n);
        else if (!inc->dgrams_read.insert(dg).second)
            fail("conn %d.%d: datagram %" PRId64 " was read twice", inc->slot,
                 inc->index, dg);
        return;
    }
    ReadPiece piece;
    piece.len = n;
    piece.off = UINT64_MAX;
    if (n >= 15) {
        if (stream_locate(b, n, key, &piece.off) != 0) {
            fail("conn %d.%d: a read returned %zu bytes found nowhere in the "
                 "peer's stream", inc->slot, inc->index, n);
            return;
        }
    } else {
        piece.bytes.assign(b, b + n);
    }
    std::lock_guard<std::mutex> g(inc->mu);
    inc->reads.push_back(std::move(piece));
}

/* A TLS write in progress for a second or more is held, once the peer has
 * finished, against the spells in which the peer was reading and received
 * nothing (verify_write_stalls()): such a write was not being sent. */
void note_long_write(Incarnation *inc, WorkerState *ws, const Call &call,
                     int rc, size_t len, size_t nw)
{
    if (inc->cfg.proto != Proto::TLS || inc->misbehave
        || call.wall_ns() < slack_ns(inc->cfg, 1000))
        return;
    count(C_LONG_WRITES);
    std::lock_guard<std::mutex> g(inc->mu);
    inc->long_writes.push_back(LongWrite{ws->id, call.t0, call.t1, rc, len, nw});
}

void op_write(Incarnation *inc, WorkerState *ws)
{
    Rng &r = ws->rng;
    size_t len;
    if (!stream_proto(inc)) {
        len = 8 + (size_t)r.below(kDgramMax - 8 + 1);
    } else {
        uint64_t x = r.below(100);
        len = 1 + (size_t)r.below(x < 60 ? 16384 : x < 95 ? 65536 : 1u << 20);
        if (inc->duplex) /* enough to fill the socket */
            len = 16384 + (size_t)r.below(1u << 18);
        if (ws->w_off + len > kWriterLimit) {
            if (inc->duplex)
                sleep_ms(10); /* writing is all it does */
            return; /* this writer has said enough */
        }
    }
    int timeout = io_timeout(inc, r);
    if (ws->wbuf.size() < len)
        ws->wbuf.resize(len);
    writer_fill(ws->wbuf.data(), len, inc->key_w, (unsigned)ws->id, ws->w_seq,
                ws->w_off);
    if (!gate_enter(inc, ws))
        return;
    Call call(inc, ws, Fn::WRITE, timeout, len);
    size_t nw = SIZE_MAX;
    int rc = tickless_conn_write(inc->c, ws->wbuf.data(), len, &nw, timeout);
    char d[96];
    snprintf(d, sizeof(d), "writer %d call %u off %" PRIu64 " len %zu nwritten %zu",
             ws->id, ws->w_seq, ws->w_off, len, nw);
    call.end(rc, d);
    gate_exit(ws);

    if (nw == SIZE_MAX) {
        fail("tickless_conn_write did not write *nwritten (%s)", d);
        nw = 0; /* counted as nothing credited: bytes that arrive fail */
    } else if (nw > len || (rc == 0 && nw != len)
               || (rc == TICKLESS_ERR_TIMEOUT && nw >= len)) {
        fail("tickless_conn_write returned %s with %s", rc_name(rc), d);
        if (nw > len)
            nw = len;
    }
    {
        std::lock_guard<std::mutex> g(inc->mu);
        inc->writes.push_back(
            WriteCall{(unsigned)ws->id, ws->w_seq, ws->w_off, len, nw, rc});
    }
    count(C_WRITTEN, nw);
    if (stream_proto(inc))
        ws->w_off += nw;
    ws->w_seq++;
    note_long_write(inc, ws, call, rc, len, nw);
}

void op_handshake(Incarnation *inc, WorkerState *ws)
{
    int timeout = pick_timeout(ws->rng, true);
    if (!gate_enter(inc, ws))
        return;
    Call call(inc, ws, Fn::HANDSHAKE, timeout, 4096);
    call.end(tickless_conn_handshake(inc->c, timeout));
    gate_exit(ws);
}

void op_shutdown(Incarnation *inc, WorkerState *ws)
{
    int timeout = pick_timeout(ws->rng, true);
    if (!gate_enter(inc, ws))
        return;
    inc->shutdown_begun = true;
    if (inc->shutdown_ns == 0)
        inc->shutdown_ns = now_ns();
    Call call(inc, ws, Fn::SHUTDOWN, timeout, 4096);
    int rc = call.end(tickless_conn_shutdown(inc->c, timeout));
    gate_exit(ws);
    if (rc == 0)
        inc->shutdown_ok = true;
}

/* A tickless_conn_lock() section: a few SSL_* calls, the documented refusal
 * of tickless calls made inside it, and a short hold that makes other
 * calls (and the assist) wait for the mutex. With |close_inside| (half of
 * the closes, op_close) the section ends in a close of the connection,
 * made after the hold while other workers are asleep on the mutex: the
 * header allows closing from inside the section (it ends the section),
 * and every call that was waiting for the mutex must then return CLOSED,
 * not enter a freed connection (failure 1 of issue 15: a waiter that took
 * its reference only after the mutex locked freed memory and freed the
 * SSL again). */
void lock_section(Incarnation *inc, WorkerState *ws, bool close_inside)
{
    Rng &r = ws->rng;
    unsigned hold = close_inside ? 2 + (unsigned)r.below(20)
                                 : (unsigned)r.below(r.chance(50) ? 2 : 20);
    bool inner = r.chance(30);
    if (!gate_enter(inc, ws))
        return;
    Call call(inc, ws, Fn::LOCK, 0); /* timed like a brief call */
    SSL *ssl = tickless_conn_lock(inc->c);
    if (ssl == nullptr) {
        call.end(0, "tickless_conn_lock = NULL");
        if (!inc->closing)
            fail("tickless_conn_lock(conn %d.%d) returned NULL on a connection "
                 "nobody closed", inc->slot, inc->index);
        gate_exit(ws);
        return;
    }
    (void)SSL_version(ssl);
    (void)SSL_pending(ssl);
    (void)SSL_is_init_finished(ssl);
    if (inner && !inc->closing) {
        /* The header: "no other tickless function on the same connection
         * (that returns TICKLESS_ERR_INVALID rather than deadlocking)". */
        size_t n = 7;
        int rc1 = tickless_conn_stats_reset(inc->c);
        int rc2 = tickless_conn_read(inc->c, ws->rbuf.data(), 1, &n, 0);
        if (rc1 != TICKLESS_ERR_INVALID || rc2 != TICKLESS_ERR_INVALID)
            fail("inside tickless_conn_lock: stats_reset = %s, read = %s; "
                 "both must be TICKLESS_ERR_INVALID", rc_name(rc1), rc_name(rc2));
    }
    if (hold)
        sleep_ms(hold);
    char d[64];
    /* close_conn() waits for the workers that passed the gate to be
     * asleep, those queued on the mutex we hold included; the close ends
     * the section, so there is nothing to unlock after it. */
    if (close_inside && close_conn(inc, ws)) {
        count(C_LOCK_CLOSES);
        snprintf(d, sizeof(d), "lock section of %u ms, closed inside", hold);
        call.end(0, d);
        gate_exit(ws);
        return;
    }
    tickless_conn_unlock(inc->c);
    snprintf(d, sizeof(d), "lock section of %u ms", hold);
    call.end(0, d);
    gate_exit(ws);
}

void op_lock(Incarnation *inc, WorkerState *ws) { lock_section(inc, ws, false); }

/* A call of |fn| that never blocks, made by |call| inside the gate and
 * checked: its result, or 1 if the gate was shut (a close has begun, so
 * no call was made). */
template <class F> int gated_call(Incarnation *inc, WorkerState *ws, Fn fn,
                                  F call_fn)
{
    if (!gate_enter(inc, ws))
        return 1;
    Call call(inc, ws, fn, 0);
    int rc = call.end(call_fn());
    gate_exit(ws);
    return rc;
}

void op_stats(Incarnation *inc, WorkerState *ws)
{
    tickless_stats st = TICKLESS_STATS_INIT;
    (void)gated_call(inc, ws, Fn::STATS,
                     [&] { return tickless_conn_stats(inc->c, &st); });
}

void op_stats_reset(Incarnation *inc, WorkerState *ws)
{
    (void)gated_call(inc, ws, Fn::STATS_RESET,
                     [&] { return tickless_conn_stats_reset(inc->c); });
}

void op_error(Incarnation *inc, WorkerState *ws)
{
    tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
    int rc = gated_call(inc, ws, Fn::ERROR,
                        [&] { return tickless_conn_error(inc->c, &info); });
    if (rc == 0 && (info.code > 0 || info.code < TICKLESS_ERR_MIN_))
        fail("tickless_conn_error gave code %d, no TICKLESS_ERR_*", info.code);
}

/* Half the closes are made from inside a lock section. */
void op_close(Incarnation *inc, WorkerState *ws)
{
    if (ws->rng.chance(50))
        lock_section(inc, ws, true);
    else
        close_conn(inc, ws);
}

/* A duplex connection's workers idle longer: the reader's next read then
 * often starts while the writer is between writes, and blocks first. */
void op_idle(Incarnation *inc, WorkerState *ws)
{
    sleep_ms(inc->duplex ? 20 + (unsigned)ws->rng.below(280)
                         : (unsigned)ws->rng.below(10));
}

struct Op {
    const char *name;
    void (*fn)(Incarnation *, WorkerState *);
    unsigned weight;
};

const Op kOps[] = {
    {"read", op_read, 240},   {"write", op_write, 240},
    {"handshake", op_handshake, 40}, {"lock", op_lock, 80},
    {"stats", op_stats, 30},  {"stats_reset", op_stats_reset, 15},
    {"error", op_error, 30},  {"shutdown", op_shutdown, 1},
    {"close", op_close, 6},   {"idle", op_idle, 50},
};

/* The close's weight is the incarnation's: some live long (data flows,
 * writers fill buffers), some are closed under their calls at once. */
const Op &pick_op(Rng &r, const Incarnation *inc, int id)
{
    auto weight = [&](const Op &o) -> unsigned {
        if (o.fn == op_close)
            return inc->close_weight;
        if (o.fn == op_lock)
            return inc->lock_weight;
        if (o.fn == op_write)
            return id < inc->writers ? inc->io_weight : 0;
        if (o.fn == op_read)
            return inc->duplex && id < inc->writers ? 0 : inc->io_weight;
        if (o.fn == op_idle)
            return inc->idle_weight;
        return o.weight;
    };
    unsigned total = 0;
    for (const Op &o : kOps)
        total += weight(o);
    unsigned x = (unsigned)r.below(total);
    for (const Op &o : kOps) {
        if (x < weight(o))
            return o;
        x -= weight(o);
    }
    return kOps[0];
}

} // namespace

void conn_misc_op(Incarnation *inc, WorkerState *ws)
{
    for (;;) {
        const Op &op = pick_op(ws->rng, inc, ws->id);
        if (op.fn == op_read || op.fn == op_write || op.fn == op_shutdown)
            continue;
        op.fn(inc, ws);
        return;
    }
}

void worker_main(Incarnation *inc, WorkerState *ws)
{
    ws->tid = gettid_();
    ws->rbuf.resize(65536);
    registry_add(ws);
    while (!inc->closing && !inc->quiesce && ws->id >= inc->active)
        sleep_ms(5);
    while (!inc->closing && !inc->quiesce) {
        const Op &op = pick_op(ws->rng, inc, ws->id);
        /* A dead connection is closed sooner: nothing more to learn. */
        if (inc->fatal && ws->rng.chance(5)) {
            close_conn(inc, ws);
            break;
        }
        if (inc->cfg.proto == Proto::STREAM)
            stream_op(inc, ws);
        else
            op.fn(inc, ws);
        if (inc->fatal)
            sleep_ms(1); /* every call fails at once now: do not spin */
    }
    registry_remove(ws);
    ws->done = true;
}

} // namespace torture
