// SSL_MODE_ASYNC is refused, plainly. OpenSSL resumes an async job only on
// the thread that started it: a job paused in one thread's call and
// finished in another's returns to the first thread's stack and crashes
// the process (seen here: a certificate callback that paused the
// handshake's job, resumed by the assist, died with SIGSEGV about one run
// in three). tickless calls OpenSSL from the application's threads and
// the assist's, so it cannot keep that promise, and says so at
// tickless_conn_new() instead of crashing later. The SSL object stays the
// caller's, unchanged.
#include "harness.h"

extern "C" {
#include "ts_net.h"
}

#include <sys/socket.h>
#include <unistd.h>

namespace {

TEST(AsyncMode, IsRefusedAndTheSslObjectStaysTheCallers)
{
    for (ts_proto p : {TS_TLS, TS_DTLS}) {
        SSL_CTX *ctx = ts_client_ctx(p);
        ASSERT_NE(ctx, nullptr);
        SSL_CTX_set_mode(ctx, SSL_MODE_ASYNC);
        SSL *ssl = SSL_new(ctx);
        SSL_CTX_free(ctx);
        ASSERT_NE(ssl, nullptr);
        int fd = socket(AF_INET, p == TS_TLS ? SOCK_STREAM : SOCK_DGRAM, 0);
        ASSERT_GE(fd, 0);
        BIO *bio = p == TS_TLS ? BIO_new_socket(fd, BIO_CLOSE)
                               : BIO_new_dgram(fd, BIO_CLOSE);
        ASSERT_NE(bio, nullptr);
        SSL_set_bio(ssl, bio, bio);
        SSL_set_connect_state(ssl);

        tickless_conn *c = reinterpret_cast<tickless_conn *>(0x1);
        EXPECT_EQ(tickless_conn_new(ssl, nullptr, &c),
                  TICKLESS_ERR_UNSUPPORTED);
        EXPECT_EQ(c, nullptr);
        // Still the caller's: unchanged (blocking socket, mode as set),
        // and a second try says the same rather than "already taken".
        EXPECT_NE(SSL_get_mode(ssl) & SSL_MODE_ASYNC, 0u);
        EXPECT_EQ(tickless_conn_new(ssl, nullptr, &c),
                  TICKLESS_ERR_UNSUPPORTED);
        // Without the mode the same object is taken.
        SSL_clear_mode(ssl, SSL_MODE_ASYNC);
        ASSERT_EQ(tickless_conn_new(ssl, nullptr, &c), 0);
        tickless_conn_close(c);
    }
}

} // namespace
