// tickless_listener_new_dtls(): a DTLS server whose workers block in
// tickless_listener_accept(), against tickless clients, in every assist
// mode: its bad input, a close that wakes the accepts while the accepted
// connections go on, and a client hello that arrives twice. (Clients
// tickless did not write, many at once and through loss: DtlsListenerInterop.)
#include "harness.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

extern "C" {
#include "ts_net.h"
#include "ts_relay.h"
}

class DtlsListener : public testing::TestWithParam<Mode> {
protected:
    // A listener on 127.0.0.1 in the test's mode (NewDtlsListener()), on
    // port_.
    tickless_listener *Listen()
    {
        return NewDtlsListener(GetParam(), AF_INET, &port_);
    }

    uint16_t port_ = 0;
};

TEST_P(DtlsListener, BadInput)
{
    tickless_listener *l = reinterpret_cast<tickless_listener *>(1);
    SSL_CTX *dtls = ts_server_ctx(TS_DTLS);
    SSL_CTX *tls = ts_server_ctx(TS_TLS);
    ASSERT_NE(dtls, nullptr);
    ASSERT_NE(tls, nullptr);
    uint16_t port = 0;
    int udp = BindUdp(AF_INET, &port);
    ASSERT_GE(udp, 0);
    int tcp = ts_net_bind(SOCK_STREAM, 0, 0, nullptr);
    int unbound = socket(AF_INET, SOCK_DGRAM, 0);

    EXPECT_EQ(tickless_listener_new_dtls(nullptr, udp, PoolFor(GetParam()), &l),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(l, nullptr);
    EXPECT_EQ(tickless_listener_new_dtls(dtls, -1, nullptr, &l),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_listener_new_dtls(dtls, udp, nullptr, nullptr),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_listener_new_dtls(tls, udp, nullptr, &l),
              TICKLESS_ERR_INVALID); // not DTLS
    EXPECT_EQ(tickless_listener_new_dtls(dtls, tcp, nullptr, &l),
              TICKLESS_ERR_INVALID); // not UDP
    EXPECT_EQ(tickless_listener_new_dtls(dtls, unbound, nullptr, &l),
              TICKLESS_ERR_INVALID); // not bound
    close(tcp);
    close(unbound);

    ASSERT_EQ(tickless_listener_new_dtls(dtls, udp, PoolFor(GetParam()), &l),
              0);
    SSL_CTX_free(dtls); // the listener keeps its own reference
    SSL_CTX_free(tls);
    tickless_conn *c = reinterpret_cast<tickless_conn *>(1);
    EXPECT_EQ(tickless_listener_accept(l, nullptr, 0), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_listener_accept(l, &c, -2), TICKLESS_ERR_INVALID);
    EXPECT_EQ(c, nullptr);
    EXPECT_EQ(tickless_listener_accept(l, &c, 0), TICKLESS_ERR_TIMEOUT);
    EXPECT_EQ(tickless_listener_accept(l, &c, 50), TICKLESS_ERR_TIMEOUT);
    tickless_stream *s = nullptr;
    EXPECT_EQ(tickless_listener_accept_stream(l, &s, 0),
              TICKLESS_ERR_UNSUPPORTED);
    tickless_listener_close(l);
    EXPECT_EQ(tickless_listener_accept(l, &c, 1000), TICKLESS_ERR_CLOSED);
    tickless_listener_free(l); // closes |udp|
}

// Workers blocked in accept return TICKLESS_ERR_CLOSED promptly when the
// listener is closed; a connection accepted before goes on after the
// listener is freed (it has a socket of its own).
TEST_P(DtlsListener, CloseWakesAcceptsAndAcceptedConnectionsGoOn)
{
    tickless_listener *l = Listen();
    ASSERT_NE(l, nullptr);

    tickless_conn *sc = nullptr;
    std::thread acceptor([&] {
        ASSERT_EQ(tickless_listener_accept(l, &sc, 20000), 0);
        EXPECT_EQ(tickless_conn_handshake(sc, 20000), 0);
    });
    tickless_conn *c = NewClient(GetParam(), TS_DTLS, port_, ts_dtls_fast_timer);
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(tickless_conn_handshake(c, 20000), 0);
    acceptor.join();
    ASSERT_NE(sc, nullptr);

    std::atomic<int> rcs[2] = { { 1 }, { 1 } };
    std::vector<std::thread> blocked;
    for (int i = 0; i < 2; i++)
        blocked.emplace_back([&, i] {
            tickless_conn *none = nullptr;
            rcs[i] = tickless_listener_accept(l, &none, TICKLESS_FOREVER);
        });
    ts_sleep_ms(100);
    uint64_t t0 = ts_now_ns();
    tickless_listener_close(l);
    for (auto &t : blocked)
        t.join();
    EXPECT_LT((ts_now_ns() - t0) / 1e9, 5.0 * TimeScale());
    EXPECT_EQ(rcs[0].load(), TICKLESS_ERR_CLOSED);
    EXPECT_EQ(rcs[1].load(), TICKLESS_ERR_CLOSED);
    tickless_listener_free(l);

    // The accepted connection still echoes through its own socket.
    const char msg[] = "still here";
    char got[sizeof(msg)] = {};
    size_t n = 0;
    ASSERT_EQ(tickless_conn_write(c, msg, sizeof(msg), &n, 5000), 0);
    ASSERT_EQ(ReadExactly(sc, got, sizeof(msg), 5000), 0);
    EXPECT_EQ(std::memcmp(got, msg, sizeof(msg)), 0);
    tickless_conn_close(c);
    tickless_conn_close(sc);
}

// Every datagram arrives twice: the client's hello with its cookie, twice,
// before the listener has given the first a socket of its own. One
// connection comes of it, and its handshake completes. (Seen with 20 %
// loss, a client that got two cookie requests answered both: a second
// connection for the same client sent a second ServerHello flight, and
// the client read "bad signature" from the mix.)
TEST_P(DtlsListener, ADuplicatedHelloMakesOneConnection)
{
    tickless_listener *l = Listen();
    ASSERT_NE(l, nullptr);
    ts_relay_options ro = SeededRelay(7);
    ro.duplicate = 1.0;
    ts_relay *relay = nullptr;
    ASSERT_EQ(ts_relay_start(port_, &ro, &relay), 0);

    for (int round = 0; round < 3; round++) {
        // Nobody accepts until both copies wait on the listening socket.
        tickless_conn *c = NewClient(GetParam(), TS_DTLS, ts_relay_port(relay),
                                     ts_dtls_fast_timer);
        ASSERT_NE(c, nullptr);
        std::atomic<int> client_rc{1};
        std::thread client([&] { client_rc = tickless_conn_handshake(c, 20000); });
        ts_sleep_ms(300);
        tickless_conn *sc = nullptr, *extra = nullptr;
        ASSERT_EQ(tickless_listener_accept(l, &sc, 20000), 0);
        int hs = tickless_conn_handshake(sc, 20000);
        client.join();
        EXPECT_EQ(hs, 0) << "round " << round << ": " << tickless_err_name(hs);
        EXPECT_EQ(client_rc.load(), 0)
            << "round " << round << ": " << tickless_err_name(client_rc.load());
        EXPECT_EQ(tickless_listener_accept(l, &extra, 300), TICKLESS_ERR_TIMEOUT)
            << "round " << round << ": a second connection for one client";
        if (extra != nullptr)
            tickless_conn_close(extra);
        tickless_conn_close(c);
        tickless_conn_close(sc);
    }
    tickless_listener_free(l);
    ts_relay_stop(relay);
}

INSTANTIATE_TEST_SUITE_P(AllModes, DtlsListener, EveryMode(), ModeParamName);
