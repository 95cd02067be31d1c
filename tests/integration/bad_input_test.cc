// Every public call, given bad input that needs no connection (null
// handles and pointers, zero lengths, an SSL object tickless cannot drive),
// returns its documented error: no crash, no hang, no leak. The calls on a
// connection: BadInputConn.
#include "harness.h"

#include <sys/socket.h>
#include <unistd.h>

TEST(BadInput, NullPointersAndZeroLengths)
{
    char buf[8];
    size_t n = 99;
    tickless_conn *c = reinterpret_cast<tickless_conn *>(0x1);

    EXPECT_EQ(tickless_conn_new(nullptr, nullptr, &c), TICKLESS_ERR_INVALID);
    EXPECT_EQ(c, nullptr) << "*out is cleared on failure";
    EXPECT_EQ(tickless_conn_handshake(nullptr, 0), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_conn_read(nullptr, buf, sizeof(buf), &n, 0),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(n, 0u);
    EXPECT_EQ(tickless_conn_write(nullptr, buf, sizeof(buf), &n, 0),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_conn_shutdown(nullptr, 0), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_conn_lock(nullptr), nullptr);
    tickless_conn_unlock(nullptr);
    tickless_conn_close(nullptr);
    tickless_stats st = TICKLESS_STATS_INIT;
    EXPECT_EQ(tickless_conn_stats(nullptr, &st), TICKLESS_ERR_INVALID);
    tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
    EXPECT_EQ(tickless_conn_error(nullptr, &info), TICKLESS_ERR_INVALID);
}

TEST(BadInput, StrerrorKnowsEveryCode)
{
    EXPECT_STREQ(tickless_err_name(TICKLESS_ERR_TIMEOUT), "TICKLESS_ERR_TIMEOUT");
    EXPECT_STREQ(tickless_strerror(TICKLESS_ERR_TIMEOUT), "timed out");
    EXPECT_STREQ(tickless_err_name(0), "TICKLESS_OK");
    EXPECT_STREQ(tickless_err_name(-9999), "TICKLESS_ERR_UNKNOWN");
    EXPECT_STREQ(tickless_strerror(12345), "unknown error");
    for (int e = TICKLESS_ERR_MIN_; e < 0; e++)
        EXPECT_STRNE(tickless_err_name(e), "TICKLESS_ERR_UNKNOWN") << e;
}

TEST(BadInput, SslWithoutSocketBio)
{
    SSL_CTX *ctx = ts_client_ctx(TS_TLS);
    ASSERT_NE(ctx, nullptr);
    tickless_conn *c = nullptr;

    SSL *no_bio = SSL_new(ctx);
    EXPECT_EQ(tickless_conn_new(no_bio, nullptr, &c), TICKLESS_ERR_INVALID);
    SSL_free(no_bio); // still ours after a failed tickless_conn_new

    SSL *mem = SSL_new(ctx);
    SSL_set_bio(mem, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
    EXPECT_EQ(tickless_conn_new(mem, nullptr, &c), TICKLESS_ERR_INVALID);
    SSL_free(mem);

    // A TLS object on a UDP socket is not something tickless can drive.
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    SSL *wrong = SSL_new(ctx);
    SSL_set_fd(wrong, fd);
    EXPECT_EQ(tickless_conn_new(wrong, nullptr, &c), TICKLESS_ERR_INVALID);
    SSL_free(wrong);
    close(fd);

    SSL *ok = SSL_new(ctx);
    EXPECT_EQ(tickless_conn_new(ok, nullptr, nullptr), TICKLESS_ERR_INVALID);
    SSL_free(ok);
    SSL_CTX_free(ctx);
}
