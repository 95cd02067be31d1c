/*
 * srv: the server scenarios, where tickless is the server (--proto
 * qserver, dserver). A run is a series of generations. Each makes a
 * listener on the run's pool and starts |threads| workers looping in its
 * accept call: tickless_listener_accept_stream() (qserver: streams of any
 * connection) or tickless_listener_accept() (dserver: DTLS connections);
 * each worker serves what it got as an echo. |conns| client slots, tickless
 * clients that check every byte echoed back, connect, echo, misbehave
 * (reset streams, vanish without a goodbye) and come again; an interferer
 * thread ends what the workers serve at random (conclude, reset, close).
 * At a random time the listener is closed under the blocked accepts:
 * every worker must then come back with TICKLESS_ERR_CLOSED, soon.
 *
 * The calls go through call.h's checks (documented code, time bound,
 * sleeping while blocked) with a stand-in Incarnation (SrvGen::ctx) that
 * owns no connection: the server side has no tickless_conn of its own
 * (qserver) or one per client (dserver).
 */
#ifndef TORTURE_SRV_H
#define TORTURE_SRV_H

#include <tickless/tickless.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "call.h"
#include "conn.h"
#include "ops.h"
#include "report.h"

extern "C" {
#include "ts_certs.h"
}

namespace torture {

/* What the server scenarios take from their run (scenario.cc). */
struct SrvRun {
    Config cfg;
    tickless_pool *pool = nullptr; /* NULL: dedicated assists */
    SSL_CTX *sctx = nullptr, *cctx = nullptr;
    uint64_t deadline_ns = 0;
};

/* How the server ended what a client sent on (by the client's key). */
enum SrvEnd { END_CONCLUDE = 1, END_RESET, END_CLOSE, END_GIVE_UP };

/* One generation: a listener, its workers, its clients. */
struct SrvGen {
    const SrvRun *run = nullptr;
    int index = 0;
    Incarnation ctx;    /* Call's context; ctx.workers are the server's
                           threads (workers and interferer) */
    tickless_listener *l = nullptr;
    uint16_t port = 0;
    uint64_t close_at_ns = 0;            /* when the listener is closed */
    std::atomic<uint64_t> lclose_ns{0};  /* when its close began (0: no) */
    std::atomic<uint64_t> lclosed_ns{0}; /* when its close returned */
    std::atomic<bool> over{false};       /* clients stop; servers end */
    std::atomic<int> workers_closed{0};  /* accepts that returned CLOSED */

    /* The ledger the clients' checks read: the server records an end it
     * makes before making it, so a client that sees it finds it here. */
    std::mutex mu;
    std::map<uint64_t, int> ends; /* client key -> SrvEnd */
    std::atomic<int> anon_ends{0}; /* ends of clients not yet known */
    /* Served objects the workers left open, closed after the listener is
     * freed (streams: "before or after tickless_listener_free()"). */
    std::vector<tickless_stream *> parked;
    /* qserver: the streams being served, for the interferer (a stream's
     * key_rx is its client's key once read, guarded by |mu| too). */
    std::vector<std::shared_ptr<StreamEntry>> serving;
    /* dserver: the connections being served, each with its gate (an
     * Incarnation whose key_w is its client's key once read, under |mu|). */
    std::vector<std::shared_ptr<Incarnation>> dserving;

