/*
 * peer_pace: when a peer sends and when it reads. Each direction alternates
 * between running and pausing for random times from the peer's seed; read
 * pauses are rarer and are published in the Peer (see peer.h).
 */
#ifndef TORTURE_PEER_PACE_H
#define TORTURE_PEER_PACE_H

#include "peer.h"

namespace torture {

struct Pace {
    Rng rng;
    bool tx_paused = false, rx_paused = false;
    uint64_t tx_toggle_ns, rx_toggle_ns;

    int tx_mode, rx_mode;

    Pace(uint64_t seed, uint64_t now, int mode, int rmode = 0)
        : rng(seed), tx_mode(mode), rx_mode(rmode)
    {
        /* A duplex connection's peer that never talks does not talk
         * before its first pause either (the others send for up to 200
         * ms: megabytes, enough to keep the duplex reader fed). */
        tx_paused = mode == 2 && rx_mode == 1;
        tx_toggle_ns = now + ms(rng.below(200));
        rx_toggle_ns = now + ms(200 + rng.below(800));
    }
    static uint64_t ms(uint64_t n) { return n * 1000000ull; }

    /* Advances both schedules to |now|; read pauses only once |may_pause|
     * (after the handshake: pausing it would only slow every run). */
    void update(Peer *p, uint64_t now, bool may_pause)
    {
        if (now >= tx_toggle_ns) {
            tx_paused = !tx_paused || tx_mode == 2;
            uint64_t pause = tx_mode == 0 ? rng.below(300) : 500 + rng.below(3000);
            tx_toggle_ns = now + ms(tx_paused ? pause : rng.below(tx_mode == 0 ? 400 : 50));
        }
        if (now >= rx_toggle_ns) {
            if (rx_paused) {
                rx_paused = false;
                p->last_pause_end_ns = now;
                p->rx_paused = false;
                rx_toggle_ns = now + ms(rx_mode == 1 ? 1000 + rng.below(2000)
                                                     : 100 + rng.below(1500));
            } else if (may_pause) {
                p->note_quiet_end(now);
                rx_paused = true;
                p->rx_paused = true;
                rx_toggle_ns = now + ms(rng.below(400));
            } else {
                rx_toggle_ns = now + ms(100);
            }
        }
    }
    /* Milliseconds until the next change, at most |cap|. */
    int wait_ms(uint64_t now, int cap) const
    {
        uint64_t t = tx_toggle_ns < rx_toggle_ns ? tx_toggle_ns : rx_toggle_ns;
        int64_t d = (int64_t)(t - now) / 1000000 + 1;
        return d < 0 ? 0 : (d > cap ? cap : (int)d);
    }
};

/* Reads what there is, unless |pace| pauses reading: up to |max|
 * peer_read()s, each one's bytes (n of them, in |buf|) handed to |got|.
 * Returns what ended it: AGAIN (nothing more for now, or |max| reached), or
 * FIN or END (the end of what |p| will read, which the caller records). */
template <class Got>
PeerRead peer_read_all(Peer *p, const Pace &pace, SSL *ssl,
                       std::vector<uint8_t> &buf, int max, Got got,
                       bool *want_write = nullptr)
{
    for (int i = 0; i < max && !p->rx_done && !pace.rx_paused; i++) {
        size_t n = 0;
        PeerRead r = peer_read(p, ssl, buf, &n, want_write);
        if (r != PeerRead::BYTES)
            return r;
        got(n);
    }
    return PeerRead::AGAIN;
}

} // namespace torture

#endif
