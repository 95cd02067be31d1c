// A DTLS handshake through a path that drops 20% of datagrams each way
// completes while the application thread sits blocked in
// tickless_conn_handshake(): every retransmission is the assist's doing.
#include "harness.h"

TEST(DtlsLoss, HandshakeCompletesThroughTwentyPercentLoss)
{
    ts_server *srv = StartServer(TS_DTLS);
    ASSERT_NE(srv, nullptr);
    ts_relay_options o = {};
    o.seed = 7;
    o.loss = 0.20;
    ts_relay *relay = nullptr;
    ASSERT_EQ(ts_relay_start(ts_server_port(srv), &o, &relay), 0);

    int completed = 0;
    uint64_t retransmit_ticks = 0;
    // Enough connections that the loss surely hits handshake flights (all
    // of some 50 handshake datagrams escaping 20% loss: p < 1e-4).
    const int kConns = 8;
    for (int i = 0; i < kConns; i++) {
        tickless_conn *c = NewClient(Mode::Dedicated, TS_DTLS,
                                     ts_relay_port(relay), ts_dtls_fast_timer);
        ASSERT_NE(c, nullptr);
        int rc = tickless_conn_handshake(c, 60000);
        EXPECT_EQ(rc, 0) << "connection " << i << ": " << tickless_err_name(rc);
        if (rc == 0) {
            completed++;
            // Prove the channel works after the lossy handshake.
            EXPECT_EQ(WritePattern(c, 0, 100), 0);
        }
        tickless_stats st = TICKLESS_STATS_INIT;
        ASSERT_EQ(tickless_conn_stats(c, &st), 0);
        retransmit_ticks += st.timer_ticks;
        tickless_conn_close(c);
    }
    EXPECT_EQ(completed, kConns);
    EXPECT_GT(ts_relay_dropped(relay), 0u);
    // Datagrams were lost, so some flight had to be resent on a timer.
    EXPECT_GT(retransmit_ticks, 0u);
    ts_relay_stop(relay);
    ts_server_stop(srv);
}
