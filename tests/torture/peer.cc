/* peer: what the protocol loops share. See peer.h. */
#include "peer.h"

#include <csignal>
#include <pthread.h>

#include <openssl/err.h>

namespace torture {

void peer_block_sigpipe()
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &s, nullptr);
}

PeerRead peer_read(Peer *p, SSL *ssl, std::vector<uint8_t> &buf, size_t *n,
                   bool *want_write)
{
    *n = 0;
    ERR_clear_error();
    if (SSL_read_ex(ssl, buf.data(), buf.size(), n))
        return PeerRead::BYTES;
    int e = SSL_get_error(ssl, 0);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        if (want_write != nullptr && e == SSL_ERROR_WANT_WRITE)
            *want_write = true;
        return PeerRead::AGAIN;
    }
    if (e != SSL_ERROR_ZERO_RETURN)
        return PeerRead::END;
    p->got_eof = true;
    return PeerRead::FIN;
}

void Peer::start(Proto p)
{
    stream_mode = p == Proto::STREAM;
    if (p == Proto::DTLS)
        thread = std::thread(peer_dtls_loop, this);
    else if (p == Proto::QUIC || p == Proto::STREAM)
        thread = std::thread(peer_quic_loop, this);
    else
        thread = std::thread(peer_tls_loop, this);
}

} // namespace torture
