// What a connection with a dedicated assist costs the process: one thread
// and one descriptor (the assist's timerfd) beside its socket, as OpenSSL's
// own assist thread costs one thread and its socket's. No epoll set and no
// eventfd: the thread sleeps in ppoll() on the socket and the timerfd
// (src/assist/shard.h, "solo"). Checked with connections that have done
// real work (a handshake, an echo, a read that waited for the assist), and
// everything given back on close.
#include "connect_fixture.h"

#include <vector>

namespace {

const int kConns = 8;

class DedicatedAssistCost : public testing::TestWithParam<ts_proto> {};

TEST_P(DedicatedAssistCost, OneThreadAndOneDescriptorBesideTheSocket)
{
    const ts_proto proto = GetParam();
    SKIP_UNLESS_AVAILABLE(proto);
    WarmUp(nullptr, proto);
    ts_server *srv = StartServer(proto);
    ASSERT_NE(srv, nullptr);
    const uint16_t port = ts_server_port(srv);
    // The server's own sockets (a TCP one per client) share its port.
    const int fds0 = CountFdsExceptPort(port);
    const int threads0 = SettledCount(CountThreads);
    std::vector<tickless_conn *> conns;
    for (int i = 0; i < kConns; i++) {
        tickless_conn *c = NewClientOn(nullptr, proto, port);
        ASSERT_NE(c, nullptr);
        conns.push_back(c);
        ASSERT_EQ(tickless_conn_handshake(c, 10000), 0);
        EXPECT_EQ(WritePattern(c, 0, 1000, 10000), 0);
        EXPECT_EQ(ReadPattern(c, 0, 1000, 10000), 0);
        // Nothing comes: the read waits, the assist watching the socket.
        char b;
        size_t n = 0;
        EXPECT_EQ(tickless_conn_read(c, &b, 1, &n, 20), TICKLESS_ERR_TIMEOUT);
    }
    const int fds = CountFdsExceptPort(port) - fds0;
    // Settled: a thread may be handing over to a fresh one
    // (src/assist/runner.h, idle_release).
    const int threads = SettledCount(CountThreads) - threads0;
    EXPECT_EQ(fds, 2 * kConns) << "descriptors for " << kConns
                               << " connections:"
                               << DescribeFdsExceptPort(port);
    EXPECT_EQ(threads, kConns);
    for (tickless_conn *c : conns)
        tickless_conn_close(c);
    EXPECT_EQ(SettlesAt(fds0, [port] { return CountFdsExceptPort(port); }),
              fds0);
    EXPECT_EQ(SettlesAt(threads0, CountThreads), threads0);
    ts_server_stop(srv);
}

INSTANTIATE_TEST_SUITE_P(All, DedicatedAssistCost,
                         testing::Values(TS_QUIC, TS_DTLS, TS_TLS),
                         ProtoParamName);

} // namespace
