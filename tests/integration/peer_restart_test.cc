// The peer restarting on the same port (peer_restart.h says how), in every
// assist mode and protocol.
//
// What must hold, for a connection made before the restart:
//  - every byte a write reported as accepted comes back intact, or a call
//    reports an error; never success with missing or wrong bytes;
//  - no call outlives its timeout (plus slack for a loaded machine);
//  - QUIC and TLS learn that the peer is gone: TICKLESS_ERR_PEER (QUIC by
//    its idle timeout at the latest, TLS from the FIN or the RST);
//  - DTLS has no way to learn it (no acknowledgements, no keep-alive):
//    writes are sent into the void and reads end at their own timeout.
// And the restarted server serves new connections, while the old ones are
// still sending to it. (A transfer cut by the restart: PeerRestartInFlight.)
#include "peer_restart.h"

#include <future>
#include <string>

namespace {

// A new connection to the restarted server: handshake and 16 KiB echoed
// intact.
void ExpectNewConnectionServed(const Variant &v, uint16_t port)
{
    tickless_conn *c = NewClient(v.mode, v.proto, port, ClientTweak());
    ASSERT_NE(c, nullptr);
    uint64_t t0 = ts_now_ns();
    EXPECT_EQ(tickless_conn_handshake(c, 10000), 0);
    EXPECT_EQ(WritePattern(c, 0, 16 << 10, 10000), 0);
    EXPECT_EQ(ReadPattern(c, 0, 16 << 10, 10000), 0);
    Report(v, "new connection: 16 KiB echoed in "
                  + std::to_string((long)MsSince(t0)) + " ms");
    tickless_conn_close(c);
}

// The opening of the tests below: a server on a port of its own and a
// client of |v|'s mode that has handshaken and echoed 4 KiB through it.
// Returns the client and sets *srv; on failure adds a test failure naming
// the step and returns nullptr with *srv == nullptr, having closed what it
// opened.
tickless_conn *EstablishedClient(const Variant &v, ts_server **srv)
{
    *srv = StartOn(v.proto, 0);
    if (*srv == nullptr)
        return nullptr; // StartOn() has said why
    tickless_conn *c =
        NewClient(v.mode, v.proto, ts_server_port(*srv), ClientTweak());
    if (c != nullptr) { // else NewClient() has said why
        int rc = tickless_conn_handshake(c, 10000);
        if (rc == 0)
            rc = WritePattern(c, 0, 4096);
        if (rc == 0)
            rc = ReadPattern(c, 0, 4096);
        if (rc == 0)
            return c;
        ADD_FAILURE() << "handshake and 4 KiB echo before the restart: "
                      << tickless_err_name(rc);
        tickless_conn_close(c);
    }
    ts_server_stop(*srv);
    *srv = nullptr;
    return nullptr;
}

class PeerRestart : public testing::TestWithParam<Variant> {};

// A read blocked across the restart ends with an error in time; the next
// write and read do too; then a new connection is served.
TEST_P(PeerRestart, BlockedReadEndsWithErrorThenNewConnectionEchoes)
{
    const Variant v = GetParam();
    SKIP_UNLESS_AVAILABLE(v.proto);
    ts_server *srv = nullptr;
    tickless_conn *c = EstablishedClient(v, &srv);
    ASSERT_NE(c, nullptr);
    const uint16_t port = ts_server_port(srv);

    const int timeout_ms = VerdictTimeoutMs(v.proto);
    auto blocked = std::async(std::launch::async, [c, timeout_ms] {
        char buf[256];
        size_t n = 0;
        int rc = tickless_conn_read(c, buf, sizeof(buf), &n, timeout_ms);
        EXPECT_EQ(n, 0u) << "bytes from a server that cannot know us";
        return rc;
    });
    ts_sleep_ms(200); // the reader is blocked by now
    uint64_t t0 = ts_now_ns();
    srv = Restart(srv, v.proto);
    ASSERT_NE(srv, nullptr);
    int rc = blocked.get();
    double ms = MsSince(t0);
    Report(v, "blocked read: " + Describe(c, rc, ms));
    ExpectLost(v.proto, rc);
    EXPECT_LT(ms, DeadlineMs(v.proto)) << "the read outlived its bound";

    // The next write and read: the write may be accepted (DTLS: sent into
    // the void), the read must then fail.
    t0 = ts_now_ns();
    rc = WritePattern(c, 4096, 1024, timeout_ms);
    int wrc = rc;
    size_t got = 0;
    if (rc == 0)
        rc = ReadUpTo(c, 4096, 1024, timeout_ms, &got);
    ms = MsSince(t0);
    Report(v, std::string("next write: ") + tickless_err_name(wrc)
                  + ", then: " + Describe(c, rc, ms));
    ExpectLost(v.proto, rc);
    EXPECT_EQ(got, 0u);
    EXPECT_LT(ms, DeadlineMs(v.proto));
    tickless_conn_close(c);

    ExpectNewConnectionServed(v, port);
    EXPECT_GE(ts_server_handshakes_completed(srv), 1);
    ts_server_stop(srv);
}

// Bytes written after the restart (no call blocked across it) are never
// reported as delivered: the read that waits for their echo fails. While
// the old connection still sends to the new server, a new connection is
// served.
TEST_P(PeerRestart, WriteAfterRestartIsReportedWhileNewConnectionIsServed)
{
    const Variant v = GetParam();
    SKIP_UNLESS_AVAILABLE(v.proto);
    ts_server *srv = nullptr;
    tickless_conn *c = EstablishedClient(v, &srv);
    ASSERT_NE(c, nullptr);
    const uint16_t port = ts_server_port(srv);

    uint64_t t0 = ts_now_ns();
    srv = Restart(srv, v.proto);
    ASSERT_NE(srv, nullptr);
    const int timeout_ms = VerdictTimeoutMs(v.proto);
    // Accepted, most likely: nothing has told the client yet (TLS: unless
    // the FIN was read already; QUIC: unless a keep-alive sent between stop
    // and start drew an ICMP port unreachable).
    int wrc = WritePattern(c, 4096, 4096, timeout_ms);
    if (wrc != 0)
        ExpectLost(v.proto, wrc);

    // The old connection's datagrams reach the new server meanwhile.
    ExpectNewConnectionServed(v, port);

    size_t got = 0;
    int rc = wrc;
    if (rc == 0)
        rc = ReadUpTo(c, 4096, 4096, timeout_ms, &got);
    double ms = MsSince(t0);
    Report(v, std::string("write after restart: ") + tickless_err_name(wrc)
                  + ", then: " + Describe(c, rc, ms) + ", "
                  + std::to_string(got) + " bytes echoed");
    ExpectLost(v.proto, rc);
    EXPECT_EQ(got, 0u) << "an echo from a server that cannot know us";
    EXPECT_LT(ms, DeadlineMs(v.proto) + 10000 * TimeScale())
        << "the calls outlived their bound (with the new connection's)";
    tickless_conn_close(c);
    ts_server_stop(srv);
}

INSTANTIATE_TEST_SUITE_P(AllModes, PeerRestart, AllVariants(), VariantName);

} // namespace
