/*
 * peer_quic: the QUIC peer, plain OpenSSL 3.5 on a listener of its own
 * (one UDP socket, one engine), nonblocking, in a poll loop on its thread.
 * It accepts the one connection tickless makes, then:
 *
 *  - quic: reads the client's default stream (the first stream the client
 *    opens becomes the server connection's default stream) and, once that
 *    stream exists, sends its keyed pattern on it in bursts with pauses, as
 *    the TLS peer does; FIN answers FIN.
 *
 *  - stream: accepts every stream the client opens and opens some of its
 *    own towards it (bidirectional and unidirectional). On each stream it
 *    records what it reads, sends that stream's keyed pattern, then a FIN
 *    or sometimes a RESET_STREAM. Reading pauses for long stretches on some
 *    streams, so the client's writers run out of flow control credit and
 *    block. Some bidirectional streams are victims: the peer neither reads
 *    nor writes them for a while, then resets its sending part
 *    (SSL_stream_reset: RESET_STREAM) and frees the stream with its
 *    receiving part open, which is how OpenSSL 3.5 sends STOP_SENDING
 *    (ossl_quic_free on a stream: send part reset unless concluded, receive
 *    part stopped while in RECV or SIZE_KNOWN). Both frames leave in the
 *    same tick. Times are recorded (PeerStream) for verify.cc.
 *
 * OpenSSL 3.5 has no public setter for the transport parameters that limit
 * a client's streams or credit (initial_max_stream_data, max_streams): the
 * read pauses are what exhaust the stream's credit (512 KiB by default).
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>

extern "C" {
#include "ts_certs.h" /* TS_HAVE_QUIC */
}

#if TS_HAVE_QUIC
#include <openssl/quic.h>

#include <memory>

#include "pattern.h"
#include "peer.h"
#include "peer_pace.h"