    void end(uint64_t key, int how)
    {
        std::lock_guard<std::mutex> g(mu);
        count(C_SERVER_ENDS);
        if (key == 0)
            anon_ends++;
        else
            ends.emplace(key, how);
    }
    bool ended(uint64_t key)
    {
        std::lock_guard<std::mutex> g(mu);
        return ends.count(key) != 0;
    }
    bool closing() const { return lclose_ns.load() != 0; }
    /* What the client did to the stream or connection of |key|, for the
     * server's failure messages ("" if nothing). */
    std::map<uint64_t, std::string> client_did; /* guarded by |mu| */
    void client_note(uint64_t key, const char *what)
    {
        std::lock_guard<std::mutex> g(mu);
        client_did[key] += what;
    }
    std::string client_what(uint64_t key)
    {
        std::lock_guard<std::mutex> g(mu);
        auto it = client_did.find(key);
        return it == client_did.end() ? "nothing" : it->second;
    }
};

/* Runs generations of the run's protocol until its deadline. */
void srv_run(const SrvRun &run);

/* Closes |g|'s listener, timed (no more than 2 s); a second call, as any
 * thread may make, does nothing. */
void srv_close_listener(SrvGen *g);

/* The checks of one accept, returning |rc|: CLOSED only once the close
 * has begun; an accept blocked at the close returns within 2 s; one that
 * starts after it returns CLOSED at once, whatever its timeout. */
int srv_accept_end(SrvGen *g, Call &call, int rc);

/* The check of a generation's listener, just made by |fn| with result
 * |rc|: true if it was, else false after failing the run. */
bool srv_listener_made(SrvGen *g, Fn fn, int rc);

/* A worker's loop around its accept: calls |serve| for what it gets until
 * an accept returns CLOSED, then checks that the next one does too. */
template <class Accept, class Serve>
void srv_worker_loop(SrvGen *g, WorkerState *ws, Fn fn, Accept accept,
                     Serve serve);

/* What a worker accepts from |g|'s listener: a DTLS connection
 * (dserver), or a stream of any connection (qserver). */
inline int srv_accept(SrvGen *g, tickless_conn **c, int timeout)
{
    return tickless_listener_accept(g->l, c, timeout);
}
inline int srv_accept(SrvGen *g, tickless_stream **s, int timeout)
{
    return tickless_listener_accept_stream(g->l, s, timeout);
}

/* A worker's loop (srv_worker_loop()) around srv_accept() of a |T|, the
 * call |fn|: |serve| serves each (a return of 0 with nothing accepted
 * fails the run). */
template <class T, class Serve>
void srv_accept_loop(SrvGen *g, WorkerState *ws, Fn fn, Serve serve)
{
    T *got = nullptr;
    srv_worker_loop(
        g, ws, fn,
        [&](int timeout) {
            got = nullptr;
            return srv_accept(g, &got, timeout);
        },
        [&] {
            if (got == nullptr) {
                fail("gen %d: %s returned 0 with nothing accepted", g->index,
                     fn_name(fn));
                return;
            }
            count(C_SERVED);
            serve(got);
        });
}

/* The bytes clients send (and expect back): a stream whose first 8
 * bytes are its key (non-zero), then the key's pattern, so that the server
 * can check what it reads without being told the key. */
void echo_fill(uint8_t *buf, size_t len, uint64_t key, uint64_t off);
bool echo_is_at(const uint8_t *buf, size_t len, uint64_t key, uint64_t off);

/* The scenarios' halves (srv_quic.cc, srv_quic_client.cc, srv_dtls.cc,
 * srv_dtls_client.cc). A generation's listener is ready when they run. */
int srv_quic_listen(SrvGen *g);
void srv_quic_worker(SrvGen *g, WorkerState *ws);
void srv_quic_interferer(SrvGen *g, WorkerState *ws);
void srv_quic_client(SrvGen *g, int slot);
int srv_dtls_listen(SrvGen *g);
void srv_dtls_worker(SrvGen *g, WorkerState *ws);
void srv_dtls_interferer(SrvGen *g, WorkerState *ws);
void srv_dtls_client(SrvGen *g, int slot);

/* A client SSL_CTX: the run's, or one of its own under TORTURE_OWN_CTX
 * (see scenario.cc). Free it with srv_client_ctx_put(). */
SSL_CTX *srv_client_ctx(const SrvRun &run, Proto p);
void srv_client_ctx_put(const SrvRun &run, SSL_CTX *ctx);

/* A client connection of |g|'s listener, the |idx|th of slot |slot|:
 * its Incarnation, with ci->c made by tickless_conn_new() on the run's
 * pool from a client SSL of |p| (DTLS: with a fast retransmission timer);
 * a return tickless_conn_new() does not document fails the run. Null
 * after a failure, having paused 50 ms (a slot that cannot connect does
 * not spin); else *ctx is the client SSL_CTX, for srv_client_ctx_put()
 * once the connection is closed. */
std::unique_ptr<Incarnation> srv_client_new(SrvGen *g, int slot, int idx,
                                            ts_proto p, SSL_CTX **ctx);

/* A client slot: one connection after the other (|conn|(g, slot, idx,
 * rng) makes the |idx|th and sees it through) until the generation is
 * over, its choices seeded from the run's seed, |salt|, the generation and
 * the slot. */
template <class Conn>
void srv_client_slot(SrvGen *g, int slot, uint64_t salt, Conn conn)
{
    Rng rng(derive_seed(g->run->cfg.seed, salt, (uint64_t)g->index,
                        (uint64_t)slot));
    for (int idx = 0; !g->over; idx++)
        conn(g, slot, idx, rng);
}

/* |n| worker states of the client connection |ci|, each with a PRNG of
 * its own derived from |key| and |salt|, and registered as ci's workers. */
std::vector<std::unique_ptr<WorkerState>>
srv_client_workers(Incarnation *ci, int n, uint64_t key, uint64_t salt);

/* Whether every one of |ws| has returned from its last call. */
bool srv_all_done(const std::vector<std::unique_ptr<WorkerState>> &ws);

/* After a client's connection was closed: its threads |th| (those of
 * |ws|) come out of their calls within 10 s, else the run hangs, saying
 * that |who| are still inside calls; then they are joined. */
void srv_client_join(const SrvRun &run,
                     const std::vector<std::unique_ptr<WorkerState>> &ws,
                     std::vector<std::thread> &th, const char *who);

template <class Accept, class Serve>
void srv_worker_loop(SrvGen *g, WorkerState *ws, Fn fn, Accept accept,
                     Serve serve)
{
    for (;;) {
        int timeout = pick_timeout(ws->rng, true);
        Call call(&g->ctx, ws, fn, timeout);
        int rc = srv_accept_end(g, call, accept(timeout));
        if (rc == TICKLESS_ERR_CLOSED) {
            count(C_ACCEPT_CLOSED);
            break;
        }
        if (rc == 0)
            serve();
        else if (rc != TICKLESS_ERR_TIMEOUT)
            sleep_ms(1); /* documented, but not expected: do not spin */
    }
    g->workers_closed++;
    /* "later accepts return TICKLESS_ERR_CLOSED at once" */
    int timeout = ws->rng.chance(50) ? TICKLESS_FOREVER : pick_timeout(ws->rng, true);
    Call call(&g->ctx, ws, fn, timeout);
    int rc = srv_accept_end(g, call, accept(timeout));
    if (rc != TICKLESS_ERR_CLOSED)
        fail("gen %d: an accept after one returned CLOSED returned %s",
             g->index, rc_name(rc));
}

} // namespace torture

#endif
