/*
 * srv_quic_client: the checking clients of the qserver scenario (srv.h).
 * A client slot makes tickless QUIC client connections to the generation's
 * listener, one after the other; each has 1 to |threads| stream threads
 * that open streams one after the other, send each its own keyed bytes
 * (echo_fill()) a chunk at a time, read the echo back, conclude and read
 * to the server's FIN. Some streams are reset half-way; some connections
 * vanish at a random time (closed with no shutdown, under blocked calls).
 *
 * Checks, besides call.h's: every byte echoed is the byte sent at that
 * offset, and was sent; an early end of a stream (EOF before the whole
 * echo, STREAM_RESET) only where the server recorded ending it (srv.h's
 * ledger) or its listener was closing; CLOSED only after our own close or
 * reset; the connection fails (PEER, SSL, SYS) only once the listener's
 * close has begun: a served stream's end must stay on that stream.
 */
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <thread>

#include "report.h"
#include "srv.h"

extern "C" {
#include "ts_certs.h"
}

namespace torture {

#if TS_HAVE_QUIC

namespace {

constexpr uint64_t kClientResetCode = 0xc1;

struct CStream {
    SrvGen *g;
    Incarnation *ci;
    WorkerState *ws;
    tickless_stream *s = nullptr;
    uint64_t key = 0, total = 0, tx = 0, rx = 0;
    bool reset_by_us = false;
    uint64_t t_start = 0;
};

/* An error |rc| ended the stream |cs|: fails unless something excuses
 * it. */
void check_end(CStream &cs, const char *what, int rc)
{
    SrvGen *g = cs.g;
    bool server_ended = g->ended(cs.key) || g->closing();
    const char *why = nullptr;
    switch (rc) {
    case TICKLESS_ERR_EOF:
        if (cs.rx < cs.tx && !server_ended)
            why = "EOF before the whole echo, though the server did not end "
                  "the stream";
        break;
    case TICKLESS_ERR_STREAM_RESET:
        if (!server_ended)
            why = "STREAM_RESET, though the server did not end the stream";
        break;
    case TICKLESS_ERR_CLOSED:
        if (!cs.ci->closing && !cs.reset_by_us)
            why = "CLOSED, though we closed neither the stream nor the "
                  "connection";
        break;
    case TICKLESS_ERR_PEER:
    case TICKLESS_ERR_SSL:
    case TICKLESS_ERR_SYS:
        if (!g->closing() && !cs.ci->closing)
            why = "the connection failed, though the server only ever ends "
                  "streams before its listener is closed";
        break;
    default:
        break;
    }
    if (why != nullptr)
        fail("gen %d client %d.%d: %s returned %s after %" PRIu64 " of %" PRIu64
             " bytes echoed (%" PRIu64 " sent): %s", g->index, cs.ci->slot,
             cs.ci->index, what, rc_name(rc), cs.rx, cs.total, cs.tx, why);
}

/* One stream call through the connection's gate; false (nothing called)
 * once its close has begun. */
template <class F> bool gated(CStream &cs, Fn fn, int timeout, size_t bytes,
                              F f, int *rc)
{
    if (!gate_enter(cs.ci, cs.ws))
        return false;
    Call call(cs.ci, cs.ws, fn, timeout, bytes);
    *rc = call.end(f());
    gate_exit(cs.ws);
    return true;
}

/* Reads the echo up to |cs.tx| (or to EOF when |to_eof|); false when the
 * stream is done with. */
bool read_echo(CStream &cs, bool to_eof)
{
    WorkerState *ws = cs.ws;
    while (to_eof || cs.rx < cs.tx) {
        int timeout = pick_timeout(ws->rng, true);
        size_t len = 1 + (size_t)ws->rng.below(ws->rng.chance(70) ? 65536 : 64);
        size_t n = SIZE_MAX;
        int rc;
        if (!gated(cs, Fn::STREAM_READ, timeout, 0, [&] {
                return tickless_stream_read(cs.s, ws->rbuf.data(), len, &n, timeout);
            }, &rc))
            return false;
        if (n == SIZE_MAX || (rc == 0 && (n == 0 || n > len)) || (rc != 0 && n != 0)) {
            fail("client: tickless_stream_read returned %s with nread %zu of %zu",
                 rc_name(rc), n, len);
            return false;
        }
        if (rc == TICKLESS_ERR_TIMEOUT) {
            if (now_ns() - cs.t_start > slack_ns(cs.ci->cfg, 6000))
                return false; /* the caller resets it */
            continue;
        }
        if (rc == TICKLESS_ERR_EOF && to_eof && cs.rx == cs.tx)
            return false; /* the whole echo, then the server's FIN */
        if (rc != 0) {
            check_end(cs, "tickless_stream_read", rc);
            return false;
        }
        count(C_READ, n);
        if (cs.rx + n > cs.tx || !echo_is_at(ws->rbuf.data(), n, cs.key, cs.rx)) {
            fail("gen %d client %d.%d: %zu bytes echoed at offset %" PRIu64
                 " are not what was sent there (%" PRIu64 " sent, key %016"
                 PRIx64 ")", cs.g->index, cs.ci->slot, cs.ci->index, n, cs.rx,
                 cs.tx, cs.key);
            return false;
        }
        cs.rx += n;
    }
    return true;
}

void one_stream(SrvGen *g, Incarnation *ci, WorkerState *ws, uint64_t n)
{
    Rng &r = ws->rng;
    CStream cs{g, ci, ws};
    cs.key = derive_seed(ci->key_w, (uint64_t)ws->id, n) | 1;
    cs.total = 1 + r.below(r.chance(20) ? 1u << 20 : 65536);
    uint64_t reset_at = r.chance(10) ? r.below(cs.total) : UINT64_MAX;
    cs.t_start = now_ns();
    {
        std::lock_guard<std::mutex> lk(ci->mu);
        ci->conn_keys.push_back(cs.key);
    }
    int timeout = pick_timeout(r, true), rc;
    if (!gated(cs, Fn::STREAM_OPEN, timeout, 4096, [&] {
            return tickless_stream_open(ci->c, 0, &cs.s, timeout);
        }, &rc))
        return;
    if (rc != 0) {
        check_end(cs, "tickless_stream_open", rc);
        return;
    }
    std::vector<uint8_t> buf;
    bool live = true;
    while (live && cs.tx < cs.total) {
        if (cs.tx >= reset_at)
            break;
        size_t len = (size_t)std::min<uint64_t>(1 + r.below(16384), cs.total - cs.tx);
        buf.resize(len);
        echo_fill(buf.data(), len, cs.key, cs.tx);
        timeout = pick_timeout(r, true);
        size_t nw = SIZE_MAX;
        if (!gated(cs, Fn::STREAM_WRITE, timeout, len, [&] {
                return tickless_stream_write(cs.s, buf.data(), len, &nw, timeout);
            }, &rc))
            break;
        if (nw > len || (rc == 0 && nw != len)) {
            fail("client: tickless_stream_write returned %s with nwritten %zu "
                 "of %zu", rc_name(rc), nw, len);
            break;
        }
        cs.tx += nw;
        count(C_WRITTEN, nw);
        if (rc != 0 && rc != TICKLESS_ERR_TIMEOUT) {
            check_end(cs, "tickless_stream_write", rc);
            live = false;
        } else {
            live = read_echo(cs, false);
        }
    }
    if (live && cs.tx == cs.total) {
        g->client_note(cs.key, "conclude; ");
        if (gated(cs, Fn::STREAM_CONCLUDE, 0, 0,
                  [&] { return tickless_stream_conclude(cs.s); }, &rc)
            && rc == 0)
            read_echo(cs, true);
        else if (rc != 0)
            check_end(cs, "tickless_stream_conclude", rc);
    } else if (!ci->closing && cs.tx < cs.total) {
        /* Reset half-way, or given up on: the server's read sees it. */
        cs.reset_by_us = true;
        g->client_note(cs.key, "reset; ");
        (void)gated(cs, Fn::STREAM_RESET, 0, 0, [&] {
            return tickless_stream_reset(cs.s, kClientResetCode);
        }, &rc);
    }
    g->client_note(cs.key, ci->closing ? "close (connection closing); " : "close; ");
    tickless_stream_close(cs.s);
}

/* Notes |what| for the keys of every stream |ci| had. */
void note_conn(SrvGen *g, Incarnation *ci, const char *what)
{
    std::lock_guard<std::mutex> lk(ci->mu);
    for (uint64_t k : ci->conn_keys)
        g->client_note(k, what);
}

void stream_thread(SrvGen *g, Incarnation *ci, WorkerState *ws)
{
    ws->tid = gettid_();
    ws->rbuf.resize(65536);
    registry_add(ws);
    for (uint64_t n = 0; !ci->closing && !ci->quiesce && !ci->fatal; n++)
        one_stream(g, ci, ws, n);
    registry_remove(ws);
    ws->done = true;
}

void client_conn(SrvGen *g, int slot, int idx, Rng &rng)
{
    const SrvRun &run = *g->run;
    SSL_CTX *ctx = nullptr;
    std::unique_ptr<Incarnation> ci = srv_client_new(g, slot, idx, TS_QUIC,
                                                     &ctx);
    if (ci == nullptr)
        return;
    ci->key_w = derive_seed(run.cfg.seed, 22, (uint64_t)g->index,
                            (uint64_t)slot * 100000 + (uint64_t)idx);
    count(C_CONNS);
    bool vanish = rng.chance(30);
    uint64_t end_at = now_ns() + (vanish ? rng.below(1500) : 300 + rng.below(1700))
                                     * 1000000ull;
    int nthreads = 1 + (int)rng.below((uint64_t)run.cfg.threads);
    std::vector<std::unique_ptr<WorkerState>> ws =
        srv_client_workers(ci.get(), nthreads, ci->key_w, 23);
    std::vector<std::thread> th;
    for (auto &w : ws)
        th.emplace_back(stream_thread, g, ci.get(), w.get());
    auto all_done = [&] { return srv_all_done(ws); };
    while (!g->over && !all_done() && now_ns() < end_at)
        sleep_ms(5);
    if (!g->over && vanish) {
        note_conn(g, ci.get(), "connection vanishing; ");
        close_conn(ci.get(), nullptr); /* gone, under its blocked calls */
    } else {
        ci->quiesce = true;
        uint64_t wait = g->over ? slack_ns(run.cfg, 200) : slack_ns(run.cfg, 3000);
        if (wait_until(wait, all_done) && !g->closing()
            && rng.chance(50)) {
            WorkerState mgr;
            mgr.id = -1;
            ci->shutdown_begun = true;
            note_conn(g, ci.get(), "connection shutting down; ");
            Call call(ci.get(), &mgr, Fn::SHUTDOWN, 2000, 4096);
            (void)call.end(tickless_conn_shutdown(ci->c, 2000));
        }
        note_conn(g, ci.get(), "connection closing; ");
        close_conn(ci.get(), nullptr);
    }
    srv_client_join(run, ws, th, "a qserver client's stream threads");
    srv_client_ctx_put(run, ctx);
}

} // namespace

void srv_quic_client(SrvGen *g, int slot)
{
    srv_client_slot(g, slot, 21, client_conn);
}

#else

void srv_quic_client(SrvGen *, int) {}

#endif

} // namespace torture
