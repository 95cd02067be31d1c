/*
 * peer_tls: the TLS peer. One nonblocking socket, one poll loop that reads
 * whatever arrives (unless pausing) and sends the peer stream in bursts,
 * so both directions run at once, as a real duplex peer does.
 * It answers close_notify with close_notify, then stops.
 */
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>

#include "pattern.h"
#include "peer.h"
#include "peer_pace.h"

namespace torture {

namespace {

/* The misbehaving client: it waits a little, sends its ClientHello, then
 * hangs up, now and then abortively (RST), so that what the server writes
 * next meets a reset connection. */
void hang_up_early(Peer *p)
{
    Rng rng(p->seed);
    sleep_ms((unsigned)rng.below(30));
    (void)SSL_connect(p->ssl); /* nonblocking: sends the hello, WANT_READ */
    if (rng.chance(50))
        sleep_ms((unsigned)rng.below(10));
    if (rng.chance(50)) {
        struct linger l = {1, 0};
        (void)setsockopt(SSL_get_fd(p->ssl), SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }
}

} // namespace

void peer_tls_loop(Peer *p)
{
    peer_block_sigpipe();
    SSL *ssl = p->ssl;
    int fd = SSL_get_fd(ssl);
    if (p->misbehave) {
        hang_up_early(p);
        goto out;
    }
    {
        Pace pace(p->seed, now_ns(), p->tx_mode, p->rx_mode);
        Rng rng(p->seed ^ 0x7e7e);
        std::vector<uint8_t> chunk(1 << 16), buf(1 << 16);
        size_t cur = 0;       /* bytes of |chunk| being written (0: none) */
        uint64_t off = 0;     /* stream offset of chunk[0] */
        bool want_write = false, tx_done = false;
        p->rx.reserve(1 << 20);

        while (!p->stop_flag) {
            uint64_t now = now_ns();
            bool hs = SSL_is_init_finished(ssl);
            if (hs && !p->handshake_done) {
                p->last_pause_end_ns = now; /* quiet is counted from here */
                p->handshake_done = true;
            }
            pace.update(p, now, hs);

            /* Read all there is, unless pausing. Before the handshake is
             * done, reading is what drives it. */
            auto got = [&](size_t n) {
                p->rx.insert(p->rx.end(), buf.data(), buf.data() + n);
                p->rx_bytes += n;
                uint64_t t = now_ns();
                p->note_quiet_end(t);
                p->last_rx_ns = t;
            };
            PeerRead end = peer_read_all(p, pace, ssl, buf, 64, got,
                                         &want_write);
            if (end == PeerRead::FIN)
                (void)SSL_shutdown(ssl); /* our close_notify, best effort */
            if (end != PeerRead::AGAIN) {
                p->rx_done = true;
                tx_done = true;
            }
            if (p->rx_done)
                break;

            /* Send the next piece of the stream, in bursts. */
            want_write = false;
            if (hs && !tx_done && !pace.tx_paused) {
                if (cur == 0) {
                    uint64_t left = p->tx_limit - off;
                    cur = (size_t)(1 + rng.below(rng.chance(20) ? 65536 : 4096));
                    if (cur > left)
                        cur = (size_t)left;
                    stream_fill(chunk.data(), cur, p->key_tx, off);
                }
                size_t w = 0;
                ERR_clear_error();
                if (cur == 0) {
                    tx_done = true;
                } else if (SSL_write_ex(ssl, chunk.data(), cur, &w)) {
                    off += cur;
                    cur = 0;
                    p->tx_bytes = off;
                    p->last_tx_ns = now_ns();
                    continue; /* more of the burst at once */
                } else {
                    int e = SSL_get_error(ssl, 0);
                    if (e == SSL_ERROR_WANT_WRITE)
                        want_write = true;
                    else if (e != SSL_ERROR_WANT_READ)
                        tx_done = true; /* the reading side will see why */
                }
            }
            struct pollfd pfd = {fd, 0, 0};
            if (!pace.rx_paused)
                pfd.events |= POLLIN;
            if (want_write)
                pfd.events |= POLLOUT;
            (void)poll(&pfd, 1, pace.wait_ms(now_ns(), 20));
        }
        if (!pace.rx_paused)
            p->note_quiet_end(now_ns()); /* it stops reading here */
    }
out:
    p->rx_done = true;
    p->finished = true;
    SSL_free(ssl); /* closes the socket */
    p->ssl = nullptr;
    ERR_clear_error();
}

} // namespace torture
