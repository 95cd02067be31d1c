// QUIC: right after an application call the assist leaves the socket to
// the application, whose calls read it, and takes it back at the end of
// the hand-off (1 ms after a pause, up to 8 ms while calls keep coming:
// HANDOFF_NS, src/core/core.h) if no call came. A reply that arrives in
// that window must still be read while the application sleeps: the assist
// takes the socket back, it does not wait for the next call.
#include "harness.h"


class Handoff : public testing::TestWithParam<Variant> {};

TEST_P(Handoff, ReplyRightAfterACallIsReadWhileTheApplicationSleeps)
{
    const Variant v = GetParam();
    SKIP_UNLESS_AVAILABLE(v.proto);
    ts_server *srv = nullptr;
    tickless_conn *c = StartServerAndConnect(v.mode, v.proto, &srv);
    ASSERT_NE(c, nullptr);

    const size_t kLen = 100;
    // A round trip first, not checked for who read the reply: right after
    // the handshake OpenSSL has timers of its own due within a few
    // milliseconds, and one that came due just before the end of the
    // hand-off read the reply in a timer tick, which the check below (an
    // I/O tick) does not count. Traced in a failing run: the reply was read
    // on time; the test waited for an I/O tick that nothing needed.
    ASSERT_EQ(WritePattern(c, 0, kLen), 0);
    ASSERT_EQ(ReadPattern(c, 0, kLen, 1000), 0);
    ts_sleep_ms(50);
    uint64_t off = kLen;
    for (int round = 0; round < 10; round++, off += kLen) {
        tickless_stats before = TICKLESS_STATS_INIT;
        tickless_stats after = TICKLESS_STATS_INIT;
        ASSERT_EQ(tickless_conn_stats(c, &before), 0);
        // The call ends; its echo comes back a fraction of a millisecond
        // later, inside the hand-off, while this thread sleeps.
        ASSERT_EQ(WritePattern(c, off, kLen), 0);
        uint64_t give_up = ts_now_ns() + (uint64_t)(5e9 * TimeScale());
        size_t pending = 0;
        // A lock section begins with a tick of its own, which would read
        // the echo itself: the first look waits for the assist's I/O tick
        // (taking the socket back), not for a fixed time, which a loaded
        // machine overran once (ThreadSanitizer, a whole suite at once).
        do {
            ts_sleep_ms(1);
            ASSERT_EQ(tickless_conn_stats(c, &after), 0);
        } while (after.io_ticks == before.io_ticks && ts_now_ns() < give_up);
        while (pending < kLen && ts_now_ns() < give_up) {
            ts_sleep_ms(5);
            // SSL_pending() only looks at OpenSSL's buffers: it never
            // reads the socket, so only a tick can have filled them.
            SSL *ssl = tickless_conn_lock(c);
            ASSERT_NE(ssl, nullptr);
            pending = SSL_pending(ssl);
            tickless_conn_unlock(c);
        }
        EXPECT_EQ(pending, kLen)
            << "round " << round << ": the echo was left in the socket";
        // Read by the assist taking the socket back (an I/O tick), not
        // left for OpenSSL's next timer (loss detection, tens of ms later),
        // whose tick would read it too.
        ASSERT_EQ(tickless_conn_stats(c, &after), 0);
        EXPECT_GT(after.io_ticks, before.io_ticks) << "round " << round;
        // And the bytes are the right ones.
        ASSERT_EQ(ReadPattern(c, off, kLen, 1000), 0);
    }
    tickless_conn_close(c);
    ts_server_stop(srv);
}

INSTANTIATE_TEST_SUITE_P(AllModes, Handoff, VariantsOf({ TS_QUIC }),
                         VariantName);
