/*
 * srv_quic: the server of the qserver scenario (srv.h). A tickless QUIC
 * listener (one generation in two of 2 or 3 shards, tickless_listen())
 * whose workers loop in tickless_listener_accept_stream() and echo
 * each stream they get: read, check the bytes (the client's key is the
 * stream's first 8 bytes, see echo_fill()), write them back, and after the
 * client's FIN conclude. The interferer concludes, resets or closes served
 * streams at random times, recording the end for the client's checks
 * before making it.
 *
 * Checks, besides call.h's: every byte read is the client's next byte; a
 * read or write returns CLOSED only after our close, conclude or reset of
 * the stream or the listener's close; the accepts' checks of srv.cc.
 */
#include <sys/socket.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "report.h"
#include "srv.h"

extern "C" {
#include "ts_certs.h"
#include "ts_net.h"
}

namespace torture {

#if TS_HAVE_QUIC

namespace {

constexpr uint64_t kServerResetCode = 0x5e;

/* CLOSED on a served stream is ours: our close, conclude or reset of it
 * (writes), or the listener's close. */
void check_closed(SrvGen *g, StreamEntry *e, int rc, bool write)
{
    if (rc != TICKLESS_ERR_CLOSED || g->closing() || e->closing
        || (write && e->ended))
        return;
    uint64_t key, code = 0;
    {
        std::lock_guard<std::mutex> lk(g->mu);
        key = e->key_rx;
    }
    int pe = tickless_stream_peer_error(e->s, &code); /* the caller's gate */
    fail("gen %d: a served stream's %s returned CLOSED though neither the "
         "stream nor the listener was ended by us (stream %" PRIu64 ", key "
         "%016" PRIx64 "; peer_error %d code %" PRIu64 "; the client did: %s)",
         g->index, write ? "write" : "read", e->id, key, pe, code,
         g->client_what(key).c_str());
}

/* Writes |len| bytes back; false when the stream is done with. */
bool echo_back(SrvGen *g, WorkerState *ws, StreamEntry *e, const uint8_t *b,
               size_t len)
{
    while (len > 0) {
        int timeout = pick_timeout(ws->rng, true);
        if (!sgate_enter(&g->ctx, ws, e))
            return false;
        Call call(&g->ctx, ws, Fn::STREAM_WRITE, timeout, len);
        size_t nw = SIZE_MAX;
        int rc = call.end(tickless_stream_write(e->s, b, len, &nw, timeout));
        check_closed(g, e, rc, true);
        sgate_exit(ws);
        if (nw > len || (rc == 0 && nw != len)) {
            fail("gen %d: tickless_stream_write returned %s with nwritten %zu "
                 "of %zu", g->index, rc_name(rc), nw, len);
            return false;
        }
        count(C_WRITTEN, nw);
        b += nw;
        len -= nw;
        if (rc != 0 && rc != TICKLESS_ERR_TIMEOUT)
            return false;
    }
    return true;
}

/* Echoes the stream until the client's FIN (then concludes), an error, or
 * the generation's end. */
void serve(SrvGen *g, WorkerState *ws, const std::shared_ptr<StreamEntry> &e)
{
    uint64_t off = 0, key = 0;
    uint8_t hdr[8];
    for (;;) {
        if (g->over && ws->rng.chance(20)) {
            g->end(key, END_GIVE_UP);
            break;
        }
        int timeout = pick_timeout(ws->rng, true);
        size_t len = 1 + (size_t)ws->rng.below(ws->rng.chance(70) ? 65536 : 64);
        if (!sgate_enter(&g->ctx, ws, e.get()))
            return;
        Call call(&g->ctx, ws, Fn::STREAM_READ, timeout);
        size_t n = SIZE_MAX;
        int rc = call.end(tickless_stream_read(e->s, ws->rbuf.data(), len, &n, timeout));
        check_closed(g, e.get(), rc, false);
        sgate_exit(ws);
        if (n == SIZE_MAX || (rc == 0 && (n == 0 || n > len)) || (rc != 0 && n != 0)) {
            fail("gen %d: tickless_stream_read returned %s with nread %zu of %zu",
                 g->index, rc_name(rc), n, len);
            break;
        }
        if (rc == TICKLESS_ERR_TIMEOUT)
            continue;
        if (rc == TICKLESS_ERR_EOF) {
            if (sgate_enter(&g->ctx, ws, e.get())) {
                Call c2(&g->ctx, ws, Fn::STREAM_CONCLUDE, 0);
                int r2 = c2.end(tickless_stream_conclude(e->s));
                sgate_exit(ws);
                /* The interferer may have ended it first. */
                if (r2 == TICKLESS_ERR_CLOSED && !e->ended && !e->closing
                    && !g->closing())
                    fail("gen %d: conclude after the client's FIN returned "
                         "CLOSED", g->index);
            }
            break;
        }
        if (rc != 0)
            break;
        count(C_READ, n);
        const uint8_t *b = ws->rbuf.data();
        for (size_t i = 0; i < n && off + i < 8; i++)
            hdr[off + i] = b[i];
        if (key == 0 && off + n >= 8) {
            memcpy(&key, hdr, 8); /* little-endian, as echo_fill() */
            std::lock_guard<std::mutex> lk(g->mu);
            e->key_rx = key;
        }
        if (off + n >= 8 && !echo_is_at(b, n, key, off)) {
            fail("gen %d: a served stream read %zu bytes at offset %" PRIu64
                 " that are not the client's (key %016" PRIx64 ")", g->index, n,
                 off, key);
            break;
        }
        off += n;
        if (!echo_back(g, ws, e.get(), b, n))
            break;
    }
}

} // namespace

/* A listener of 2 or 3 shards (tickless_listen(), one OpenSSL listener
 * per socket, all on one port), for one generation in two. */
static int listen_sharded(SrvGen *g, unsigned shards)
{
    tickless_listen_options o;
    tickless_listen_options_defaults(&o);
    o.shards = shards;
    o.listener_flags = SSL_LISTENER_FLAG_NO_VALIDATE;
    int rc = tickless_listen(g->run->sctx, "127.0.0.1", "0", &o,
                             g->run->pool, &g->l);
    if (!srv_listener_made(g, Fn::LISTEN, rc))
        return -1;
    int port = tickless_listener_port(g->l);
    if (!documented(Fn::LISTENER_PORT, port) || port <= 0) {
        fail("gen %d: tickless_listener_port = %s", g->index, rc_name(port));
        return -1;
    }
    g->port = (uint16_t)port;
    return 0;
}

int srv_quic_listen(SrvGen *g)
{
    Rng rng(derive_seed(g->run->cfg.seed, 26, (uint64_t)g->index));
    if (rng.chance(50))
        return listen_sharded(g, 2 + (unsigned)rng.below(2));
    int fd = ts_net_bind(SOCK_DGRAM, 0, 0, &g->port);
    SSL *lst = SSL_new_listener(g->run->sctx, SSL_LISTENER_FLAG_NO_VALIDATE);
    if (fd < 0 || lst == nullptr || ts_net_set_nonblock(fd, 1) != 0) {
        if (fd >= 0)
            close(fd);
        SSL_free(lst);
        fail("gen %d: no QUIC listener SSL (harness)", g->index);
        return -1;
    }
    BIO *bio = BIO_new_dgram(fd, BIO_CLOSE);
    SSL_set_bio(lst, bio, bio);
    int rc = tickless_listener_new(lst, g->run->pool, &g->l);
    if (srv_listener_made(g, Fn::LISTENER_NEW, rc))
        return 0;
    SSL_free(lst); /* still ours */
    return -1;
}

void srv_quic_worker(SrvGen *g, WorkerState *ws)
{
    srv_accept_loop<tickless_stream>(
        g, ws, Fn::LISTENER_ACCEPT_STREAM, [&](tickless_stream *s) {
            auto e = std::make_shared<StreamEntry>();
            e->s = s;
            e->id = tickless_stream_id(s);
            e->local = false;
            if (e->id == UINT64_MAX || (e->id & 1) != 0)
                fail("gen %d: accepted stream ID %" PRIu64 " is no "
                     "client-initiated stream's", g->index, e->id);
            {
                std::lock_guard<std::mutex> lk(g->mu);
                g->serving.push_back(e);
            }
            serve(g, ws, e);
            {
                std::lock_guard<std::mutex> lk(g->mu);
                for (size_t i = 0; i < g->serving.size(); i++)
                    if (g->serving[i] == e) {
                        g->serving.erase(g->serving.begin() + (long)i);
                        break;
                    }
            }
            /* Some are closed after the listener is freed: the gate is
             * shut on them as close_stream() would. */
            if (ws->rng.chance(10)) {
                if (!e->closing.exchange(true)) {
                    std::lock_guard<std::mutex> lk(g->mu);
                    g->parked.push_back(e->s);
                }
                return;
            }
            close_stream(&g->ctx, e.get(), ws);
        });
}

void srv_quic_interferer(SrvGen *g, WorkerState *ws)
{
    Rng &r = ws->rng;
    while (!g->over) {
        sleep_ms((unsigned)r.below(40));
        std::shared_ptr<StreamEntry> e;
        uint64_t key;
        {
            std::lock_guard<std::mutex> lk(g->mu);
            if (g->serving.empty())
                continue;
            e = g->serving[r.below(g->serving.size())];
            key = e->key_rx;
        }
        /* Only streams whose client is known: its checks need the end. */
        if (key == 0 || !r.chance(30))
            continue;
        uint64_t x = r.below(100);
        if (x < 30) {
            g->end(key, END_CLOSE);
            close_stream(&g->ctx, e.get(), ws);
            continue;
        }
        bool reset = x < 60;
        g->end(key, reset ? END_RESET : END_CONCLUDE);
        if (!sgate_enter(&g->ctx, ws, e.get()))
            continue;
        e->ended = true; /* before the call: the worker's writes may fail now */
        Call call(&g->ctx, ws, reset ? Fn::STREAM_RESET : Fn::STREAM_CONCLUDE, 0);
        int rc = call.end(reset ? tickless_stream_reset(e->s, kServerResetCode)
                                : tickless_stream_conclude(e->s));
        sgate_exit(ws);
        (void)rc;
    }
}

#else

int srv_quic_listen(SrvGen *g)
{
    fail("gen %d: qserver needs OpenSSL >= 3.5", g->index);
    return -1;
}
void srv_quic_worker(SrvGen *, WorkerState *) {}
void srv_quic_interferer(SrvGen *, WorkerState *) {}

#endif

} // namespace torture
