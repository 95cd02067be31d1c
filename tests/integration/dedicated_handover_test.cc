// A dedicated assist's thread drives its connection's handshake, and a
// thread keeps what such a burst leaves (glibc's per-thread malloc cache,
// OpenSSL's per-thread state, stack pages): about 20 KiB a connection. The
// first time it goes idle after ticking, it hands the connection to a
// fresh thread and ends (src/assist/runner.h, idle_release). Checked here:
// the hand-over happens, once; the new thread ticks; the assist's CPU time
// carries over; and a close at any moment around it neither hangs nor
// leaves a thread behind.
#include "connect_fixture.h"

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

// The ids of this process's threads named |name| (/proc/self/task).
std::vector<long> ThreadsNamed(const std::string &name)
{
    std::vector<long> ids;

    (void)ForEachEntry("/proc/self/task", [&](const char *tid, int) {
        std::ifstream f(std::string("/proc/self/task/") + tid + "/comm");
        std::string comm;
        if (std::getline(f, comm) && comm == name)
            ids.push_back(std::stol(tid));
    });
    return ids;
}

// The one assist thread of the process, once there is exactly one and it
// is not |old| (0: any); 0 if none such within |ms|.
long AssistThreadOtherThan(long old, int ms)
{
    const auto until = std::chrono::steady_clock::now()
                       + std::chrono::milliseconds(ms);
    do {
        std::vector<long> ids = ThreadsNamed("tickless-conn");
        if (ids.size() == 1 && ids[0] != old)
            return ids[0];
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    } while (std::chrono::steady_clock::now() < until);
    return 0;
}

uint64_t AssistCpuNs(tickless_conn *c)
{
    tickless_stats st = TICKLESS_STATS_INIT;

    EXPECT_EQ(tickless_conn_stats(c, &st), 0);
    return st.assist_cpu_ns;
}

// QUIC's: its assist reads the server's flights and answers them while
// the application does something else. (A DTLS or TLS connection's own
// calls read its socket: its assist has far less to do, if anything.)
TEST(DedicatedHandover, TheThreadThatDroveAQuicHandshakeIsReplacedOnce)
{
    const ts_proto proto = TS_QUIC;
    SKIP_UNLESS_AVAILABLE(proto);
    WarmUp(nullptr, proto);
    ts_server *srv = StartServer(proto);
    ASSERT_NE(srv, nullptr);
    const int threads0 = SettledCount(CountThreads);
    tickless_conn *c = NewClientOn(nullptr, proto, ts_server_port(srv));
    ASSERT_NE(c, nullptr);
    // Its thread, which has had nothing to do yet.
    const long first = AssistThreadOtherThan(0, 2000);
    ASSERT_NE(first, 0);
    // Started in the background, so that the assist's thread drives it.
    int rc = tickless_conn_handshake(c, 0);
    ASSERT_TRUE(rc == 0 || rc == TICKLESS_ERR_TIMEOUT) << rc;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_EQ(tickless_conn_handshake(c, 10000), 0);
    const uint64_t cpu_before = AssistCpuNs(c);

    // Idle: its next deadline is a second or more away.
    const long second = AssistThreadOtherThan(first, (int)(5000 * TimeScale()));
    ASSERT_NE(second, 0) << "the assist kept its first thread";
    EXPECT_GE(AssistCpuNs(c), cpu_before);

    // The new thread ticks: an echo whose reply the assist reads while
    // the caller sleeps.
    EXPECT_EQ(WritePattern(c, 0, 4000, 10000), 0);
    EXPECT_EQ(ReadPattern(c, 0, 4000, 10000), 0);
    // Once only: idle again, it stays.
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    EXPECT_EQ(ThreadsNamed("tickless-conn"), std::vector<long>{ second });
    tickless_conn_close(c);
    EXPECT_EQ(SettlesAt(threads0, CountThreads), threads0);
    ts_server_stop(srv);
}

// Closes spread over the moment the threads hand over (a second after a
// QUIC handshake; DTLS and TLS, whose connections have no deadline, at
// once if their thread worked at all): none hangs, and every thread goes.
void CloseAroundTheHandOver(ts_proto proto)
{
    const int kConns = 12;
    WarmUp(nullptr, proto);
    ts_server *srv = StartServer(proto);
    ASSERT_NE(srv, nullptr);
    const int threads0 = SettledCount(CountThreads);
    std::vector<tickless_conn *> conns;
    for (int i = 0; i < kConns; i++) {
        tickless_conn *c = NewClientOn(nullptr, proto, ts_server_port(srv));
        ASSERT_NE(c, nullptr);
        conns.push_back(c);
    }
    for (tickless_conn *c : conns)
        ASSERT_EQ(tickless_conn_handshake(c, 10000), 0);
    const auto idle_from = std::chrono::steady_clock::now();
    for (int i = 0; i < kConns; i++) {
        std::this_thread::sleep_until(
            idle_from + std::chrono::milliseconds(850 + 25 * i));
        tickless_conn_close(conns[i]);
    }
    EXPECT_EQ(SettlesAt(threads0, CountThreads), threads0);
    ts_server_stop(srv);
}

TEST(DedicatedHandover, ClosingAroundTheHandOverLeavesNoThread)
{
    for (ts_proto proto : { TS_QUIC, TS_DTLS, TS_TLS }) {
        if (!ProtoAvailable(proto))
            continue; // QUIC before OpenSSL 3.5
        SCOPED_TRACE(ProtoName(proto));
        CloseAroundTheHandOver(proto);
    }
}

} // namespace
