// A TLS peer the test steers: it may stop reading (so the client's writes
// fill the socket buffers and block), record every byte it receives, and
// send bytes on request. For the write-semantics tests, which must see
// exactly what reached the peer, in order, and control when it drains.
#ifndef TICKLESS_TESTS_TLS_PEER_H
#define TICKLESS_TESTS_TLS_PEER_H

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <openssl/ssl.h>

class TlsPeer {
public:
    // Listens on 127.0.0.1 (an ephemeral port) with small socket buffers,
    // and serves one client on a thread of its own. Starts reading only
    // once Drain() is called.
    TlsPeer();
    ~TlsPeer();
    TlsPeer(const TlsPeer &) = delete;
    TlsPeer &operator=(const TlsPeer &) = delete;

    uint16_t port() const { return port_; }

    // Start (or stop) reading what the client sends.
    void Drain(bool on) { reading_ = on; }
    // Queue |bytes| to be sent to the client.
    void Send(const std::string &bytes);
    // Waits until the client's close_notify arrived; false after |ms|.
    bool WaitEof(unsigned ms);
    // Everything received so far.
    std::vector<uint8_t> Received();
    // Set when the peer's own TLS failed (the test reports it).
    bool failed() const { return failed_; }

private:
    void Run();

    int lfd_ = -1;
    uint16_t port_ = 0;
    std::atomic<bool> reading_{false}, stop_{false}, eof_{false},
        failed_{false};
    std::mutex mu_;
    std::vector<uint8_t> received_; // guarded by mu_
    std::string to_send_;           // guarded by mu_
    std::thread thread_;
};

// Makes the client socket behind |ssl| small-buffered, so that writes
// block after a few KiB: an SslTweak for NewClientOn().
void SmallSendBuffer(SSL *ssl);

#endif
