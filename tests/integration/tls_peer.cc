#include "tls_peer.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

extern "C" {
#include "ts_certs.h"
#include "ts_net.h"
#include "ts_util.h"
}

namespace {
constexpr int kSmallBuffer = 4096; // the kernel doubles it
}

void SmallSendBuffer(SSL *ssl)
{
    int v = kSmallBuffer;
    setsockopt(SSL_get_fd(ssl), SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

TlsPeer::TlsPeer()
{
    lfd_ = ts_net_bind(SOCK_STREAM, 0, 0, &port_);
    int v = kSmallBuffer; // inherited by the accepted socket
    if (lfd_ >= 0)
        setsockopt(lfd_, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
    thread_ = std::thread([this] { Run(); });
}

TlsPeer::~TlsPeer()
{
    stop_ = true;
    thread_.join();
    if (lfd_ >= 0)
        close(lfd_);
}

void TlsPeer::Send(const std::string &bytes)
{
    std::lock_guard<std::mutex> g(mu_);
    to_send_ += bytes;
}

bool TlsPeer::WaitEof(unsigned ms)
{
    for (unsigned i = 0; i < ms && !eof_; i++)
        ts_sleep_ms(1);
    return eof_;
}

std::vector<uint8_t> TlsPeer::Received()
{
    std::lock_guard<std::mutex> g(mu_);
    return received_;
}

// One nonblocking loop: accept, handshake, then read while allowed and
// send what is queued, until stopped.
void TlsPeer::Run()
{
    struct pollfd lp = { lfd_, POLLIN, 0 };
    int fd = -1;

    while (!stop_ && fd < 0) {
        if (poll(&lp, 1, 10) > 0)
            fd = accept(lfd_, nullptr, nullptr);
    }
    if (fd < 0)
        return;
    ts_net_set_nonblock(fd, 1);
    SSL_CTX *ctx = ts_server_ctx(TS_TLS);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_accept_state(ssl);
    SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE
                          | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    bool handshaken = false;
    std::vector<uint8_t> buf(65536);

    while (!stop_ && !failed_) {
        short events = 0;
        if (!handshaken) {
            int r = SSL_do_handshake(ssl);
            if (r == 1) {
                handshaken = true;
                continue;
            }
            int e = SSL_get_error(ssl, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                failed_ = true;
            events = e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
        } else {
            {
                std::lock_guard<std::mutex> g(mu_);
                size_t n = 0;
                if (!to_send_.empty()) {
                    if (SSL_write_ex(ssl, to_send_.data(), to_send_.size(), &n))
                        to_send_.erase(0, n);
                    else if (SSL_get_error(ssl, 0) == SSL_ERROR_WANT_WRITE)
                        events |= POLLOUT;
                    else
                        failed_ = true;
                }
            }
            if (reading_ && !eof_) {
                size_t n = 0;
                if (SSL_read_ex(ssl, buf.data(), buf.size(), &n)) {
                    std::lock_guard<std::mutex> g(mu_);
                    received_.insert(received_.end(), buf.begin(),
                                     buf.begin() + n);
                    continue;
                }
                int e = SSL_get_error(ssl, 0);
                if (e == SSL_ERROR_ZERO_RETURN) {
                    (void)SSL_shutdown(ssl); // answer the close_notify
                    eof_ = true;
                } else if (e == SSL_ERROR_WANT_READ) {
                    events |= POLLIN;
                } else if (e == SSL_ERROR_WANT_WRITE) {
                    events |= POLLOUT;
                } else {
                    failed_ = true;
                }
            }
        }
        struct pollfd p = { fd, events, 0 };
        (void)poll(&p, 1, 2);
    }
    ERR_clear_error();
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
}
