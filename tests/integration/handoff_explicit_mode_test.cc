// An application that set its QUIC object to explicit event handling
// (OpenSSL >= 3.4) before handing it over: its calls would never tick
// OpenSSL, yet tickless relies on them doing so: the hand-off leaves the
// socket for 1 ms after each call to the calls that follow, and a call
// with timeout 0 must look at the socket. tickless makes the object's
// event handling implicit. Here a lock section, which keeps the assist
// out, reads each echo with the application's own SSL_read_ex(): only a
// call that ticks takes it off the socket.
#include "harness.h"

#include <poll.h>

#include <vector>

#ifdef SSL_VALUE_EVENT_HANDLING_MODE
TEST(HandoffExplicitMode, ExplicitEventHandlingIsMadeImplicit)
{
    SKIP_UNLESS_AVAILABLE(TS_QUIC);
    ts_server *srv = nullptr;
    tickless_conn *c =
        StartServerAndConnect(Mode::Dedicated, TS_QUIC, &srv, [](SSL *ssl) {
            EXPECT_EQ(SSL_set_event_handling_mode(
                          ssl, SSL_VALUE_EVENT_HANDLING_MODE_EXPLICIT),
                      1);
        });
    ASSERT_NE(c, nullptr);

    const size_t kLen = 100;
    uint64_t off = 0;
    for (int round = 0; round < 5; round++, off += kLen) {
        ASSERT_EQ(WritePattern(c, off, kLen), 0);
        SSL *ssl = tickless_conn_lock(c);
        ASSERT_NE(ssl, nullptr);
        uint64_t mode = 0;
        EXPECT_EQ(SSL_get_event_handling_mode(ssl, &mode), 1);
        EXPECT_EQ(mode, (uint64_t)SSL_VALUE_EVENT_HANDLING_MODE_IMPLICIT);
        BIO_POLL_DESCRIPTOR d;
        ASSERT_EQ(SSL_get_rpoll_descriptor(ssl, &d), 1);
        std::vector<uint8_t> buf(kLen);
        size_t got = 0;
        uint64_t give_up = ts_now_ns() + (uint64_t)(5e9 * TimeScale());
        while (got < kLen && ts_now_ns() < give_up) {
            size_t n = 0;
            if (SSL_read_ex(ssl, buf.data() + got, kLen - got, &n) == 1) {
                got += n;
                continue;
            }
            struct pollfd p = { d.value.fd, POLLIN, 0 };
            (void)poll(&p, 1, 100);
        }
        tickless_conn_unlock(c);
        EXPECT_EQ(got, kLen)
            << "round " << round << ": the calls never read the socket";
        EXPECT_EQ(ts_check_pattern(buf.data(), got, off), got);
        if (got < kLen)
            break;
    }
    tickless_conn_close(c);
    ts_server_stop(srv);
}
#endif
