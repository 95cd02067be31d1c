/*
 * srv_dtls_client: the checking clients of the dserver scenario (srv.h).
 * A client slot (twice as many as --conns) makes tickless DTLS client
 * connections to the generation's listener, one after the other (the
 * cookie exchange each time); on each a writer sends numbered datagrams,
 * its key first (see srv_dtls.cc), and one or two readers take the
 * echoes. A connection lives 0.1 to 1 s, then shuts down and closes, or
 * vanishes (closed with no shutdown, under blocked calls).
 *
 * Checks, besides call.h's: every echo is one of this client's datagrams
 * (its key: no other client's), whole, at most once, and its write was
 * credited; the connection ends (EOF, PEER, SSL, SYS) only where the
 * server recorded closing it (srv.h's ledger): the listener's close does
 * not end accepted DTLS connections; CLOSED only after our own close.
 */
#include <cinttypes>
#include <cstring>
#include <set>
#include <thread>

#include "pattern.h"
#include "report.h"
#include "srv.h"

extern "C" {
#include "ts_certs.h"
}

namespace torture {

namespace {

struct Client {
    SrvGen *g = nullptr;
    Incarnation *ci = nullptr;
    uint64_t key = 0;
    std::atomic<uint64_t> echoed{0};
    std::set<int64_t> credited; /* guarded by ci->mu */
};

/* Was the end |rc| of a call made by the server? */
void check_end(Client &cl, const char *what, int rc)
{
    SrvGen *g = cl.g;
    const char *why = nullptr;
    bool server_ended = g->ended(cl.key)
                        || (g->anon_ends.load() > 0 && cl.echoed == 0);
    if (rc == TICKLESS_ERR_CLOSED && !cl.ci->closing)
        why = "CLOSED, though we did not close it";
    else if ((rc == TICKLESS_ERR_EOF || rc == TICKLESS_ERR_PEER
              || rc == TICKLESS_ERR_SSL || rc == TICKLESS_ERR_SYS)
             && !server_ended && !cl.ci->closing && !cl.ci->shutdown_begun)
        why = "the connection ended, though the server did not close it "
              "(the listener's close must leave it alone)";
    if (why != nullptr)
        fail("gen %d client %d.%d: %s returned %s (%" PRIu64 " echoes so far, "
             "listener %s): %s", g->index, cl.ci->slot, cl.ci->index, what,
             rc_name(rc), cl.echoed.load(), g->closing() ? "closed" : "open",
             why);
}

void writer(Client &cl, WorkerState *ws)
{
    Incarnation *ci = cl.ci;
    uint8_t buf[8 + kDgramMax];
    int timeout = 500 + (int)ws->rng.below(1500), rc = 0;
    if (gate_enter(ci, ws)) {
        Call call(ci, ws, Fn::HANDSHAKE, timeout, 4096);
        rc = call.end(tickless_conn_handshake(ci->c, timeout));
        gate_exit(ws);
    }
    if (rc != 0 && rc != TICKLESS_ERR_TIMEOUT)
        check_end(cl, "tickless_conn_handshake", rc);
    for (int64_t d = 0; rc == 0 && !ci->closing && !ci->quiesce; d++) {
        memcpy(buf, &cl.key, 8);
        dgram_fill(buf + 8, cl.key, (uint64_t)d);
        size_t len = 8 + dgram_len(cl.key, (uint64_t)d), nw = SIZE_MAX;
        timeout = pick_timeout(ws->rng, true);
        if (!gate_enter(ci, ws))
            break;
        Call call(ci, ws, Fn::WRITE, timeout, len);
        rc = call.end(tickless_conn_write(ci->c, buf, len, &nw, timeout));
        gate_exit(ws);
        if ((rc == 0 && nw != len) || (rc != 0 && nw != 0))
            fail("client: a DTLS write of %zu bytes returned %s with "
                 "nwritten %zu", len, rc_name(rc), nw);
        if (rc == 0) {
            std::lock_guard<std::mutex> lk(ci->mu);
            cl.credited.insert(d);
        } else if (rc != TICKLESS_ERR_TIMEOUT) {
            check_end(cl, "tickless_conn_write", rc);
        } else {
            rc = 0;
        }
        sleep_ms((unsigned)ws->rng.below(4));
    }
}

void reader(Client &cl, WorkerState *ws)
{
    Incarnation *ci = cl.ci;
    while (!ci->closing && !ci->quiesce) {
        int timeout = pick_timeout(ws->rng, true);
        if (!gate_enter(ci, ws))
            break;
        Call call(ci, ws, Fn::READ, timeout);
        size_t n = SIZE_MAX;
        int rc = call.end(tickless_conn_read(ci->c, ws->rbuf.data(),
                                             ws->rbuf.size(), &n, timeout));
        gate_exit(ws);
        if (rc == TICKLESS_ERR_TIMEOUT)
            continue;
        if (rc != 0) {
            check_end(cl, "tickless_conn_read", rc);
            break;
        }
        const uint8_t *b = ws->rbuf.data();
        uint64_t key = 0;
        if (n >= 16)
            memcpy(&key, b, 8);
        int64_t d = key == cl.key ? dgram_identify(b + 8, n - 8, key) : -1;
        if (d < 0) {
            fail("gen %d client %d.%d: an echo of %zu bytes is none of this "
                 "client's datagrams%s", cl.g->index, ci->slot, ci->index, n,
                 n >= 16 && key != cl.key ? " (another client's key)" : "");
            break;
        }
        count(C_READ, n);
        cl.echoed++;
        std::lock_guard<std::mutex> lk(ci->mu);
        if (!ci->dgrams_read.insert(d).second)
            fail("gen %d client %d.%d: datagram %" PRId64 " echoed twice",
                 cl.g->index, ci->slot, ci->index, d);
    }
}

void client_conn(SrvGen *g, int slot, int idx, Rng &rng)
{
    const SrvRun &run = *g->run;
    Client cl;
    cl.g = g;
    cl.key = derive_seed(run.cfg.seed, 24, (uint64_t)g->index,
                         (uint64_t)slot * 100000 + (uint64_t)idx) | 1;
    SSL_CTX *ctx = nullptr;
    std::unique_ptr<Incarnation> ci = srv_client_new(g, slot, idx, TS_DTLS,
                                                     &ctx);
    if (ci == nullptr)
        return;
    cl.ci = ci.get();
    count(C_CONNS);
    bool vanish = rng.chance(40);
    uint64_t end_at = now_ns() + (100 + rng.below(900)) * 1000000ull;
    int nthreads = rng.chance(30) ? 3 : 2;
    std::vector<std::unique_ptr<WorkerState>> ws =
        srv_client_workers(ci.get(), nthreads, cl.key, 25);
    for (auto &w : ws)
        w->rbuf.resize(65536);
    std::vector<std::thread> th;
    for (auto &w : ws)
        th.emplace_back([&cl](WorkerState *me) {
            me->tid = gettid_();
            registry_add(me);
            if (me->id == 0)
                writer(cl, me);
            else
                reader(cl, me);
            registry_remove(me);
            me->done = true;
        }, w.get());
    auto all_done = [&] { return srv_all_done(ws); };
    while (!g->over && now_ns() < end_at && !all_done())
        sleep_ms(5);
    if (vanish) {
        close_conn(ci.get(), nullptr); /* gone, under its blocked calls */
    } else {
        /* The writer stops; readers may stay blocked (FOREVER too) under
         * the shutdown, and the close wakes them. At the generation's end
         * the listener is gone: no waiting. */
        ci->quiesce = true;
        uint64_t wait = g->over ? slack_ns(run.cfg, 200) : slack_ns(run.cfg, 3000);
        if (wait_until(wait, [&] { return ws[0]->done.load(); }) && rng.chance(50)) {
            WorkerState mgr;
            mgr.id = -1;
            ci->shutdown_begun = true;
            Call call(ci.get(), &mgr, Fn::SHUTDOWN, 1000, 4096);
            int r2 = call.end(tickless_conn_shutdown(ci->c, 1000));
            if (r2 == TICKLESS_ERR_CLOSED)
                fail("client: tickless_conn_shutdown returned CLOSED before "
                     "the close");
        }
        close_conn(ci.get(), nullptr);
    }
    srv_client_join(run, ws, th, "a dserver client's threads");
    for (int64_t d : ci->dgrams_read)
        if (cl.credited.count(d) == 0) {
            fail("gen %d client %d.%d: datagram %" PRId64 " was echoed, but "
                 "its write was not credited", g->index, slot, idx, d);
            break;
        }
    srv_client_ctx_put(run, ctx);
}

} // namespace

void srv_dtls_client(SrvGen *g, int slot)
{
    srv_client_slot(g, slot, 26, client_conn);
}

} // namespace torture
