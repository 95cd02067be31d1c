/*
 * srv_dtls: the server of the dserver scenario (srv.h). A
 * tickless_listener_new_dtls() listener whose workers loop in
 * tickless_listener_accept() and serve each connection they get as an
 * echo: handshake, then every datagram read is written back. A worker
 * gives a client up after 1.5 s without a datagram (a DTLS client that
 * vanished says nothing). The interferer closes served connections at
 * random, and at the generation's end all of them; each close goes
 * through the connection's gate (close_conn()) and is recorded, by the
 * client's key when known, before it is made.
 *
 * Checks, besides call.h's: every datagram is one the client made (its
 * key, then dgram_fill()'s bytes), and every datagram of one connection
 * carries the same key (a socket per client: no datagram of another client
 * may arrive on it); a read or write returns CLOSED only after our close;
 * the accepts' checks of srv.cc.
 */
#include <sys/socket.h>
#include <unistd.h>

#include <cinttypes>
#include <cstring>

#include "pattern.h"
#include "report.h"
#include "srv.h"

extern "C" {
#include "ts_net.h"
}

namespace torture {

namespace {

uint64_t served_key(SrvGen *g, Incarnation *sc)
{
    std::lock_guard<std::mutex> lk(g->mu);
    return sc->key_w;
}

/* Records the end, then closes (once). */
void end_conn(SrvGen *g, Incarnation *sc, WorkerState *self, int how)
{
    if (sc->closing)
        return;
    g->end(served_key(g, sc), how);
    close_conn(sc, self);
}

void check_closed(SrvGen *g, Incarnation *sc, const char *what, int rc)
{
    if (rc == TICKLESS_ERR_CLOSED && !sc->closing)
        fail("gen %d: a served DTLS connection's %s returned CLOSED though "
             "nobody closed it", g->index, what);
}

/* One datagram read: false when the connection is done with. */
bool echo_one(SrvGen *g, Incarnation *sc, WorkerState *ws, uint64_t *idle_since)
{
    int timeout = pick_timeout(ws->rng, true);
    if (timeout == TICKLESS_FOREVER || timeout > 1500)
        timeout = 1500; /* the give-up below needs the worker back */
    size_t len = 512 + (size_t)ws->rng.below(65536 - 512);
    if (!gate_enter(sc, ws))
        return false;
    Call call(sc, ws, Fn::READ, timeout);
    size_t n = SIZE_MAX;
    int rc = call.end(tickless_conn_read(sc->c, ws->rbuf.data(), len, &n, timeout));
    gate_exit(ws);
    check_closed(g, sc, "read", rc);
    if (rc == TICKLESS_ERR_TIMEOUT)
        return now_ns() - *idle_since < slack_ns(sc->cfg, 1500) || g->over;
    if (rc != 0)
        return false;
    if (n == 0 || n > len) {
        fail("gen %d: tickless_conn_read returned 0 with nread %zu of %zu",
             g->index, n, len);
        return false;
    }
    *idle_since = now_ns();
    count(C_READ, n);
    const uint8_t *b = ws->rbuf.data();
    uint64_t key = 0;
    if (n >= 16)
        memcpy(&key, b, 8);
    if (n < 16 || dgram_identify(b + 8, n - 8, key) < 0) {
        fail("gen %d: a served DTLS connection read %zu bytes that are no "
             "client's datagram", g->index, n);
        return false;
    }
    {
        std::lock_guard<std::mutex> lk(g->mu);
        if (sc->key_w == 0)
            sc->key_w = key;
        else if (sc->key_w != key)
            fail("gen %d: a served DTLS connection got a datagram of another "
                 "client (key %016" PRIx64 ", its client's %016" PRIx64 ")",
                 g->index, key, sc->key_w);
    }
    timeout = pick_timeout(ws->rng, true);
    if (!gate_enter(sc, ws))
        return false;
    Call wcall(sc, ws, Fn::WRITE, timeout, n);
    size_t nw = SIZE_MAX;
    rc = wcall.end(tickless_conn_write(sc->c, b, n, &nw, timeout));
    gate_exit(ws);
    check_closed(g, sc, "write", rc);
    if ((rc == 0 && nw != n) || (rc != 0 && nw != 0))
        fail("gen %d: a DTLS write of %zu bytes returned %s with nwritten %zu",
             g->index, n, rc_name(rc), nw);
    count(C_WRITTEN, rc == 0 ? n : 0);
    return rc == 0 || rc == TICKLESS_ERR_TIMEOUT;
}

void serve(SrvGen *g, WorkerState *ws, tickless_conn *c)
{
    auto sc = std::make_shared<Incarnation>();
    sc->cfg = g->ctx.cfg;
    sc->slot = -2;
    sc->index = g->index;
    sc->c = c;
    sc->workers.push_back(ws);
    {
        std::lock_guard<std::mutex> lk(g->mu);
        g->dserving.push_back(sc);
    }
    int timeout = 1000 + (int)ws->rng.below(3000);
    if (gate_enter(sc.get(), ws)) {
        Call call(sc.get(), ws, Fn::HANDSHAKE, timeout, 4096);
        int rc = call.end(tickless_conn_handshake(c, timeout));
        gate_exit(ws);
        check_closed(g, sc.get(), "handshake", rc);
        uint64_t idle_since = now_ns();
        while (rc == 0 && echo_one(g, sc.get(), ws, &idle_since)) {
        }
    }
    end_conn(g, sc.get(), ws, END_GIVE_UP);
    std::lock_guard<std::mutex> lk(g->mu);
    for (size_t i = 0; i < g->dserving.size(); i++)
        if (g->dserving[i] == sc) {
            g->dserving.erase(g->dserving.begin() + (long)i);
            break;
        }
}

} // namespace

int srv_dtls_listen(SrvGen *g)
{
    int fd = ts_net_bind(SOCK_DGRAM, 0, 0, &g->port);
    if (fd < 0) {
        fail("gen %d: no UDP socket (harness)", g->index);
        return -1;
    }
    int rc = tickless_listener_new_dtls(g->run->sctx, fd, g->run->pool, &g->l);
    if (srv_listener_made(g, Fn::LISTENER_NEW_DTLS, rc))
        return 0;
    close(fd); /* still ours */
    return -1;
}

void srv_dtls_worker(SrvGen *g, WorkerState *ws)
{
    srv_accept_loop<tickless_conn>(g, ws, Fn::LISTENER_ACCEPT,
                                   [&](tickless_conn *c) { serve(g, ws, c); });
}

void srv_dtls_interferer(SrvGen *g, WorkerState *ws)
{
    Rng &r = ws->rng;
    /* At the end, every served connection is closed until the workers
     * have all seen their accepts return CLOSED: none serves any more. */
    while (g->workers_closed.load() < g->ctx.cfg.threads) {
        sleep_ms((unsigned)r.below(40));
        std::vector<std::shared_ptr<Incarnation>> v;
        {
            std::lock_guard<std::mutex> lk(g->mu);
            v = g->dserving;
        }
        for (auto &sc : v)
            if (g->over || r.chance(2))
                end_conn(g, sc.get(), nullptr, END_CLOSE);
    }
}

} // namespace torture
