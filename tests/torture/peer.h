/*
 * peer: the other end of one tickless connection, written with plain
 * OpenSSL on its own thread, that records everything it receives and sends
 * a deterministic stream (pattern.h) in bursts with pauses.
 *
 * The pauses matter: a peer that always sends never lets a reader block,
 * and one that always reads never lets a writer fill its socket. Reading
 * pauses are published (rx_paused, last_pause_end_ns) so that a write that
 * sat blocked while the peer was draining can be told from one the peer
 * held up.
 *
 * After stop() and join(), |rx| (stream protocols) or |dgrams| (DTLS) is the
 * whole of what arrived, for the verifier.
 */
#ifndef TORTURE_PEER_H
#define TORTURE_PEER_H

#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "torture.h"

namespace torture {

/* What the QUIC stream peer did with one stream and what it received on
 * it (peer_quic.cc). Times are CLOCK_MONOTONIC ns, 0 for never. */
struct PeerStream {
    uint64_t id = 0;
    bool ours = false;          /* the peer opened it */
    std::vector<uint8_t> rx;    /* every byte it read, in order */
    bool got_fin = false;       /* read to the client's FIN */
    bool got_reset = false;     /* the client reset it (RESET_STREAM) */
    uint64_t tx_off = 0;        /* bytes of its pattern handed to OpenSSL */
    bool concluded = false;     /* it sent FIN after tx_off bytes */
    uint64_t aec = 0;           /* the code of its RESET_STREAM */
    uint64_t rst_ns = 0;        /* when it reset its sending part */
    uint64_t stop_ns = 0;       /* when it freed the stream with its
                                   receiving part open: STOP_SENDING */
    bool victim = false;        /* it went silent, then ended the stream: */
    int victim_kind = 0;        /* 0 RESET_STREAM and STOP_SENDING at once,
                                   1 RESET_STREAM only (it reads on),
                                   2 STOP_SENDING only (after its FIN) */
};

/* The RESET_STREAM code the peer uses on stream |id|: never 0, so that it
 * is told from STOP_SENDING's (OpenSSL sends 0 for a freed stream). */
inline uint64_t peer_reset_code(uint64_t id) { return 0x10000 + (id & 0xffff); }

struct Peer {
    /* Set before start(). */
    SSL *ssl = nullptr;    /* owned; freed (with its socket) by the thread */
    uint64_t seed = 0;     /* its choices: burst sizes, pauses */
    uint64_t key_tx = 0;   /* the stream (or datagrams) it sends */
    bool misbehave = false; /* client that sends its hello, then hangs up */
    uint64_t tx_limit = 16u << 20; /* bytes it sends at most */
    /* How much it talks: 0 in short bursts, 1 with pauses of seconds (a
     * reader blocks long), 2 never (reads only time out or are closed). */
    int tx_mode = 0;
    /* Read pauses (peer_pace.h): 0 after 0.1 to 1.6 s of reading; 1 after
     * 1 to 3 s, so that a writer stalled in between is seen (a duplex
     * connection, scenario.cc). */
    int rx_mode = 0;

    /* Published for the checks while it runs. */
    std::atomic<bool> rx_paused{false};
    std::atomic<uint64_t> last_pause_end_ns{0};
    std::atomic<uint64_t> last_rx_ns{0};
    std::atomic<uint64_t> rx_bytes{0};
    std::atomic<uint64_t> tx_bytes{0};   /* stream bytes handed to OpenSSL */
    std::atomic<uint64_t> last_tx_ns{0};
    std::atomic<bool> handshake_done{false};
    std::atomic<bool> got_eof{false};  /* close_notify / FIN read */
    std::atomic<bool> rx_done{false};  /* no more will be read */
    std::atomic<bool> finished{false}; /* the thread's loop has ended */
    std::atomic<bool> stop_flag{false};

    /* Intervals of a second or more in which it was reading, unpaused,
     * and nothing arrived (TLS): a write in progress across one was not
     * being sent. Each is recorded when it ends: bytes arrive, a read
     * pause begins, or the peer stops reading. Complete after join(). */
    std::mutex quiet_mu;
    std::vector<std::pair<uint64_t, uint64_t>> quiet;
    /* Start of the current such interval (0: none yet). */
    uint64_t quiet_since() const
    {
        uint64_t a = last_rx_ns, b = last_pause_end_ns;
        return a > b ? a : b;
    }
    /* The current interval ends at |t| (the peer's thread only). */
    void note_quiet_end(uint64_t t)
    {
        uint64_t q = quiet_since();
        if (handshake_done && t > q && t - q >= 1000000000ull) {
            std::lock_guard<std::mutex> g(quiet_mu);
            quiet.emplace_back(q, t);
        }
    }
    /* The longest part of [t0, t1] in one quiet interval; its start in
     * |*from|. */
    uint64_t quiet_overlap(uint64_t t0, uint64_t t1, uint64_t *from)
    {
        std::lock_guard<std::mutex> g(quiet_mu);
        uint64_t best = 0;
        for (auto &q : quiet) {
            uint64_t a = q.first > t0 ? q.first : t0;
            uint64_t b = q.second < t1 ? q.second : t1;
            if (b > a && b - a > best) {
                best = b - a;
                *from = a;
            }
        }
        return best;
    }

    /* Filled by the thread; read after join(). */
    std::vector<uint8_t> rx;
    std::vector<std::vector<uint8_t>> dgrams;
    uint64_t tx_datagrams = 0;
    /* QUIC streams: by stream ID. */
    std::map<uint64_t, PeerStream> streams;
    bool stream_mode = false; /* QUIC: streams rather than the default one */

    void start(Proto p);
    void stop() { stop_flag = true; }
    void join()
    {
        if (thread.joinable())
            thread.join();
    }
    /* True if it has been reading, unpaused, since |t| and still is. */
    bool draining_since(uint64_t t) const
    {
        return !rx_done && !rx_paused && last_pause_end_ns <= t;
    }

    std::thread thread;
};

/* The protocol loops (peer_tls.cc, peer_dtls.cc); both block SIGPIPE on
 * their own thread: a peer writing to a socket tickless closed must not
 * kill the process that tests whether tickless does. */
void peer_tls_loop(Peer *p);
void peer_dtls_loop(Peer *p);
void peer_quic_loop(Peer *p); /* |ssl| is a listener */
void peer_block_sigpipe();

/* What one read of a protocol loop gave: bytes (*n of them, in |buf|),
 * nothing for now (OpenSSL wants to read or, *want_write set when given,
 * to write), or the end of what |p| will read: the peer's close_notify or
 * FIN (p->got_eof set), or an alert or the other socket gone (END). */
enum class PeerRead { BYTES, AGAIN, FIN, END };
PeerRead peer_read(Peer *p, SSL *ssl, std::vector<uint8_t> &buf, size_t *n,
                   bool *want_write = nullptr);

} // namespace torture

#endif
