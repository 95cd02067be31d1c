/* srv: a server run's generations and the listener checks; see srv.h. */
#include "srv.h"

#include <cstdlib>
#include <cstring>
#include <thread>

#include "pattern.h"
#include "report.h"

extern "C" {
#include "ts_certs.h"
}

namespace torture {

void echo_fill(uint8_t *buf, size_t len, uint64_t key, uint64_t off)
{
    size_t i = 0;
    for (; i < len && off + i < 8; i++)
        buf[i] = (uint8_t)(key >> (8 * (off + i)));
    if (i < len)
        stream_fill(buf + i, len - i, key, off + i - 8);
}

bool echo_is_at(const uint8_t *buf, size_t len, uint64_t key, uint64_t off)
{
    size_t i = 0;
    for (; i < len && off + i < 8; i++)
        if (buf[i] != (uint8_t)(key >> (8 * (off + i))))
            return false;
    return i == len || stream_is_at(buf + i, len - i, key, off + i - 8);
}

SSL_CTX *srv_client_ctx(const SrvRun &run, Proto p)
{
    static const char *own_env = getenv("TORTURE_OWN_CTX");
    if (own_env == nullptr || *own_env == '\0')
        return run.cctx;
    return ts_client_ctx(p == Proto::DSERVER ? TS_DTLS : TS_QUIC);
}

void srv_client_ctx_put(const SrvRun &run, SSL_CTX *ctx)
{
    if (ctx != run.cctx)
        SSL_CTX_free(ctx);
}

std::unique_ptr<Incarnation> srv_client_new(SrvGen *g, int slot, int idx,
                                            ts_proto p, SSL_CTX **ctx)
{
    const SrvRun &run = *g->run;
    auto ci = std::make_unique<Incarnation>();
    ci->cfg = run.cfg;
    ci->slot = slot;
    ci->index = idx;
    *ctx = srv_client_ctx(run, run.cfg.proto);
    SSL *ssl = *ctx != nullptr ? ts_client_new(*ctx, p, g->port) : nullptr;
    if (ssl != nullptr && p == TS_DTLS)
        ts_dtls_fast_timer(ssl);
    int rc = ssl != nullptr ? tickless_conn_new(ssl, run.pool, &ci->c) : -1;
    if (ssl != nullptr && !documented(Fn::CONN_NEW, rc))
        fail("tickless_conn_new returned undocumented %d", rc);
    if (rc == 0)
        return ci;
    if (ssl == nullptr)
        fail("client %d: no %s client SSL (harness)", slot, ts_proto_name(p));
    SSL_free(ssl);
    srv_client_ctx_put(run, *ctx);
    sleep_ms(50);
    return nullptr;
}

std::vector<std::unique_ptr<WorkerState>>
srv_client_workers(Incarnation *ci, int n, uint64_t key, uint64_t salt)
{
    std::vector<std::unique_ptr<WorkerState>> ws;
    for (int w = 0; w < n; w++) {
        ws.emplace_back(new WorkerState);
        ws.back()->id = w;
        ws.back()->rng = Rng(derive_seed(key, salt, (uint64_t)w));
        ci->workers.push_back(ws.back().get());
    }
    return ws;
}

bool srv_all_done(const std::vector<std::unique_ptr<WorkerState>> &ws)
{
    for (auto &w : ws)
        if (!w->done)
            return false;
    return true;
}

void srv_client_join(const SrvRun &run,
                     const std::vector<std::unique_ptr<WorkerState>> &ws,
                     std::vector<std::thread> &th, const char *who)
{
    if (!wait_until(slack_ns(run.cfg, 10000),
                    [&] { return srv_all_done(ws); }))
        hang((std::string(who) + " still inside calls 10 s after its "
              "connection was closed:\n" + registry_dump()).c_str());
    for (auto &t : th)
        t.join();
}

bool srv_listener_made(SrvGen *g, Fn fn, int rc)
{
    if (documented(fn, rc) && rc == 0)
        return true;
    fail("gen %d: %s = %s", g->index, fn_name(fn), rc_name(rc));
    return false;
}

void srv_close_listener(SrvGen *g)
{
    uint64_t zero = 0, t0 = now_ns();
    bool first = g->lclose_ns.compare_exchange_strong(zero, t0);
    tickless_listener_close(g->l);
    uint64_t t1 = now_ns();
    if (first)
        g->lclosed_ns = t1;
    if (t1 - t0 > slack_ns(g->ctx.cfg, 2000))
        fail("gen %d: tickless_listener_close took %.0f ms", g->index,
             (double)(t1 - t0) / 1e6);
}

int srv_accept_end(SrvGen *g, Call &call, int rc)
{
    call.end(rc);
    const Config &cfg = g->ctx.cfg;
    uint64_t begun = g->lclose_ns.load(), done = g->lclosed_ns.load();
    if (rc == TICKLESS_ERR_CLOSED && (begun == 0 || call.t1 < begun))
        fail("gen %d: %s returned CLOSED before the listener's close began",
             g->index, fn_name(call.fn));
    if (done != 0 && call.t0 > done && rc != TICKLESS_ERR_CLOSED)
        fail("gen %d: %s started after the listener was closed returned %s, "
             "not CLOSED", g->index, fn_name(call.fn), rc_name(rc));
    /* Blocked at the close or started after it: back within 2 s of the
     * close's end, whatever the timeout (FOREVER too). */
    if (done != 0 && call.t1 > done
        && call.t1 - (call.t0 > done ? call.t0 : done) > slack_ns(cfg, 2000))
        fail("gen %d: %s (timeout %d) returned %.0f ms after the listener's "
             "close", g->index, fn_name(call.fn), call.timeout,
             (double)(call.t1 - done) / 1e6);
    return rc;
}

namespace {

/* One generation: listener, workers, interferer, clients; the close at a
 * random time; the checks that everything came back. */
void generation(const SrvRun &run, int index, Rng &rng)
{
    const Config &cfg = run.cfg;
    bool quic = cfg.proto == Proto::QSERVER;
    auto g = std::make_unique<SrvGen>();
    g->run = &run;
    g->index = index;
    g->ctx.cfg = cfg;
    g->ctx.slot = -1;
    g->ctx.index = index;
    if ((quic ? srv_quic_listen(g.get()) : srv_dtls_listen(g.get())) != 0) {
        sleep_ms(100);
        return;
    }
    count(C_LISTENERS);
    /* Closed under load: somewhere in the next 0.3 to 2.5 s, or at the
     * run's end. */
    uint64_t t = now_ns() + 300000000ull + rng.below(2200) * 1000000ull;
    g->close_at_ns = t < run.deadline_ns ? t : run.deadline_ns;

    std::vector<std::unique_ptr<WorkerState>> ws;
    for (int w = 0; w <= cfg.threads; w++) { /* the last one interferes */
        ws.emplace_back(new WorkerState);
        ws.back()->id = w;
        ws.back()->rng = Rng(derive_seed(cfg.seed, 20, (uint64_t)index, (uint64_t)w));
        ws.back()->rbuf.resize(65536);
        g->ctx.workers.push_back(ws.back().get());
    }
    std::vector<std::thread> servers, clients;
    for (int w = 0; w <= cfg.threads; w++)
        servers.emplace_back([&, w] {
            WorkerState *me = ws[(size_t)w].get();
            me->tid = gettid_();
            registry_add(me);
            if (w == cfg.threads)
                (quic ? srv_quic_interferer : srv_dtls_interferer)(g.get(), me);
            else
                (quic ? srv_quic_worker : srv_dtls_worker)(g.get(), me);
            registry_remove(me);
            me->done = true;
        });
    /* DTLS clients are short-lived: twice as many slots. */
    for (int s = 0; s < cfg.conns * (quic ? 1 : 2); s++)
        clients.emplace_back(quic ? srv_quic_client : srv_dtls_client, g.get(), s);

    while (now_ns() < g->close_at_ns)
        sleep_ms(5);
    /* Now and then a second thread closes it at the same time. */
    std::thread second;
    if (rng.chance(25))
        second = std::thread([&] { srv_close_listener(g.get()); });
    srv_close_listener(g.get());
    if (second.joinable())
        second.join();
    /* Workers blocked in accepts come back at once; a DTLS worker that
     * serves a client first finishes with it, and the end of the
     * generation closes what it serves. DTLS connections outlive their
     * listener: the clients go on a while, and must not see an end. */
    if (!quic)
        sleep_ms(300);
    g->over = true;
    auto workers_done = [&] {
        for (int w = 0; w < cfg.threads; w++)
            if (!ws[(size_t)w]->done)
                return false;
        return true;
    };
    if (!wait_until(slack_ns(cfg, 10000), workers_done))
        hang(("gen " + std::to_string(index) + ": workers did not all return "
              "CLOSED within 10 s of the listener's close:\n" + registry_dump())
                 .c_str());
    for (auto &th : servers)
        th.join();
    for (auto &th : clients)
        th.join();
    if (g->workers_closed != cfg.threads)
        fail("gen %d: %d of %d workers saw CLOSED", index,
             g->workers_closed.load(), cfg.threads);
    tickless_listener_free(g->l);
    for (tickless_stream *s : g->parked)
        tickless_stream_close(s);
}

} // namespace

void srv_run(const SrvRun &run)
{
    Rng rng(derive_seed(run.cfg.seed, 19));
    for (int idx = 0; now_ns() < run.deadline_ns; idx++)
        generation(run, idx, rng);
}

} // namespace torture
