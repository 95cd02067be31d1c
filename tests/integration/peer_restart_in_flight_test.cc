// The peer restarting on the same port (peer_restart.h says how) while a
// 256 KiB write is under way and its echo is being read, in every assist
// mode. Only the reliable protocols: a DTLS write is sent at once, there
// is no transfer in flight to cut (PeerRestart covers its writes).
#include "peer_restart.h"

#include <future>
#include <string>
#include <thread>
#include <vector>

namespace {

class PeerRestartInFlight : public testing::TestWithParam<Variant> {};

// Every byte the write accepted is echoed back intact, or the write or the
// read reports an error; a read that returned success has every byte.
TEST_P(PeerRestartInFlight, WriteCutMidwayIsDeliveredOrReported)
{
    const Variant v = GetParam();
    const size_t kTotal = 256 << 10;
    SKIP_UNLESS_AVAILABLE(v.proto);
    ts_server *srv = StartOn(v.proto, 0);
    ASSERT_NE(srv, nullptr);
    const uint16_t port = ts_server_port(srv);
    // QUIC through a relay that delays each datagram 10 ms: slow start then
    // takes several round trips for 256 KiB, so the restart below lands in
    // the middle of the transfer. The relay's upstream socket keeps its
    // port, so the restarted server sees the same client address. (TCP
    // cannot cross the relay; over loopback the restart may come after
    // the last byte, which must then all be there.)
    ts_relay *relay = nullptr;
    uint16_t dial = port;
    if (v.proto == TS_QUIC) {
        ts_relay_options ro = {};
        ro.delay_ms = 10;
        ASSERT_EQ(ts_relay_start(port, &ro, &relay), 0);
        dial = ts_relay_port(relay);
    }
    tickless_conn *c = NewClient(v.mode, v.proto, dial, ClientTweak());
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(tickless_conn_handshake(c, 10000), 0);

    const int timeout_ms = VerdictTimeoutMs(v.proto);
    size_t got = 0;
    auto reader = std::async(std::launch::async, [c, timeout_ms, &got] {
        return ReadUpTo(c, 0, kTotal, timeout_ms, &got);
    });
    std::vector<uint8_t> out(kTotal);
    ts_fill_pattern(out.data(), kTotal, 0);
    size_t accepted = 0;
    int wrc = -100;
    std::thread writer([&] {
        wrc = tickless_conn_write(c, out.data(), kTotal, &accepted,
                                  timeout_ms);
    });
    // Restart once the server has some of it.
    (void)ts_server_wait_bytes_received(srv, 64 << 10, 10000);
    uint64_t at_restart = ts_server_bytes_received(srv);
    uint64_t t0 = ts_now_ns();
    srv = Restart(srv, v.proto);
    writer.join();
    int rrc = reader.get();
    double ms = MsSince(t0);
    Report(v, "restart after the server had " + std::to_string(at_restart)
                  + " of " + std::to_string(kTotal) + " bytes; write: "
                  + tickless_err_name(wrc) + " with "
                  + std::to_string(accepted) + " accepted; read: "
                  + Describe(c, rrc, ms) + " with " + std::to_string(got)
                  + " echoed intact");
    ASSERT_NE(srv, nullptr);
    EXPECT_TRUE(wrc == 0 || wrc == TICKLESS_ERR_PEER)
        << tickless_err_name(wrc);
    if (wrc == 0) {
        EXPECT_EQ(accepted, kTotal);
    }
    if (rrc == 0) {
        // Success means everything: then the write had finished too.
        EXPECT_EQ(got, kTotal);
        EXPECT_EQ(wrc, 0);
    } else {
        ExpectLost(v.proto, rrc);
        EXPECT_LT(got, kTotal);
    }
    EXPECT_LT(ms, DeadlineMs(v.proto)) << "a call outlived its bound";
    tickless_conn_close(c);
    ts_relay_stop(relay);
    ts_server_stop(srv);
}

INSTANTIATE_TEST_SUITE_P(AllModes, PeerRestartInFlight,
                         VariantsOf({ TS_QUIC, TS_TLS }), VariantName);

} // namespace
