/*
 * peer_dtls: the DTLS peer. Like the TLS peer, one poll loop on a connected
 * nonblocking UDP socket, but it keeps datagrams whole: each record read is
 * stored as one datagram, and it sends numbered datagrams (pattern.h).
 * It also runs DTLS's retransmission timer, which nobody else would.
 */
#include <openssl/err.h>
#include <poll.h>

#include "pattern.h"
#include "peer.h"
#include "peer_pace.h"

namespace torture {

void peer_dtls_loop(Peer *p)
{
    peer_block_sigpipe();
    SSL *ssl = p->ssl;
    int fd = SSL_get_fd(ssl);
    if (p->misbehave) {
        Rng rng(p->seed);
        sleep_ms((unsigned)rng.below(30));
        (void)SSL_connect(ssl);
        sleep_ms((unsigned)rng.below(4));
        goto out;
    }
    {
        Pace pace(p->seed, now_ns(), p->tx_mode);
        Rng rng(p->seed ^ 0xd7d7);
        std::vector<uint8_t> buf(1 << 16), dg(kDgramMax);
        bool tx_done = false, have = false, want_write = false;
        uint64_t d = 0;
        unsigned burst = 0;

        while (!p->stop_flag) {
            uint64_t now = now_ns();
            bool hs = SSL_is_init_finished(ssl);
            if (hs)
                p->handshake_done = true;
            pace.update(p, now, hs);
            (void)DTLSv1_handle_timeout(ssl);

            PeerRead end = peer_read_all(p, pace, ssl, buf, 256, [&](size_t n) {
                p->dgrams.emplace_back(buf.data(), buf.data() + n);
                p->rx_bytes += n;
                p->last_rx_ns = now_ns();
            });
            if (end == PeerRead::FIN)
                (void)SSL_shutdown(ssl);
            if (end != PeerRead::AGAIN)
                p->rx_done = true; /* alert, or the other socket is gone */
            if (p->rx_done)
                break;

            want_write = false;
            while (hs && !tx_done && !pace.tx_paused) {
                if (!have) {
                    if (p->tx_bytes >= p->tx_limit) {
                        tx_done = true;
                        break;
                    }
                    dgram_fill(dg.data(), p->key_tx, d);
                    have = true;
                }
                ERR_clear_error();
                size_t w = 0, n = dgram_len(p->key_tx, d);
                if (!SSL_write_ex(ssl, dg.data(), n, &w)) {
                    if (SSL_get_error(ssl, 0) == SSL_ERROR_WANT_WRITE)
                        want_write = true;
                    else
                        tx_done = true;
                    break;
                }
                have = false;
                d++;
                p->tx_datagrams = d;
                p->tx_bytes += n;
                p->last_tx_ns = now_ns();
                /* Bursts small enough for a socket buffer: loss is allowed,
                 * but a run that loses everything checks nothing. */
                if (++burst >= 1 + rng.below(32)) {
                    burst = 0;
                    pace.tx_paused = true;
                    pace.tx_toggle_ns = now_ns() + Pace::ms(1 + rng.below(20));
                    break;
                }
            }
            int wait = pace.wait_ms(now_ns(), 20);
            struct timeval tv;
            if (DTLSv1_get_timeout(ssl, &tv)) {
                int t = (int)(tv.tv_sec * 1000 + tv.tv_usec / 1000) + 1;
                wait = t < wait ? t : wait;
            }
            struct pollfd pfd = {fd, 0, 0};
            if (!pace.rx_paused)
                pfd.events |= POLLIN;
            if (want_write)
                pfd.events |= POLLOUT;
            (void)poll(&pfd, 1, wait);
        }
    }
out:
    p->rx_done = true;
    p->finished = true;
    SSL_free(ssl);
    p->ssl = nullptr;
    ERR_clear_error();
}

} // namespace torture
