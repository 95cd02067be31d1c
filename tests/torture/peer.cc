/* peer: what the protocol loops share. See peer.h. */
#include "peer.h"

#include <csignal>
#include <pthread.h>

namespace torture {

void peer_block_sigpipe()
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &s, nullptr);
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