namespace torture {

namespace {

constexpr uint64_t kMs = 1000000ull;
constexpr int kMaxOwnStreams = 8; /* streams the peer opens, in all */

/* A live stream of the stream peer. */
struct PS {
    SSL *s = nullptr;
    PeerStream *rec = nullptr;
    uint64_t key = 0;
    bool can_rx = false, can_tx = false;
    bool rx_done = false, tx_done = false;
    uint64_t tx_target = 0;
    bool end_reset = false;      /* end with RESET_STREAM, not FIN */
    uint64_t victim_at = 0;      /* 0, or when to reset and stop it */
    uint64_t rx_toggle_ns = 0;
    bool rx_paused = false;
    uint64_t tx_toggle_ns = 0;
    bool tx_paused = false;
    std::vector<uint8_t> chunk;
    size_t cur = 0, done = 0;    /* chunk bytes prepared / accepted */
};

bool conn_terminated(SSL *conn)
{
    SSL_CONN_CLOSE_INFO info;
    return SSL_get_conn_close_info(conn, &info, sizeof(info)) == 1;
}

/* Reads what is there; false once nothing more will come. */
void ps_read(Peer *p, PS *ps, std::vector<uint8_t> &buf)
{
    for (int i = 0; i < 32 && !ps->rx_done; i++) {
        size_t n = 0;
        ERR_clear_error();
        if (SSL_read_ex(ps->s, buf.data(), buf.size(), &n)) {
            ps->rec->rx.insert(ps->rec->rx.end(), buf.data(), buf.data() + n);
            p->rx_bytes += n;
            continue;
        }
        int e = SSL_get_error(ps->s, 0);
        if (e == SSL_ERROR_WANT_READ)
            return;
        if (e == SSL_ERROR_ZERO_RETURN)
            ps->rec->got_fin = true;
        else if (SSL_get_stream_read_state(ps->s) == SSL_STREAM_STATE_RESET_REMOTE)
            ps->rec->got_reset = true;
        ps->rx_done = true;
    }
}

void ps_write(Peer *p, PS *ps, Rng &rng)
{
    for (int i = 0; i < 16 && !ps->tx_done; i++) {
        if (ps->rec->tx_off >= ps->tx_target) {
            ERR_clear_error();
            if (ps->end_reset) {
                SSL_STREAM_RESET_ARGS a = {ps->rec->aec};
                ps->rec->rst_ns = now_ns();
                (void)SSL_stream_reset(ps->s, &a, sizeof(a));
            } else if (SSL_stream_conclude(ps->s, 0)) {
                ps->rec->concluded = true;
            }
            ps->tx_done = true;
            return;
        }
        if (ps->cur == ps->done) {
            uint64_t left = ps->tx_target - ps->rec->tx_off;
            ps->cur = (size_t)(1 + rng.below(rng.chance(20) ? 65536 : 4096));
            if (ps->cur > left)
                ps->cur = (size_t)left;
            ps->done = 0;
            stream_fill(ps->chunk.data(), ps->cur, ps->key, ps->rec->tx_off);
        }
        size_t w = 0;
        ERR_clear_error();
        if (SSL_write_ex(ps->s, ps->chunk.data() + ps->done, ps->cur - ps->done, &w)) {
            ps->done += w;
            ps->rec->tx_off += w;
            p->tx_bytes += w;
            if (ps->done == ps->cur)
                ps->cur = ps->done = 0;
            continue;
        }
        int e = SSL_get_error(ps->s, 0);
        if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
            ps->tx_done = true; /* stopped by the client, or the end */
        return;
    }
}

/* A stream the peer has just got (accepted, or opened when |ours|). */
std::unique_ptr<PS> ps_new(Peer *p, SSL *s, bool ours, Rng &rng, uint64_t now)
{
    auto ps = std::make_unique<PS>();
    ps->s = s;
    SSL_set_mode(s, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    uint64_t id = SSL_get_stream_id(s);
    int type = SSL_get_stream_type(s);
    PeerStream &r = p->streams[id];
    r.id = id;
    r.ours = ours;
    r.aec = peer_reset_code(id);
    ps->rec = &r;
    ps->key = derive_seed(p->key_tx, id);
    ps->can_rx = type == SSL_STREAM_TYPE_BIDI || type == SSL_STREAM_TYPE_READ;
    ps->can_tx = type == SSL_STREAM_TYPE_BIDI || type == SSL_STREAM_TYPE_WRITE;
    ps->rx_done = !ps->can_rx;
    ps->tx_done = !ps->can_tx;
    static const uint64_t kTargets[] = {0, 1000, 20000, 200000, 1u << 20};
    ps->tx_target = kTargets[rng.below(5)];
    ps->end_reset = rng.chance(15);
    if (type == SSL_STREAM_TYPE_BIDI && rng.chance(ours ? 10 : 30)) {
        ps->victim_at = now + (300 + rng.below(2200)) * kMs;
        r.victim = true;
        r.victim_kind = rng.chance(60) ? 0 : rng.chance(50) ? 1 : 2;
    }
    ps->rx_toggle_ns = now + rng.below(300) * kMs;
    ps->tx_toggle_ns = now + rng.below(200) * kMs;
    ps->chunk.resize(65536);
    return ps;
}

/* RESET_STREAM and STOP_SENDING at once: reset the sending part, then
 * free the stream with its receiving part open. Kind 1: the reset only
 * (returns false: the stream lives on, read as usual); kind 2: a FIN,
 * then the free, so STOP_SENDING alone. Returns true if freed. */
bool ps_reset_and_stop(PS *ps)
{
    uint64_t now = now_ns();
    ERR_clear_error();
    int kind = ps->rec->victim_kind;
    if (kind == 1) {
        SSL_STREAM_RESET_ARGS a = {ps->rec->aec};
        if (ps->can_tx && !ps->tx_done && SSL_stream_reset(ps->s, &a, sizeof(a)))
            ps->rec->rst_ns = now;
        ps->tx_done = true;
        ps->victim_at = 0;
        return false;
    }
    if (kind == 2 && ps->can_tx && !ps->tx_done && SSL_stream_conclude(ps->s, 0))
        ps->rec->concluded = true;
    else if (ps->can_tx && !ps->tx_done) {
        SSL_STREAM_RESET_ARGS a = {ps->rec->aec};
        if (SSL_stream_reset(ps->s, &a, sizeof(a)))
            ps->rec->rst_ns = now;
    }
    if (ps->can_rx && !ps->rx_done)
        ps->rec->stop_ns = now;
    SSL_free(ps->s);
    ps->s = nullptr;
    return true;
}

void pace_stream(PS *ps, Rng &rng, uint64_t now)
{
    if (now >= ps->rx_toggle_ns) {
        ps->rx_paused = !ps->rx_paused && rng.chance(50);
        ps->rx_toggle_ns = now + (ps->rx_paused ? 500 + rng.below(2500)
                                                : 50 + rng.below(700)) * kMs;
    }
    if (now >= ps->tx_toggle_ns) {
        ps->tx_paused = !ps->tx_paused && rng.chance(40);
        ps->tx_toggle_ns = now + (ps->tx_paused ? rng.below(800) : rng.below(300)) * kMs;
    }
}

/* The stream peer's work for one pass over its connection. Returns true
 * if it has bytes it could not send (poll sooner). */
bool serve_streams(Peer *p, SSL *conn, std::vector<std::unique_ptr<PS>> &live,
                   Rng &rng, int &own, uint64_t &next_open,
                   std::vector<uint8_t> &buf)
{
    uint64_t now = now_ns();
    while (SSL *s = SSL_accept_stream(conn, SSL_ACCEPT_STREAM_NO_BLOCK))
        live.push_back(ps_new(p, s, false, rng, now));
    if (own < kMaxOwnStreams && now >= next_open) {
        next_open = now + (100 + rng.below(900)) * kMs;
        uint64_t fl = SSL_STREAM_FLAG_NO_BLOCK | (rng.chance(40) ? SSL_STREAM_FLAG_UNI : 0);
        ERR_clear_error();
        if (SSL *s = SSL_new_stream(conn, fl)) {
            own++;
            auto ps = ps_new(p, s, true, rng, now);
            if (ps->tx_target == 0)
                ps->tx_target = 1; /* a stream the client can see */
            live.push_back(std::move(ps));
        }
    }
    bool busy = false;
    for (size_t i = 0; i < live.size();) {
        PS *ps = live[i].get();
        if (ps->victim_at != 0) {
            if (now >= ps->victim_at && ps_reset_and_stop(ps)) {
                live.erase(live.begin() + (long)i);
                continue;
            }
        }
        if (ps->victim_at == 0) {
            pace_stream(ps, rng, now);
            if (!ps->rx_paused)
                ps_read(p, ps, buf);
            if (!ps->tx_paused && !ps->tx_done) {
                ps_write(p, ps, rng);
                busy |= !ps->tx_done && ps->cur != 0;
            }
        }
        if (ps->rx_done && ps->tx_done) {
            SSL_free(ps->s);
            live.erase(live.begin() + (long)i);
            continue;
        }
        i++;
    }
    return busy;
}

} // namespace

void peer_quic_loop(Peer *p)
{
    peer_block_sigpipe();
    SSL *lst = p->ssl;
    int fd = SSL_get_fd(lst);
    SSL *conn = nullptr;
    Pace pace(p->seed, now_ns(), p->tx_mode);
    Rng rng(p->seed ^ 0x9a1c);
    std::vector<uint8_t> chunk(1 << 16), buf(1 << 16);
    std::vector<std::unique_ptr<PS>> live;
    int own = 0;
    uint64_t next_open = now_ns() + rng.below(300) * kMs;
    size_t cur = 0, done = 0; /* quic: chunk bytes prepared / accepted */
    uint64_t off = 0;
    bool tx_done = false, seen_stream = false;
    p->rx.reserve(1 << 20);

    while (!p->stop_flag) {
        ERR_clear_error();
        (void)SSL_handle_events(lst);
        if (conn == nullptr) {
            conn = SSL_accept_connection(lst, SSL_ACCEPT_CONNECTION_NO_BLOCK);
            if (conn != nullptr) {
                (void)SSL_set_blocking_mode(conn, 0);
                SSL_set_mode(conn, SSL_MODE_ENABLE_PARTIAL_WRITE
                                       | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
                if (p->stream_mode) {
                    (void)SSL_set_default_stream_mode(conn, SSL_DEFAULT_STREAM_MODE_NONE);
                    (void)SSL_set_incoming_stream_policy(
                        conn, SSL_INCOMING_STREAM_POLICY_ACCEPT, 0);
                }
            }
        }
        bool busy = false;
        uint64_t now = now_ns();
        if (conn != nullptr) {
            bool hs = SSL_is_init_finished(conn);
            if (hs && !p->handshake_done) {
                p->last_pause_end_ns = now;
                p->handshake_done = true;
            }
            if (conn_terminated(conn)) {
                p->rx_done = true;
                p->finished = true;
            } else if (p->stream_mode) {
                if (hs)
                    busy = serve_streams(p, conn, live, rng, own, next_open, buf);
            } else {
                pace.update(p, now, hs);
                auto got = [&](size_t n) {
                    p->rx.insert(p->rx.end(), buf.data(), buf.data() + n);
                    p->rx_bytes += n;
                    p->last_rx_ns = now_ns();
                    seen_stream = true;
                };
                PeerRead end = peer_read_all(p, pace, conn, buf, 64, got);
                if (end == PeerRead::FIN && !tx_done)
                    (void)SSL_stream_conclude(conn, 0);
                if (end != PeerRead::AGAIN) {
                    p->rx_done = true;
                    p->finished = true;
                    tx_done = true;
                }
                /* Our stream is the client's: send once it exists. */
                while (seen_stream && !tx_done && !pace.tx_paused) {
                    if (cur == done) {
                        uint64_t left = p->tx_limit - off;
                        cur = (size_t)(1 + rng.below(rng.chance(20) ? 65536 : 4096));
                        if (cur > left)
                            cur = (size_t)left;
                        done = 0;
                        if (cur == 0) {
                            tx_done = true;
                            break;
                        }
                        stream_fill(chunk.data(), cur, p->key_tx, off);
                    }
                    size_t w = 0;
                    ERR_clear_error();
                    if (!SSL_write_ex(conn, chunk.data() + done, cur - done, &w)) {
                        int e = SSL_get_error(conn, 0);
                        if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
                            tx_done = true;
                        busy = e == SSL_ERROR_WANT_WRITE;
                        break;
                    }
                    done += w;
                    off += w;
                    p->tx_bytes = off;
                    p->last_tx_ns = now_ns();
                    if (done == cur)
                        cur = done = 0;
                    if (rng.chance(30))
                        break; /* let the engine send */
                }
            }
        }
        struct timeval tv;
        int inf = 1, wait = busy ? 2 : 20;
        if (SSL_get_event_timeout(lst, &tv, &inf) && !inf) {
            long ms = tv.tv_sec * 1000 + tv.tv_usec / 1000;
            if (ms < wait)
                wait = (int)ms;
        }
        if (!p->stream_mode && conn != nullptr)
            wait = std::min(wait, pace.wait_ms(now_ns(), 20));
        if (wait > 0) {
            struct pollfd pfd = {fd, POLLIN, 0};
            (void)poll(&pfd, 1, wait);
        }
    }
    for (auto &ps : live)
        SSL_free(ps->s);
    live.clear();
    p->rx_done = true;
    p->finished = true;
    SSL_free(conn);
    SSL_free(lst); /* its BIO closes the socket */
    p->ssl = nullptr;
    ERR_clear_error();
}

} // namespace torture

#else /* no QUIC server in this OpenSSL: the runner refuses quic, stream */

#include "peer.h"

namespace torture {
void peer_quic_loop(Peer *p)
{
    (void)p;
}
} // namespace torture

#endif
