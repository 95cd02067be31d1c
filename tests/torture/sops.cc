/*
 * sops: the stream operations (QUIC stream mode). Workers open streams,
 * accept the peer's, and pick among the live ones at random to read,
 * write, conclude, reset, close, ask for the peer's error code or the ID;
 * now and then a connection-level operation (ops.cc) instead.
 *
 * Every stream call goes through the connection's gate and the stream's
 * own (sgate_enter): a stream is closed like a connection, after its
 * users have entered the library (the header allows closing a stream
 * under blocked calls, not calls that start afterwards).
 *
 * Each worker writes on each stream its own writer stream (pattern.h, keyed
 * by the stream ID), so the peer's record of a stream is checked as a TLS
 * connection's is; the peer sends each stream its own keyed pattern.
 */
#include <cinttypes>
#include <cstdio>

#include "call.h"
#include "conn.h"
#include "ops.h"
#include "pattern.h"
#include "report.h"

namespace torture {

namespace {

constexpr size_t kMaxStreams = 5;             /* live streams per connection */
constexpr uint64_t kOurResetCode = 0x77; /* our RESET_STREAM code */
constexpr uint64_t kStreamWriterLimit = 8u << 20; /* per worker per stream */

/* QUIC stream ID bits: 0x1 server-initiated, 0x2 unidirectional. */
bool id_server(uint64_t id) { return (id & 1) != 0; }
bool id_uni(uint64_t id) { return (id & 2) != 0; }

size_t live_streams(Incarnation *inc)
{
    std::lock_guard<std::mutex> g(inc->mu);
    size_t n = 0;
    for (auto &e : inc->streams)
        n += !e->closing;
    return n;
}

/* need: 0 any, 1 readable, 2 writable. A stream we ended is rarely
 * picked to write on: once is enough to check what that does, and the
 * rest of the time the connection's other streams are what is tested. */
std::shared_ptr<StreamEntry> pick_stream(Incarnation *inc, Rng &r, int need)
{
    bool ended_ok = need != 2 || r.chance(3);
    std::lock_guard<std::mutex> g(inc->mu);
    std::vector<std::shared_ptr<StreamEntry>> c;
    for (auto &e : inc->streams)
        if (!e->closing && (need != 1 || e->can_read)
            && (need != 2 || (e->can_write && (ended_ok || !e->ended))))
            c.push_back(e);
    if (c.empty())
        return nullptr;
    return c[r.below(c.size())];
}

void add_stream(Incarnation *inc, tickless_stream *s, bool local, bool uni)
{
    auto e = std::make_shared<StreamEntry>();
    e->s = s;
    e->local = local;
    e->id = tickless_stream_id(s);
    if (e->id == UINT64_MAX)
        fail("conn %d.%d: tickless_stream_id of a live stream is UINT64_MAX",
             inc->slot, inc->index);
    else if (local && (id_server(e->id) || id_uni(e->id) != uni))
        fail("conn %d.%d: tickless_stream_open(%s) gave stream ID %" PRIu64
             ", not a client-initiated %s one", inc->slot, inc->index,
             uni ? "UNI" : "bidi", e->id, uni ? "unidirectional" : "bidirectional");
    else if (!local && !id_server(e->id))
        fail("conn %d.%d: tickless_stream_accept gave stream ID %" PRIu64
             ", which the client itself initiated", inc->slot, inc->index, e->id);
    bool u = id_uni(e->id);
    e->can_read = !(u && local);
    e->can_write = !(u && !local);
    e->key_w = derive_seed(inc->key_w, e->id);
    e->key_rx = derive_seed(inc->peer.key_tx, e->id);
    e->w_off.assign((size_t)inc->cfg.threads, 0);
    e->w_seq.assign((size_t)inc->cfg.threads, 0);
    std::lock_guard<std::mutex> g(inc->mu);
    inc->streams.push_back(std::move(e));
}

/* A new stream, inside the gate: |call| (Call |c|) opens or accepts it
 * (|make| does, given where to put the handle), and what it returns joins
 * the connection's streams (add_stream(|local|, |uni|)). */
template <class Make>
void new_stream(Incarnation *inc, WorkerState *ws, Call &&c, bool local,
                bool uni, const char *call, Make make)
{
    tickless_stream *s = nullptr;
    int rc = c.end(make(&s));
    gate_exit(ws);
    if (rc == 0 && s == nullptr)
        fail("%s returned 0 without a stream", call);
    else if (rc == 0)
        add_stream(inc, s, local, uni);
}

void op_open(Incarnation *inc, WorkerState *ws)
{
    Rng &r = ws->rng;
    if (live_streams(inc) >= kMaxStreams)
        return;
    bool uni = r.chance(20);
    int timeout = pick_timeout(r, true);
    if (!gate_enter(inc, ws))
        return;
    new_stream(inc, ws, Call(inc, ws, Fn::STREAM_OPEN, timeout, 4096), true,
               uni, "tickless_stream_open", [&](tickless_stream **s) {
                   return tickless_stream_open(
                       inc->c, uni ? TICKLESS_STREAM_UNI : 0, s, timeout);
               });
}

void op_accept(Incarnation *inc, WorkerState *ws)
{
    Rng &r = ws->rng;
    if (live_streams(inc) >= kMaxStreams + 2)
        return;
    int timeout = pick_timeout(r, true);
    if (!gate_enter(inc, ws))
        return;
    new_stream(inc, ws, Call(inc, ws, Fn::STREAM_ACCEPT, timeout), false,
               false, "tickless_stream_accept", [&](tickless_stream **s) {
                   return tickless_stream_accept(inc->c, s, timeout);
               });
}

void op_sread(Incarnation *inc, WorkerState *ws)
{
    Rng &r = ws->rng;
    auto e = pick_stream(inc, r, 1);
    if (e == nullptr) {
        sleep_ms(1);
        return;
    }
    size_t len = 1 + (size_t)r.below(r.chance(70) ? 65536 : 64);
    int timeout = pick_timeout(r, true);
    if (!sgate_enter(inc, ws, e.get()))
        return;
    Call call(inc, ws, Fn::STREAM_READ, timeout);
    size_t n = SIZE_MAX;
    int rc = tickless_stream_read(e->s, ws->rbuf.data(), len, &n, timeout);
    char d[96];
    snprintf(d, sizeof(d), "stream %" PRIu64 " len %zu nread %zu", e->id, len, n);
    call.end(rc, d);
    sgate_exit(ws);

    if (n == SIZE_MAX)
        fail("tickless_stream_read did not write *nread (%s, %s)", rc_name(rc), d);
    else if (rc == 0 && (n == 0 || n > len))
        fail("tickless_stream_read returned 0 with %s", d);
    else if (rc != 0 && n != 0)
        fail("tickless_stream_read returned %s with %s: bytes lost", rc_name(rc), d);
    bool ok = rc == 0 && n != SIZE_MAX && n > 0 && n <= len;
    ReadPiece piece;
    if (ok) {
        count(C_READ, n);
        piece.len = n;
        piece.off = UINT64_MAX;
        const uint8_t *b = ws->rbuf.data();
        if (n >= 15) {
            if (stream_locate(b, n, e->key_rx, &piece.off) != 0) {
                fail("conn %d.%d: a read of stream %" PRIu64 " returned %zu bytes "
                     "found nowhere in the peer's pattern for it", inc->slot,
                     inc->index, e->id, n);
                ok = false;
            }
        } else {
            piece.bytes.assign(b, b + n);
        }
    }
    std::lock_guard<std::mutex> g(inc->mu);
    e->calls.push_back(StreamCall{false, ws->id, call.t0, call.t1, rc, timeout,
                                  len, n == SIZE_MAX ? 0 : n, call.cpu1 - call.cpu0});
    if (rc == TICKLESS_ERR_EOF)
        e->read_eof = true;
    if (ok)
        e->reads.push_back(std::move(piece));
}

void op_swrite(Incarnation *inc, WorkerState *ws)
{
    Rng &r = ws->rng;
    if (ws->id >= inc->writers)
        return;
    auto e = pick_stream(inc, r, 2);
    if (e == nullptr) {
        sleep_ms(1);
        return;
    }
    /* Big writes too: a stream's credit (512 KiB at first) runs out while
     * its peer pauses, and several writers then wait on it at once. */
    uint64_t x = r.below(100);
    size_t len = 1 + (size_t)r.below(x < 40 ? 16384 : x < 80 ? 262144 : 1u << 20);
    uint64_t off = e->w_off[(size_t)ws->id];
    uint32_t seq = e->w_seq[(size_t)ws->id];
    if (off + len > kStreamWriterLimit)
        return;
    int timeout = pick_timeout(r, true);
    if (ws->wbuf.size() < len)
        ws->wbuf.resize(len);
    writer_fill(ws->wbuf.data(), len, e->key_w, (unsigned)ws->id, seq, off);
    if (!sgate_enter(inc, ws, e.get()))
        return;
    e->writing++;
    Call call(inc, ws, Fn::STREAM_WRITE, timeout, len);
    size_t nw = SIZE_MAX;
    int rc = tickless_stream_write(e->s, ws->wbuf.data(), len, &nw, timeout);
    e->writing--;
    char d[128];
    snprintf(d, sizeof(d), "stream %" PRIu64 " writer %d call %u off %" PRIu64
             " len %zu nwritten %zu", e->id, ws->id, seq, off, len, nw);
    call.end(rc, d);
    sgate_exit(ws);

    if (nw == SIZE_MAX) {
        fail("tickless_stream_write did not write *nwritten (%s)", d);
        nw = 0;
    } else if (nw > len || (rc == 0 && nw != len)
               || (rc == TICKLESS_ERR_TIMEOUT && nw >= len)) {
        fail("tickless_stream_write returned %s with %s", rc_name(rc), d);
        if (nw > len)
            nw = len;
    }
    count(C_WRITTEN, nw);
    std::lock_guard<std::mutex> g(inc->mu);
    e->writes.push_back(WriteCall{(unsigned)ws->id, seq, off, len, nw, rc});
    e->calls.push_back(StreamCall{true, ws->id, call.t0, call.t1, rc, timeout,
                                  len, nw, call.cpu1 - call.cpu0});
    e->w_off[(size_t)ws->id] += nw;
    e->w_seq[(size_t)ws->id]++;
}

/* Ends our sending side: FIN (conclude) or RESET_STREAM (reset). */
void op_end(Incarnation *inc, WorkerState *ws, bool reset)
{
    auto e = pick_stream(inc, ws->rng, 2);
    if (e == nullptr)
        return;
    /* Mostly when nobody writes on it: an end under a write is checked,
     * but a connection that lives on is where the other checks bite. */
    if (e->writing.load() > 0 && ws->rng.chance(75))
        return;
    if (!sgate_enter(inc, ws, e.get()))
        return;
    Call call(inc, ws, reset ? Fn::STREAM_RESET : Fn::STREAM_CONCLUDE, 0);
    int rc = reset ? tickless_stream_reset(e->s, kOurResetCode) : tickless_stream_conclude(e->s);
    char d[48];
    snprintf(d, sizeof(d), "stream %" PRIu64, e->id);
    call.end(rc, d);
    sgate_exit(ws);
    if (rc != 0)
        return;
    e->ended = true;
    std::lock_guard<std::mutex> g(inc->mu);
    if (e->ended_t1 == 0) {
        e->ended_t0 = call.t0;
        e->ended_t1 = call.t1;
        e->ended_by_reset = reset;
    }
}

void op_conclude(Incarnation *inc, WorkerState *ws) { op_end(inc, ws, false); }
void op_reset(Incarnation *inc, WorkerState *ws) { op_end(inc, ws, true); }

void op_peer_error(Incarnation *inc, WorkerState *ws)
{
    auto e = pick_stream(inc, ws->rng, 0);
    if (e == nullptr)
        return;
    if (!sgate_enter(inc, ws, e.get()))
        return;
    Call call(inc, ws, Fn::STREAM_PEER_ERROR, 0);
    uint64_t code = 12345;
    int rc = call.end(tickless_stream_peer_error(e->s, &code));
    sgate_exit(ws);
    if (rc > 1)
        fail("tickless_stream_peer_error returned %d: 0 or 1 documented", rc);
    else if (rc == 0 && code != 0)
        fail("tickless_stream_peer_error returned 0 with *app_error %" PRIu64
             " (must be 0)", code);
    if (rc == 1) {
        std::lock_guard<std::mutex> g(inc->mu);
        e->peer_codes.push_back(code);
    }
}

void op_id(Incarnation *inc, WorkerState *ws)
{
    auto e = pick_stream(inc, ws->rng, 0);
    if (e == nullptr || !sgate_enter(inc, ws, e.get()))
        return;
    uint64_t id = tickless_stream_id(e->s);
    sgate_exit(ws);
    if (id != e->id)
        fail("tickless_stream_id changed from %" PRIu64 " to %" PRIu64, e->id, id);
}

void op_sclose(Incarnation *inc, WorkerState *ws)
{
    auto e = pick_stream(inc, ws->rng, 0);
    if (e != nullptr)
        close_stream(inc, e.get(), ws);
}

struct SOp {
    void (*fn)(Incarnation *, WorkerState *);
    unsigned weight;
};

} // namespace

bool sgate_enter(Incarnation *inc, WorkerState *ws, StreamEntry *e)
{
    if (!gate_enter(inc, ws))
        return false;
    ws->cur_stream.store(e);
    if (e->closing.load()) {
        ws->cur_stream.store(nullptr);
        gate_exit(ws);
        return false;
    }
    return true;
}

void sgate_exit(WorkerState *ws)
{
    ws->cur_stream.store(nullptr);
    gate_exit(ws);
}

/* Closes |e| once: its users are inside the library first (asleep, or
 * 100 ms after they entered), as for a connection in close_conn(). */
void close_stream(Incarnation *inc, StreamEntry *e, WorkerState *self)
{
    if (e->closing.exchange(true))
        return;
    e->close_ns = now_ns();
    for (WorkerState *ws : inc->workers) {
        if (ws == self)
            continue;
        while (ws->cur_stream.load() == e && !thread_sleeping(ws->tid)
               && now_ns() - ws->gate_ns < 100000000ull)
            sleep_ms(1);
    }
    tickless_stream_close(e->s);
}

void stream_op(Incarnation *inc, WorkerState *ws)
{
    /* Reads and writes follow the incarnation's io weight; the rest are
     * rarer, so streams live long enough to fill their credit. */
    const SOp ops[] = {
        {op_open, 25},       {op_accept, 15},
        {op_sread, inc->io_weight},
        {op_swrite, ws->id < inc->writers ? inc->io_weight : 0},
        {op_conclude, 5},    {op_reset, 2},   {op_sclose, 3},
        {op_peer_error, 10}, {op_id, 5},      {conn_misc_op, 40},
    };
    unsigned total = 0;
    for (const SOp &o : ops)
        total += o.weight;
    unsigned x = (unsigned)ws->rng.below(total);
    for (const SOp &o : ops) {
        if (x < o.weight) {
            o.fn(inc, ws);
            return;
        }
        x -= o.weight;
    }
}

void close_all_streams(Incarnation *inc)
{
    std::vector<std::shared_ptr<StreamEntry>> v;
    {
        std::lock_guard<std::mutex> g(inc->mu);
        v = inc->streams;
    }
    for (auto &e : v)
        close_stream(inc, e.get(), nullptr);
}

} // namespace torture
