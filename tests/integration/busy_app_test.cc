// The application writes 256 KiB through a lossy, slow path and then goes
// away for 3 s. With tickless the assist keeps retransmitting and the server
// has every byte before the application wakes; with plain nonblocking
// OpenSSL and nobody ticking, almost nothing arrives. Both are asserted, so
// the test shows what the assist does.
#include "harness.h"

#include <poll.h>

#include <vector>

#if TS_HAVE_QUIC

namespace {

const size_t kPayload = 256 << 10;
const unsigned kBusyMs = 3000;

ts_relay *StartLossyRelay(uint16_t upstream)
{
    ts_relay_options o = {};
    ts_relay *r = nullptr;

    o.seed = 42;
    o.loss = 0.05;
    o.delay_ms = 20;
    if (ts_relay_start(upstream, &o, &r) != 0)
        return nullptr;
    return r;
}

// Drives a plain nonblocking QUIC handshake the way OpenSSL's demos do:
// poll for the event timeout, then tick.
bool PlainHandshake(SSL *ssl, int fd)
{
    uint64_t give_up = ts_now_ns() + 20ull * 1000000000ull;

    while (ts_now_ns() < give_up) {
        int ret = SSL_connect(ssl);
        if (ret == 1)
            return true;
        int err = SSL_get_error(ssl, ret);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
            return false;
        struct timeval tv;
        int infinite = 0;
        int ms = 100;
        if (SSL_get_event_timeout(ssl, &tv, &infinite) && !infinite)
            ms = (int)(tv.tv_sec * 1000 + tv.tv_usec / 1000);
        struct pollfd p = { fd, POLLIN, 0 };
        poll(&p, 1, ms);
        SSL_handle_events(ssl);
    }
    return false;
}

} // namespace

TEST(BusyApplication, AssistDeliversWhileApplicationSleeps)
{
    SKIP_UNLESS_AVAILABLE(TS_QUIC);
    ts_server *srv = StartServer(TS_QUIC, /*sink=*/true);
    ASSERT_NE(srv, nullptr);
    ts_relay *relay = StartLossyRelay(ts_server_port(srv));
    ASSERT_NE(relay, nullptr);
    tickless_conn *c = NewClient(Mode::Dedicated, TS_QUIC, ts_relay_port(relay));
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(tickless_conn_handshake(c, 20000), 0);

    ASSERT_EQ(WritePattern(c, 0, kPayload), 0);
    ts_sleep_ms(kBusyMs); // the application computes; nobody calls tickless
    uint64_t delivered = ts_server_bytes_received(srv);

    EXPECT_EQ(delivered, kPayload);
    EXPECT_EQ(ts_server_pattern_errors(srv), 0u);
    EXPECT_GT(ts_relay_dropped(relay), 0u) << "the path was not lossy";
    tickless_stats st = TICKLESS_STATS_INIT;
    ASSERT_EQ(tickless_conn_stats(c, &st), 0);
    EXPECT_GT(st.timer_ticks, 0u);
    EXPECT_GT(st.io_ticks, 0u);

    tickless_conn_close(c);
    ts_relay_stop(relay);
    ts_server_stop(srv);
}

TEST(BusyApplication, PlainOpenSslStallsWithoutTicking)
{
    SKIP_UNLESS_AVAILABLE(TS_QUIC);
    ts_server *srv = StartServer(TS_QUIC, /*sink=*/true);
    ASSERT_NE(srv, nullptr);
    ts_relay *relay = StartLossyRelay(ts_server_port(srv));
    ASSERT_NE(relay, nullptr);
    SSL_CTX *ctx = ts_client_ctx(TS_QUIC);
    SSL *ssl = ts_client_new(ctx, TS_QUIC, ts_relay_port(relay));
    SSL_CTX_free(ctx);
    ASSERT_NE(ssl, nullptr);
    ASSERT_EQ(SSL_set_blocking_mode(ssl, 0), 1);
    SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE);
    ASSERT_TRUE(PlainHandshake(ssl, SSL_get_fd(ssl)));

    // Queue as much of the payload as OpenSSL takes without waiting, then
    // sleep with nobody ticking, as the busy application does.
    std::vector<uint8_t> buf(kPayload);
    ts_fill_pattern(buf.data(), kPayload, 0);
    size_t queued = 0;
    while (queued < kPayload) {
        size_t n = 0;
        if (!SSL_write_ex(ssl, buf.data() + queued, kPayload - queued, &n))
            break;
        queued += n;
    }
    ts_sleep_ms(kBusyMs);
    uint64_t delivered = ts_server_bytes_received(srv);

    // Only what the first flight carried: far less than the payload.
    EXPECT_LT(delivered, kPayload / 4) << "queued " << queued;
    SSL_free(ssl);
    ts_relay_stop(relay);
    ts_server_stop(srv);
}

#else

TEST(BusyApplication, AssistDeliversWhileApplicationSleeps)
{
    SKIP_UNLESS_AVAILABLE(TS_QUIC);
}

TEST(BusyApplication, PlainOpenSslStallsWithoutTicking)
{
    SKIP_UNLESS_AVAILABLE(TS_QUIC);
}

#endif
