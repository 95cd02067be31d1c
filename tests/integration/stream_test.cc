// QUIC streams: many threads blocked on different streams of one
// connection, each woken for its own stream only; stream limits and flow
// control as blocking; resets both ways. Client and server are tickless,
// in every assist mode.
#include "harness.h"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "ts_net.h"
}

namespace {

#if TS_HAVE_QUIC
// Echoes one stream until the peer's FIN, then sends its own. Returns the
// code that ended the stream (TICKLESS_ERR_EOF for a clean end).
int EchoStream(tickless_stream *s)
{
    std::vector<uint8_t> buf(16384);
    int rc;

    for (;;) {
        size_t n = 0, w = 0;
        // No timeout: the stream ends with the peer's FIN or reset, or
        // when the listener closes.
        rc = tickless_stream_read(s, buf.data(), buf.size(), &n,
                                  TICKLESS_FOREVER);
        if (rc != 0)
            break;
        rc = tickless_stream_write(s, buf.data(), n, &w, TICKLESS_FOREVER);
        if (rc != 0)
            break;
    }
    if (rc == TICKLESS_ERR_EOF)
        (void)tickless_stream_conclude(s);
    return rc;
}

// A tickless QUIC server that echoes every stream of every connection, a
// thread per stream, so that streams of one connection run concurrently.
// Records how each stream ended and the peer's error codes.
class StreamEchoServer {
public:
    bool Start(tickless_pool *pool)
    {
        l_ = NewQuicListener(pool, &port);
        if (l_ == nullptr)
            return false;
        acceptor_ = std::thread([this] {
            tickless_conn *c = nullptr;
            while (tickless_listener_accept(l_, &c, TICKLESS_FOREVER) == 0) {
                std::lock_guard<std::mutex> g(mu_);
                conns_.push_back(c);
                conn_threads_.emplace_back([this, c] { ServeConn(c); });
            }
        });
        return true;
    }
    void Stop()
    {
        tickless_listener_close(l_);
        acceptor_.join();
        for (auto &t : conn_threads_)
            t.join();
        for (auto *c : conns_)
            tickless_conn_close(c);
        tickless_listener_free(l_);
    }
    std::vector<int> EndCodes()
    {
        std::lock_guard<std::mutex> g(mu_);
        return ends_;
    }
    std::vector<uint64_t> PeerErrors()
    {
        std::lock_guard<std::mutex> g(mu_);
        return peer_errors_;
    }
    uint16_t port = 0;

private:
    void ServeConn(tickless_conn *c)
    {
        std::vector<std::thread> streams;
        tickless_stream *s = nullptr;
        while (tickless_stream_accept(c, &s, TICKLESS_FOREVER) == 0)
            streams.emplace_back([this, s] {
                int rc = EchoStream(s);
                uint64_t code = 0;
                int reset = tickless_stream_peer_error(s, &code);
                {
                    std::lock_guard<std::mutex> g(mu_);
                    ends_.push_back(rc);
                    if (reset == 1)
                        peer_errors_.push_back(code);
                }
                tickless_stream_close(s);
            });
        for (auto &t : streams)
            t.join();
    }
    tickless_listener *l_ = nullptr;
    std::thread acceptor_;
    std::mutex mu_;
    std::vector<tickless_conn *> conns_;
    std::vector<std::thread> conn_threads_;
    std::vector<int> ends_;
    std::vector<uint64_t> peer_errors_;
};

// A pool with no thread of its own (threads == 0), run by an AppPoolLoop
// (at least every 5 ms) that the test can pause (AppPoolLoop::Pause()).
class PausablePool {
public:
    ~PausablePool()
    {
        loop_.Stop();
        if (pool_ != nullptr) {
            EXPECT_EQ(tickless_pool_free(pool_), 0) << "a connection left";
        }
    }
    bool Start()
    {
        tickless_pool_options o;
        tickless_pool_options_defaults(&o);
        o.threads = 0;
        int rc = tickless_pool_new(&o, &pool_);
        EXPECT_EQ(rc, 0) << tickless_err_name(rc);
        return rc == 0 && loop_.Start(pool_);
    }
    tickless_pool *pool() const { return pool_; }
    void Pause() { loop_.Pause(); }
    void Resume() { loop_.Resume(); }

private:
    tickless_pool *pool_ = nullptr;
    AppPoolLoop loop_{ 5 };
};

// A tickless QUIC listener on the test's pool, and a server thread that
// accepts one connection from it, hands it to |serve| and closes it when
// |serve| returns. Join() waits for the thread (a second Join() returns at
// once); the listener is freed when this goes out of scope, after the test
// has closed its client.
class OneConnectionServer {
public:
    ~OneConnectionServer()
    {
        // A thread still running means the test stopped half-way: the
        // listener stays, and std::thread's destructor ends the run.
        if (!thread_.joinable() && l_ != nullptr)
            tickless_listener_free(l_);
    }
    bool Start(tickless_pool *pool,
               std::function<void(tickless_conn *)> serve)
    {
        l_ = NewQuicListener(pool, &port);
        if (l_ == nullptr)
            return false;
        thread_ = std::thread([this, serve] {
            tickless_conn *sc = nullptr;
            ASSERT_EQ(tickless_listener_accept(l_, &sc, 10000), 0);
            serve(sc);
            tickless_conn_close(sc);
        });
        return true;
    }
    void Join()
    {
        if (thread_.joinable())
            thread_.join();
    }
    uint16_t port = 0;

private:
    tickless_listener *l_ = nullptr;
    std::thread thread_;
};

long VoluntarySwitches(pid_t tid)
{
    std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("voluntary_ctxt_switches:", 0) == 0)
            return std::stol(line.substr(24));
    return -1;
}

// Polls |flag| every 5 ms until it is set: a server thread waiting for
// the test's go.
void WaitUntil(const std::atomic<bool> &flag)
{
    while (!flag)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

// tickless_stream_write() of all of |data| on |s| with |timeout_ms|, on a
// thread of its own, started at once. After Join(): its result, the bytes
// it was credited and when it returned.
class BackgroundWrite {
public:
    BackgroundWrite(tickless_stream *s, const std::vector<uint8_t> &data,
                    int timeout_ms)
        : thread_([this, s, &data, timeout_ms] {
              size_t n = 0;
              rc = tickless_stream_write(s, data.data(), data.size(), &n,
                                         timeout_ms);
              written = n;
              end_ns = ts_now_ns();
          })
    {
    }
    void Join() { thread_.join(); }

    int rc = 1;
    size_t written = 0;
    uint64_t end_ns = 0;

private:
    std::thread thread_;
};

// The server side of a peer that reads late: accepts one stream, reads
// nothing until |go|, then reads and checks the pattern until |want|
// bytes or the stream's end (any other result fails the test); |got| is
// what it read.
void ReadWhenTold(tickless_conn *sc, const std::atomic<bool> &go,
                         size_t want, std::atomic<size_t> &got)
{
    tickless_stream *s = nullptr;
    ASSERT_EQ(tickless_stream_accept(sc, &s, 10000), 0);
    while (!go)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::vector<uint8_t> buf(65536);
    size_t off = 0;
    while (off < want) {
        size_t n = 0;
        int rc = tickless_stream_read(s, buf.data(), buf.size(), &n, 15000);
        if (rc != 0) {
            EXPECT_EQ(rc, TICKLESS_ERR_EOF);
            break;
        }
        EXPECT_EQ(ts_check_pattern(buf.data(), n, off), n);
        off += n;
    }
    got = off;
    tickless_stream_close(s);
}

// A peer that reads late (ReadWhenTold()), on a OneConnectionServer: it
// reads nothing until |go| is set. And the test's client stream to it
// (Streams::Open()), closed with its connection by Close() or when this
// goes out of scope, before the server.
struct LateReader {
    ~LateReader() { Close(); }
    void Close()
    {
        if (stream != nullptr)
            tickless_stream_close(stream);
        if (conn != nullptr)
            tickless_conn_close(conn);
        stream = nullptr;
        conn = nullptr;
    }

    OneConnectionServer server;
    std::atomic<bool> go{false};
    std::atomic<size_t> got{0};
    tickless_conn *conn = nullptr;
    tickless_stream *stream = nullptr;
};

// 4 MiB of the pattern: more than a peer's flow control lets a writer
// send before the peer reads.
const std::vector<uint8_t> &FourMiB()
{
    static const std::vector<uint8_t> data = PatternBytes(4u << 20);
    return data;
}

// CPU time the calling thread has used, in ns.
uint64_t ThreadCpuNs()
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// What a call that blocked until its timeout cost.
struct BlockedCall {
    int rc = 1;
    uint64_t cpu_ns = 0, wall_ns = 0; // its thread's CPU time; wall time
};

// Runs each of |calls| on a thread of its own, all at once; what each
// cost.
std::vector<BlockedCall> RunAtOnce(const std::vector<std::function<int()>> &calls)
{
    std::vector<BlockedCall> out(calls.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < calls.size(); i++)
        threads.emplace_back([&, i] {
            uint64_t t0 = ts_now_ns(), c0 = ThreadCpuNs();
            out[i].rc = calls[i]();
            out[i].cpu_ns = ThreadCpuNs() - c0;
            out[i].wall_ns = ts_now_ns() - t0;
        });
    for (auto &t : threads)
        t.join();
    return out;
}

// Each of |calls| timed out having slept: a call that waits about a second
// may use a little CPU for its own work, never most of the second.
void ExpectSleptUntilTheTimeout(const std::vector<BlockedCall> &calls,
                                const char *who)
{
    for (size_t i = 0; i < calls.size(); i++) {
        EXPECT_EQ(calls[i].rc, TICKLESS_ERR_TIMEOUT) << who << " " << i;
        EXPECT_LT(calls[i].cpu_ns, calls[i].wall_ns / 4)
            << who << " " << i << " used " << calls[i].cpu_ns / 1000000
            << " ms of CPU in " << calls[i].wall_ns / 1000000
            << " ms blocked";
    }
}
#endif

class Streams : public testing::TestWithParam<Mode> {
protected:
    void SetUp() override { SKIP_UNLESS_AVAILABLE(TS_QUIC); }
    tickless_pool *Pool() { return PoolFor(GetParam()); }

#if TS_HAVE_QUIC
    // A client of |port| in the test's mode (*c) and a stream opened on
    // it; nullptr, with a test failure added, if either fails (the test
    // closes *c when it is set).
    tickless_stream *ClientStream(uint16_t port, tickless_conn **c)
    {
        tickless_stream *s = nullptr;
        *c = NewClient(GetParam(), TS_QUIC, port);
        if (*c == nullptr)
            return nullptr;
        int rc = tickless_stream_open(*c, 0, &s, 10000);
        EXPECT_EQ(rc, 0) << tickless_err_name(rc);
        return s;
    }

    // Starts |peer| on the test's pool, to read up to |want| bytes once
    // told, and opens a client stream to it (peer->stream, on
    // peer->conn); false, with a test failure added, on failure.
    bool Open(LateReader *peer, size_t want)
    {
        if (!peer->server.Start(Pool(), [peer, want](tickless_conn *sc) {
                ReadWhenTold(sc, peer->go, want, peer->got);
            })) {
            ADD_FAILURE() << "the late reader did not start";
            return false;
        }
        peer->stream = ClientStream(peer->server.port, &peer->conn);
        return peer->stream != nullptr;
    }

    // A client, in the test's mode, of a StreamEchoServer (echo_) started
    // on the test's pool; nullptr, with a test failure added, on failure.
    // The test closes the client, then stops echo_.
    tickless_conn *EchoClient()
    {
        if (!echo_.Start(Pool())) {
            ADD_FAILURE() << "the echo server did not start";
            return nullptr;
        }
        return NewClient(GetParam(), TS_QUIC, echo_.port);
    }

    // A write refused for want of the peer's credit, with nothing in
    // flight, on a client whose pool the test pauses while the peer's
    // credit arrives, behind |junk| stray datagrams (through a relay),
    // so that the write's own attempts are the ones to read it: the
    // write must go on. The server, in the test's mode, reads what the
    // first write sent in two halves 50 ms apart (two packets of credit,
    // which the client acknowledges at once, so that no timer of its own
    // is left to tick it), then the rest.
    void WriterTakesTheCreditItself(int junk)
    {
        const std::vector<uint8_t> &data = FourMiB();
        std::atomic<size_t> sent{0}, got{0};
        OneConnectionServer server;
        ASSERT_TRUE(server.Start(Pool(), [&](tickless_conn *sc) {
            tickless_stream *s = nullptr;
            ASSERT_EQ(tickless_stream_accept(sc, &s, 10000), 0);
            for (int i = 0; i < 2000 && sent == 0; i++)
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            std::vector<uint8_t> buf(65536);
            size_t off = 0;
            for (size_t want : { sent.load() / 2, sent.load(), data.size() }) {
                while (off < want) {
                    size_t n = 0;
                    size_t len = std::min(buf.size(), want - off);
                    int rc = tickless_stream_read(s, buf.data(), len, &n,
                                                  15000);
                    ASSERT_EQ(rc, 0) << tickless_err_name(rc);
                    ASSERT_EQ(ts_check_pattern(buf.data(), n, off), n);
                    off += n;
                    got = off;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            tickless_stream_close(s);
        }));
        ts_relay *relay = nullptr;
        uint16_t port = server.port;
        if (junk > 0) {
            ASSERT_EQ(ts_relay_start(server.port, nullptr, &relay), 0);
            port = ts_relay_port(relay);
        }
        PausablePool pp;
        ASSERT_TRUE(pp.Start());
        tickless_conn *c = NewClientOn(pp.pool(), TS_QUIC, port);
        tickless_stream *a = nullptr;
        if (c != nullptr) {
            EXPECT_EQ(tickless_stream_open(c, 0, &a, 10000), 0);
        }
        size_t n1 = 0, n2 = 0;
        int rc1 = 1, rc2 = 1;
        if (a != nullptr) {
            // Until the credit runs out; a second is long enough for
            // everything sent to be acknowledged.
            rc1 = tickless_stream_write(a, data.data(), data.size(), &n1,
                                        1000);
            EXPECT_EQ(rc1, TICKLESS_ERR_TIMEOUT);
            EXPECT_GT(n1, 0u);
            EXPECT_LT(n1, data.size());
        }
        if (rc1 == TICKLESS_ERR_TIMEOUT && n1 > 0 && n1 < data.size()) {
            pp.Pause();
            const uint8_t stray[1] = { 0 };
            for (int i = 0; i < junk; i++)
                EXPECT_EQ(ts_relay_inject(relay, 0, 0, stray, sizeof(stray)),
                          0);
            sent = n1;
            for (int i = 0; i < 2000 && got < n1; i++)
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            EXPECT_EQ(got.load(), n1) << "the peer did not read the first write";
            std::this_thread::sleep_for(std::chrono::milliseconds(60));
            // The credit waits in the client's socket: nobody has read it.
            std::atomic<bool> returned{false};
            std::thread writer([&] {
                rc2 = tickless_stream_write(a, data.data() + n1,
                                            data.size() - n1, &n2,
                                            (int)(5000 * TimeScale()));
                returned = true;
            });
            // Until it blocks (having taken the credit) or is done.
            for (int i = 0; i < 5000 && !returned; i++) {
                tickless_stats st = TICKLESS_STATS_INIT;
                if (tickless_conn_stats(c, &st) != 0 || st.waiters > 0)
                    break;
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            pp.Resume();
            writer.join();
            EXPECT_EQ(rc2, 0) << tickless_err_name(rc2) << " after " << n2
                              << " bytes";
            EXPECT_EQ(n2, data.size() - n1);
        }
        if (rc2 == 0)
            server.Join(); // it reads to the end
        if (a != nullptr)
            tickless_stream_close(a);
        if (c != nullptr)
            tickless_conn_close(c);
        sent = 1; // the server goes on if the test stopped early
        server.Join();
        EXPECT_EQ(got.load(), n1 + n2);
        if (relay != nullptr)
            ts_relay_stop(relay);
    }

    StreamEchoServer echo_;
#endif
};

} // namespace

#if TS_HAVE_QUIC

// Eight client threads, one stream each, on one connection: each writes,
// concludes and reads its own echo back to the server's FIN.
TEST_P(Streams, ConcurrentStreamsEchoIntact)
{
    tickless_conn *c = EchoClient();
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(tickless_conn_handshake(c, 10000), 0);

    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; i++)
        threads.emplace_back([&, i] {
            tickless_stream *s = nullptr;
            ASSERT_EQ(tickless_stream_open(c, 0, &s, 10000), 0);
            const size_t len = 50000 + 777 * (size_t)i;
            const uint64_t off = 1000000ull * (uint64_t)i;
            EXPECT_EQ(StreamWritePattern(s, off, len), 0);
            EXPECT_EQ(tickless_stream_conclude(s), 0);
            EXPECT_EQ(StreamReadPattern(s, off, len), 0);
            char b;
            size_t n = 7;
            EXPECT_EQ(tickless_stream_read(s, &b, 1, &n, 10000),
                      TICKLESS_ERR_EOF);
            EXPECT_EQ(n, 0u);
            ok++;
            tickless_stream_close(s);
        });
    for (auto &t : threads)
        t.join();
    EXPECT_EQ(ok.load(), 8);
    EXPECT_EQ(tickless_conn_shutdown(c, 5000), 0);
    tickless_conn_close(c);
    echo_.Stop();
}

// 50 threads block reading 50 streams; 200 round trips then run on
// another stream. The sleepers must not be woken for that traffic: each
// may be woken a few times (connection-level events), not once per round
// trip.
TEST_P(Streams, SleepersOnOtherStreamsAreNotWoken)
{
    tickless_conn *c = EchoClient();
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(tickless_conn_handshake(c, 10000), 0);

    const int kSleepers = 50, kRounds = 200;
    std::vector<tickless_stream *> streams(kSleepers + 1);
    for (auto &s : streams) {
        ASSERT_EQ(tickless_stream_open(c, 0, &s, 10000), 0);
        ASSERT_EQ(StreamWritePattern(s, 0, 1), 0); // the server learns of it
        ASSERT_EQ(StreamReadPattern(s, 0, 1), 0);
    }
    std::vector<std::atomic<pid_t>> tids(kSleepers);
    std::vector<int> rcs(kSleepers, 0);
    std::vector<std::thread> sleepers;
    for (int i = 0; i < kSleepers; i++)
        sleepers.emplace_back([&, i] {
            tids[i] = (pid_t)syscall(SYS_gettid);
            char b;
            size_t n;
            rcs[i] = tickless_stream_read(streams[i + 1], &b, 1, &n, 60000);
        });
    for (auto &t : tids)
        while (t.load() == 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::vector<long> before(kSleepers);
    for (int i = 0; i < kSleepers; i++)
        before[i] = VoluntarySwitches(tids[i]);

    for (int r = 0; r < kRounds; r++) {
        ASSERT_EQ(StreamWritePattern(streams[0], 1 + 64 * (uint64_t)r, 64), 0);
        ASSERT_EQ(StreamReadPattern(streams[0], 1 + 64 * (uint64_t)r, 64), 0);
    }
    long worst = 0;
    for (int i = 0; i < kSleepers; i++)
        worst = std::max(worst, VoluntarySwitches(tids[i]) - before[i]);
    std::cout << "most wake-ups of a sleeper during " << kRounds
              << " round trips on another stream: " << worst << "\n";
    EXPECT_LT(worst, kRounds / 4);

    // Closing a stream ends its sleeper with TICKLESS_ERR_CLOSED.
    for (auto *s : streams)
        tickless_stream_close(s); // wakes its sleeper, frees after it
    for (auto &t : sleepers)
        t.join();
    for (int rc : rcs)
        EXPECT_EQ(rc, TICKLESS_ERR_CLOSED);
    tickless_conn_close(c);
    echo_.Stop();
}

// Past the peer's stream limit an open waits, and goes through as soon as
// the peer takes a stream off its queue and allows another. The server
// here accepts the connection but no stream until told to.
TEST_P(Streams, OpenWaitsForThePeersStreamLimit)
{
    std::atomic<int> release{0};
    std::atomic<bool> done{false};
    OneConnectionServer server;
    ASSERT_TRUE(server.Start(Pool(), [&](tickless_conn *sc) {
        std::vector<tickless_stream *> taken;
        while (!done) {
            if (release > 0) {
                tickless_stream *s = nullptr;
                if (tickless_stream_accept(sc, &s, 1000) == 0) {
                    release--;
                    taken.push_back(s);
                }
            } else {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        }
        for (auto *s : taken)
            tickless_stream_close(s);
    }));

    tickless_conn *c = NewClient(GetParam(), TS_QUIC, server.port);
    ASSERT_NE(c, nullptr);
    std::vector<tickless_stream *> open;
    int rc = 0;
    while (open.size() < 1000) {
        tickless_stream *s = nullptr;
        rc = tickless_stream_open(c, 0, &s, 300);
        if (rc != 0)
            break;
        ASSERT_EQ(StreamWritePattern(s, 0, 1), 0); // the server learns of it
        open.push_back(s);
    }
    EXPECT_EQ(rc, TICKLESS_ERR_TIMEOUT);
    std::cout << "the peer allowed " << open.size() << " streams at once\n";
    ASSERT_GT(open.size(), 0u);

    // A blocked open goes through once the server accepts streams.
    tickless_stream *more = nullptr;
    int open_rc = -100;
    std::thread opener(
        [&] { open_rc = tickless_stream_open(c, 0, &more, 20000); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    uint64_t t0 = ts_now_ns();
    release = (int)open.size();
    opener.join();
    EXPECT_EQ(open_rc, 0);
    // Generous: the grant goes out at the server's next tick, which must
    // not wait for an unrelated timer (the keep-alive is 15 s away).
    EXPECT_LT((ts_now_ns() - t0) / 1e9, 5.0);
    if (more != nullptr)
        tickless_stream_close(more);
    for (auto *s : open)
        tickless_stream_close(s);
    done = true;
    server.Join();
    tickless_conn_close(c);
}

// Flow control blocks a writer, it does not fail it: a server that does
// not read lets a 4 MiB write stall; the write times out with part of it
// accepted, and completes once the server reads.
TEST_P(Streams, FlowControlBlocksTheWriter)
{
    LateReader peer;
    ASSERT_TRUE(Open(&peer, SIZE_MAX));
    tickless_stream *s = peer.stream;
    const std::vector<uint8_t> &data = FourMiB();
    const size_t kLen = data.size();
    size_t n = 0;
    EXPECT_EQ(tickless_stream_write(s, data.data(), kLen, &n, 1000),
              TICKLESS_ERR_TIMEOUT);
    std::cout << "accepted before the peer's flow control stopped it: " << n
              << " bytes\n";
    EXPECT_GT(n, 0u);
    EXPECT_LT(n, kLen);
    peer.go = true;
    size_t rest = 0;
    EXPECT_EQ(tickless_stream_write(s, data.data() + n, kLen - n, &rest,
                                    15000),
              0);
    EXPECT_EQ(n + rest, kLen);
    EXPECT_EQ(tickless_stream_conclude(s), 0);
    peer.server.Join();
    EXPECT_EQ(peer.got.load(), kLen);
}

// We conclude a stream while a writer of it is blocked on the peer's flow
// control. A write that starts afterwards is refused at once
// (TICKLESS_ERR_CLOSED) even though the blocked writer holds the writers'
// turn, and the blocked writer ends with it too, not at its timeout. The
// peer gets every byte the writer said it wrote, then the end of the
// stream. (Torture harness: the second write, with timeout 0, said
// TICKLESS_ERR_TIMEOUT: it never got the turn to look.)
TEST_P(Streams, WritesAfterConcludeAreRefusedWhileAWriterIsBlocked)
{
    LateReader peer;
    ASSERT_TRUE(Open(&peer, SIZE_MAX));
    tickless_stream *s = peer.stream;
    BackgroundWrite writer(s, FourMiB(), 30000);
    ASSERT_EQ(WaitForWaiters(peer.conn, 1), 1u);
    uint64_t t0 = ts_now_ns();
    ASSERT_EQ(tickless_stream_conclude(s), 0);

    for (int timeout_ms : {0, 1000}) {
        size_t n = 7;
        char x = 0;
        EXPECT_EQ(tickless_stream_write(s, &x, 1, &n, timeout_ms),
                  TICKLESS_ERR_CLOSED)
            << "timeout " << timeout_ms;
        EXPECT_EQ(n, 0u);
    }
    writer.Join();
    EXPECT_EQ(writer.rc, TICKLESS_ERR_CLOSED) << tickless_err_name(writer.rc);
    EXPECT_LT(writer.written, FourMiB().size());
    EXPECT_LT((double)(writer.end_ns - t0) / 1e9, 10.0 * TimeScale())
        << "the blocked writer waited for its timeout";
    peer.go = true;
    peer.server.Join();
    EXPECT_EQ(peer.got.load(), writer.written); // then the end of the stream
}

// A connection turned into a stream container has no default stream:
// tickless_conn_read() and _write() say TICKLESS_ERR_INVALID, also after
// a shutdown (review of the write-after-shutdown change: the write said
// TICKLESS_ERR_CLOSED, the read TICKLESS_ERR_INVALID).
TEST_P(Streams, ConnCallsOnAStreamContainerStayInvalidAfterShutdown)
{
    ts_server *srv = nullptr;
    tickless_conn *c = StartServerAndConnect(GetParam(), TS_QUIC, &srv);
    ASSERT_NE(c, nullptr);
    tickless_stream *s = nullptr;
    ASSERT_EQ(tickless_stream_open(c, 0, &s, 10000), 0);
    size_t n = 0;
    char x = 0;
    EXPECT_EQ(tickless_conn_write(c, &x, 1, &n, 0), TICKLESS_ERR_INVALID);
    int rc = tickless_conn_shutdown(c, 0);
    EXPECT_TRUE(rc == 0 || rc == TICKLESS_ERR_TIMEOUT) << tickless_err_name(rc);
    EXPECT_EQ(tickless_conn_write(c, &x, 1, &n, 0), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_conn_read(c, &x, 1, &n, 0), TICKLESS_ERR_INVALID);
    // The stream's own writes are what the shutdown ended.
    EXPECT_EQ(tickless_stream_write(s, &x, 1, &n, 0), TICKLESS_ERR_CLOSED);
    tickless_stream_close(s);
    tickless_conn_close(c);
    ts_server_stop(srv);
}

// We reset our sending side: the server's reader gets
// TICKLESS_ERR_STREAM_RESET with our code, and the other stream is
// untouched.
TEST_P(Streams, LocalResetReachesThePeer)
{
    tickless_conn *c = EchoClient();
    ASSERT_NE(c, nullptr);
    tickless_stream *a = nullptr, *b = nullptr;
    ASSERT_EQ(tickless_stream_open(c, 0, &a, 10000), 0);
    ASSERT_EQ(tickless_stream_open(c, 0, &b, 10000), 0);
    ASSERT_EQ(StreamWritePattern(a, 0, 100), 0);
    ASSERT_EQ(StreamReadPattern(a, 0, 100), 0);
    ASSERT_EQ(tickless_stream_reset(a, 42), 0);
    // Writing on a stream we reset is refused locally.
    size_t n = 0;
    char x = 0;
    EXPECT_EQ(tickless_stream_write(a, &x, 1, &n, 1000), TICKLESS_ERR_CLOSED);
    // The other stream is untouched.
    ASSERT_EQ(StreamWritePattern(b, 0, 5000), 0);
    ASSERT_EQ(StreamReadPattern(b, 0, 5000), 0);
    // The server saw the reset with our code.
    uint64_t t0 = ts_now_ns();
    while (echo_.PeerErrors().empty() && ts_now_ns() - t0 < 10000000000ull)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::vector<int> ends = echo_.EndCodes();
    std::vector<uint64_t> codes = echo_.PeerErrors();
    ASSERT_EQ(codes.size(), 1u);
    EXPECT_EQ(codes[0], 42u);
    ASSERT_EQ(ends.size(), 1u);
    EXPECT_EQ(ends[0], TICKLESS_ERR_STREAM_RESET);
    tickless_stream_close(a);
    tickless_stream_close(b);
    tickless_conn_close(c);
    echo_.Stop();
}

// The server resets its sending side: our blocked reader gets
// TICKLESS_ERR_STREAM_RESET and can read the server's code; a second
// stream and the connection go on.
TEST_P(Streams, PeerResetReachesTheBlockedReader)
{
    OneConnectionServer server;
    ASSERT_TRUE(server.Start(Pool(), [](tickless_conn *sc) {
        tickless_stream *s = nullptr;
        ASSERT_EQ(tickless_stream_accept(sc, &s, 10000), 0);
        char b[4];
        size_t n = 0;
        // The client's request, then a reset instead of an answer.
        EXPECT_EQ(tickless_stream_read(s, b, sizeof(b), &n, 10000), 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        EXPECT_EQ(tickless_stream_reset(s, 7), 0);
        // The second stream still echoes.
        tickless_stream *s2 = nullptr;
        ASSERT_EQ(tickless_stream_accept(sc, &s2, 10000), 0);
        EXPECT_EQ(EchoStream(s2), TICKLESS_ERR_EOF);
        tickless_stream_close(s2);
        tickless_stream_close(s);
        // Until the client closes the connection: the blocked accept
        // learns it at once (a stale SSL_get_error() once made it wait
        // forever).
        uint64_t a0 = ts_now_ns();
        EXPECT_EQ(tickless_stream_accept(sc, &s2, 10000), TICKLESS_ERR_PEER);
        EXPECT_LT((ts_now_ns() - a0) / 1e9, 5.0);
    }));

    tickless_conn *c = nullptr;
    tickless_stream *a = ClientStream(server.port, &c);
    ASSERT_NE(a, nullptr);
    size_t n = 0;
    ASSERT_EQ(tickless_stream_write(a, "req", 3, &n, 10000), 0);
    char b;
    uint64_t t0 = ts_now_ns();
    EXPECT_EQ(tickless_stream_read(a, &b, 1, &n, 10000),
              TICKLESS_ERR_STREAM_RESET);
    EXPECT_LT((ts_now_ns() - t0) / 1e9, 5.0);
    uint64_t code = 0;
    EXPECT_EQ(tickless_stream_peer_error(a, &code), 1);
    EXPECT_EQ(code, 7u);

    tickless_stream *d = nullptr;
    ASSERT_EQ(tickless_stream_open(c, 0, &d, 10000), 0);
    uint64_t none = 99;
    EXPECT_EQ(tickless_stream_peer_error(d, &none), 0);
    EXPECT_EQ(none, 0u);
    ASSERT_EQ(StreamWritePattern(d, 0, 3000), 0);
    ASSERT_EQ(tickless_stream_conclude(d), 0);
    ASSERT_EQ(StreamReadPattern(d, 0, 3000), 0);
    EXPECT_EQ(tickless_stream_read(d, &b, 1, &n, 10000), TICKLESS_ERR_EOF);
    tickless_stream_close(d);
    tickless_stream_close(a);
    EXPECT_EQ(tickless_conn_shutdown(c, 5000), 0);
    tickless_conn_close(c);
    server.Join();
}

// A client that vanishes (every datagram dropped from now on): the server's
// reader blocked on the accepted connection's stream learns it as
// TICKLESS_ERR_PEER when the idle timeout (2 s, the client's) expires,
// not at its own 60 s timeout.
TEST_P(Streams, AcceptedPeerIdlingOutReachesTheBlockedReader)
{
    uint16_t port = 0;
    tickless_listener *l = NewQuicListener(Pool(), &port);
    ASSERT_NE(l, nullptr);
    ts_relay *relay = nullptr;
    ASSERT_EQ(ts_relay_start(port, nullptr, &relay), 0);

    tickless_conn *c = NewClient(GetParam(), TS_QUIC, ts_relay_port(relay),
                                 [](SSL *s) { ts_quic_set_idle_timeout(s, 2000); });
    ASSERT_NE(c, nullptr);
    tickless_stream *cs = nullptr;
    ASSERT_EQ(tickless_stream_open(c, 0, &cs, 10000), 0);
    ASSERT_EQ(StreamWritePattern(cs, 0, 10), 0);

    tickless_conn *sc = nullptr;
    ASSERT_EQ(tickless_listener_accept(l, &sc, 10000), 0);
    tickless_stream *ss = nullptr;
    ASSERT_EQ(tickless_stream_accept(sc, &ss, 10000), 0);
    ASSERT_EQ(StreamReadPattern(ss, 0, 10), 0);

    ts_relay_set_blackhole(relay, 1);
    uint64_t t0 = ts_now_ns();
    char b;
    size_t n = 0;
    EXPECT_EQ(tickless_stream_read(ss, &b, 1, &n, 60000), TICKLESS_ERR_PEER);
    double waited = (ts_now_ns() - t0) / 1e9;
    EXPECT_GT(waited, 1.0);
    EXPECT_LT(waited, 20.0);
    tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
    EXPECT_EQ(tickless_conn_error(sc, &info), 0);
    EXPECT_EQ(info.code, TICKLESS_ERR_PEER);
    EXPECT_NE(std::string(info.message).find("idle"), std::string::npos)
        << info.message;

    tickless_stream_close(ss);
    tickless_conn_close(sc);
    tickless_stream_close(cs);
    tickless_conn_close(c);
    tickless_listener_free(l);
    ts_relay_stop(relay);
}

TEST_P(Streams, BadInput)
{
    tickless_stream *s = reinterpret_cast<tickless_stream *>(1);
    EXPECT_EQ(tickless_stream_open(nullptr, 0, &s, 0), TICKLESS_ERR_INVALID);
    EXPECT_EQ(s, nullptr);
    EXPECT_EQ(tickless_stream_accept(nullptr, &s, 0), TICKLESS_ERR_INVALID);
    size_t n = 5;
    char b;
    EXPECT_EQ(tickless_stream_read(nullptr, &b, 1, &n, 0),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(n, 0u);
    EXPECT_EQ(tickless_stream_write(nullptr, &b, 1, &n, 0),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_stream_conclude(nullptr), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_stream_reset(nullptr, 1), TICKLESS_ERR_INVALID);
    uint64_t code = 5;
    EXPECT_EQ(tickless_stream_peer_error(nullptr, &code),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(code, 0u);
    EXPECT_EQ(tickless_stream_id(nullptr), UINT64_MAX);
    tickless_stream_close(nullptr);

    // A connection whose default stream is in use cannot switch to streams.
    ts_server *srv = StartServer(TS_QUIC);
    ASSERT_NE(srv, nullptr);
    tickless_conn *c = NewClient(GetParam(), TS_QUIC, ts_server_port(srv));
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(tickless_stream_open(c, 0x80, &s, 0), TICKLESS_ERR_INVALID);
    ASSERT_EQ(WritePattern(c, 0, 10), 0);
    EXPECT_EQ(tickless_stream_open(c, 0, &s, 1000), TICKLESS_ERR_INVALID);
    tickless_conn_close(c);

    // And a stream container has no default stream for conn read/write.
    c = NewClient(GetParam(), TS_QUIC, ts_server_port(srv));
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(tickless_stream_open(c, 0, &s, 10000), 0);
    EXPECT_EQ(tickless_conn_write(c, "x", 1, &n, 1000), TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_conn_read(c, &b, 1, &n, 1000), TICKLESS_ERR_INVALID);
    // Inside tickless_conn_lock() a blocking stream call is refused.
    ASSERT_NE(tickless_conn_lock(c), nullptr);
    tickless_stream *t = nullptr;
    EXPECT_EQ(tickless_stream_open(c, 0, &t, 0), TICKLESS_ERR_INVALID);
    tickless_conn_unlock(c);
    // A unidirectional stream cannot be read.
    ASSERT_EQ(tickless_stream_open(c, TICKLESS_STREAM_UNI, &t, 10000), 0);
    EXPECT_EQ(tickless_stream_read(t, &b, 1, &n, 1000), TICKLESS_ERR_INVALID);
    tickless_stream_close(t);
    // A stream outlives its connection's handle; calls then say closed.
    tickless_conn_close(c);
    EXPECT_EQ(tickless_stream_write(s, "x", 1, &n, 1000), TICKLESS_ERR_CLOSED);
    tickless_stream_close(s);
    ts_server_stop(srv);

    // DTLS and TLS have no streams.
    for (ts_proto p : { TS_DTLS, TS_TLS }) {
        ts_server *srv2 = StartServer(p);
        ASSERT_NE(srv2, nullptr);
        tickless_conn *d = NewClient(GetParam(), p, ts_server_port(srv2));
        ASSERT_NE(d, nullptr);
        EXPECT_EQ(tickless_stream_open(d, 0, &s, 0), TICKLESS_ERR_UNSUPPORTED);
        EXPECT_EQ(tickless_stream_accept(d, &s, 0), TICKLESS_ERR_UNSUPPORTED);
        tickless_conn_close(d);
        ts_server_stop(srv2);
    }
}

// While tickless_conn_shutdown() is under way the connection is closed for
// writing: a stream's write, conclude and reset say TICKLESS_ERR_CLOSED at
// once, as tickless_conn_write() does. They returned TICKLESS_ERR_SSL,
// making it the connection's sticky failure, or, a moment later,
// TICKLESS_ERR_TIMEOUT (conclude and reset, which never wait: not in
// their list; found by fuzz_api_sequence).
TEST_P(Streams, WritesDuringTheConnectionsShutdownSayClosed)
{
    ts_server *srv = StartServer(TS_QUIC);
    ASSERT_NE(srv, nullptr);
    tickless_conn *c = NewClient(GetParam(), TS_QUIC, ts_server_port(srv));
    ASSERT_NE(c, nullptr);
    tickless_stream *s = nullptr, *t = nullptr;
    ASSERT_EQ(tickless_stream_open(c, 0, &s, 10000), 0);
    ASSERT_EQ(tickless_stream_open(c, 0, &t, 10000), 0);
    size_t n = 0;
    ASSERT_EQ(tickless_stream_write(s, "ping", 4, &n, 10000), 0);
    int rc = tickless_conn_shutdown(c, 0); // starts it; does not wait
    EXPECT_TRUE(rc == 0 || rc == TICKLESS_ERR_TIMEOUT) << tickless_err_name(rc);
    uint64_t t0 = ts_now_ns();
    EXPECT_EQ(tickless_stream_write(s, "x", 1, &n, 3000), TICKLESS_ERR_CLOSED);
    EXPECT_LT((ts_now_ns() - t0) / 1e6, 1000.0) << "the write waited";
    EXPECT_EQ(tickless_stream_conclude(s), TICKLESS_ERR_CLOSED);
    EXPECT_EQ(tickless_stream_reset(t, 1), TICKLESS_ERR_CLOSED);
    tickless_stream_close(s);
    tickless_stream_close(t);
    tickless_conn_close(c);
    ts_server_stop(srv);
}

// A stream ended by us (conclude or reset) refuses later writes with
// TICKLESS_ERR_CLOSED, whether they start after the end or were blocked
// when it came; that stream only: the connection and its other streams go
// on. (Review: a write after our own conclude failed with
// TICKLESS_ERR_SSL, "stream finished", and that killed the connection.)
TEST_P(Streams, WritesAfterOurOwnEndAreClosedAndTheConnectionLives)
{
    tickless_conn *c = EchoClient();
    ASSERT_NE(c, nullptr);

    tickless_stream *a = nullptr;
    ASSERT_EQ(tickless_stream_open(c, 0, &a, 10000), 0);
    ASSERT_EQ(StreamWritePattern(a, 0, 1000), 0);
    ASSERT_EQ(tickless_stream_conclude(a), 0);
    size_t n = 7;
    char x = 0;
    EXPECT_EQ(tickless_stream_write(a, &x, 1, &n, 1000), TICKLESS_ERR_CLOSED);
    EXPECT_EQ(n, 0u);
    EXPECT_EQ(tickless_stream_write(a, &x, 1, &n, 0), TICKLESS_ERR_CLOSED);
    ASSERT_EQ(StreamReadPattern(a, 0, 1000), 0); // the echo still comes
    tickless_stream_close(a);

    tickless_stream *b = nullptr;
    ASSERT_EQ(tickless_stream_open(c, 0, &b, 10000), 0);
    ASSERT_EQ(tickless_stream_reset(b, 5), 0);
    EXPECT_EQ(tickless_stream_write(b, &x, 1, &n, 1000), TICKLESS_ERR_CLOSED);
    tickless_stream_close(b);

    // The connection lives on.
    tickless_stream *d = nullptr;
    ASSERT_EQ(tickless_stream_open(c, 0, &d, 10000), 0);
    ASSERT_EQ(StreamWritePattern(d, 0, 3000), 0);
    ASSERT_EQ(StreamReadPattern(d, 0, 3000), 0);
    tickless_stream_close(d);
    tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
    ASSERT_EQ(tickless_conn_error(c, &info), 0);
    EXPECT_NE(info.code, TICKLESS_ERR_SSL) << info.message;
    tickless_conn_close(c);
    echo_.Stop();
}

// A writer blocked on the peer's flow control when another thread
// concludes the stream: it returns TICKLESS_ERR_CLOSED with the bytes it
// was credited, and the connection goes on.
TEST_P(Streams, ConcludeWhileAWriterIsBlocked)
{
    std::atomic<bool> done{false};
    OneConnectionServer server;
    ASSERT_TRUE(server.Start(Pool(), [&](tickless_conn *sc) {
        tickless_stream *s = nullptr, *s2 = nullptr;
        ASSERT_EQ(tickless_stream_accept(sc, &s, 10000), 0);
        // Never reads |s|: its writer runs out of credit. The second
        // stream echoes.
        ASSERT_EQ(tickless_stream_accept(sc, &s2, 10000), 0);
        EXPECT_EQ(EchoStream(s2), TICKLESS_ERR_EOF);
        tickless_stream_close(s2);
        WaitUntil(done);
        tickless_stream_close(s);
    }));

    tickless_conn *c = nullptr;
    tickless_stream *a = ClientStream(server.port, &c);
    ASSERT_NE(a, nullptr);
    const size_t kLen = FourMiB().size();
    BackgroundWrite writer(a, FourMiB(), 20000);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(tickless_stream_conclude(a), 0);
    writer.Join();
    EXPECT_EQ(writer.rc, TICKLESS_ERR_CLOSED);
    EXPECT_LT(writer.written, kLen);

    tickless_stream *d = nullptr;
    ASSERT_EQ(tickless_stream_open(c, 0, &d, 10000), 0);
    ASSERT_EQ(StreamWritePattern(d, 0, 3000), 0);
    ASSERT_EQ(tickless_stream_conclude(d), 0);
    ASSERT_EQ(StreamReadPattern(d, 0, 3000), 0);
    tickless_stream_close(d);
    done = true;
    server.Join();
    tickless_stream_close(a);
    tickless_conn_close(c);
}

// The peer resets a stream, closes it and then closes the connection,
// before our side has looked at the stream. A read and a write on it then
// say the peer's reset (TICKLESS_ERR_STREAM_RESET), or the connection's
// end (TICKLESS_ERR_PEER): never TICKLESS_ERR_CLOSED, which would mean we
// ended it. (Torture, qserver: once the connection has closed, OpenSSL's
// state getters say only that, and its error said "stream reset", which
// was taken for our own reset.)
TEST_P(Streams, APeerResetSeenAfterTheConnectionClosedIsThePeers)
{
    std::atomic<bool> look{false};
    std::atomic<int> read_rc{1}, write_rc{1};
    OneConnectionServer server;
    ASSERT_TRUE(server.Start(Pool(), [&](tickless_conn *sc) {
        tickless_stream *s = nullptr;
        ASSERT_EQ(tickless_stream_accept(sc, &s, 10000), 0);
        WaitUntil(look);
        char buf[64];
        size_t n = 0;
        read_rc = tickless_stream_read(s, buf, sizeof(buf), &n, 5000);
        write_rc = tickless_stream_write(s, buf, 1, &n, 5000);
        tickless_stream_close(s);
    }));

    tickless_conn *c = nullptr;
    tickless_stream *a = ClientStream(server.port, &c);
    ASSERT_NE(a, nullptr);
    size_t n = 0;
    ASSERT_EQ(tickless_stream_write(a, "0123456789", 10, &n, 5000), 0);
    ASSERT_EQ(WaitForWaiters(c, 0), 0u);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_EQ(tickless_stream_reset(a, 0xc1), 0);
    tickless_stream_close(a); // STOP_SENDING too
    EXPECT_EQ(tickless_conn_shutdown(c, 10000), 0);
    tickless_conn_close(c);
    // The server has the CONNECTION_CLOSE by now.
    std::this_thread::sleep_for(
        std::chrono::milliseconds((int)(300 * TimeScale())));
    look = true;
    server.Join();
    for (int rc : { read_rc.load(), write_rc.load() })
        EXPECT_TRUE(rc == TICKLESS_ERR_STREAM_RESET || rc == TICKLESS_ERR_PEER)
            << tickless_err_name(rc);
}

// The peer abandons a stream both ways at once (RESET_STREAM for what it
// sent, STOP_SENDING for what it receives: OpenSSL sends the latter when a
// stream is freed with data still coming). A reader and a writer blocked
// on it each get TICKLESS_ERR_STREAM_RESET, promptly, not CLOSED; the
// connection goes on. And tickless_stream_peer_error() never reports our
// own reset as the peer's.
TEST_P(Streams, PeerResetAndStopSendingReachReaderAndWriter)
{
    std::atomic<bool> abandon{false}, done{false};
    OneConnectionServer server;
    ASSERT_TRUE(server.Start(Pool(), [&](tickless_conn *sc) {
        tickless_stream *s = nullptr;
        ASSERT_EQ(tickless_stream_accept(sc, &s, 10000), 0);
        WaitUntil(abandon);
        EXPECT_EQ(tickless_stream_reset(s, 7), 0);
        tickless_stream_close(s); // receive part open: STOP_SENDING
        WaitUntil(done);
    }));

    tickless_conn *c = nullptr;
    tickless_stream *a = ClientStream(server.port, &c);
    ASSERT_NE(a, nullptr);
    BackgroundWrite writer(a, FourMiB(), 20000);
    std::atomic<int> read_rc{1};
    std::thread reader([&] {
        char b[64];
        size_t n = 0;
        read_rc = tickless_stream_read(a, b, sizeof(b), &n, 20000);
    });
    // The connection's count includes the threads blocked on its streams.
    ASSERT_EQ(WaitForWaiters(c, 2, 10000), 2u)
        << "the reader and the writer never blocked";
    uint64_t t0 = ts_now_ns();
    abandon = true;
    writer.Join();
    reader.join();
    EXPECT_LT((ts_now_ns() - t0) / 1e9, 5.0 * TimeScale());
    EXPECT_EQ(read_rc.load(), TICKLESS_ERR_STREAM_RESET);
    EXPECT_EQ(writer.rc, TICKLESS_ERR_STREAM_RESET);
    uint64_t code = 0;
    EXPECT_EQ(tickless_stream_peer_error(a, &code), 1);
    EXPECT_EQ(code, 7u);
    tickless_stream_close(a);

    // Our own reset is not the peer's.
    tickless_stream *d = nullptr;
    ASSERT_EQ(tickless_stream_open(c, 0, &d, 10000), 0);
    ASSERT_EQ(tickless_stream_reset(d, 119), 0);
    code = 99;
    EXPECT_EQ(tickless_stream_peer_error(d, &code), 0);
    EXPECT_EQ(code, 0u);
    tickless_stream_close(d);
    tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
    ASSERT_EQ(tickless_conn_error(c, &info), 0);
    EXPECT_NE(info.code, TICKLESS_ERR_SSL) << info.message;
    EXPECT_NE(info.code, TICKLESS_ERR_PEER) << info.message;
    done = true;
    server.Join();
    tickless_conn_close(c);
}

// Two writers and a reader blocked on one stream whose peer reads nothing
// (its flow control credit runs out): each must sleep, not spin. A call
// that waits about a second may use a little CPU for its own work (the
// writers copy up to 512 KiB into the stream), never most of the second.
TEST_P(Streams, BlockedCallsOnExhaustedCreditSleep)
{
    std::atomic<bool> done{false};
    OneConnectionServer server;
    ASSERT_TRUE(server.Start(Pool(), [&](tickless_conn *sc) {
        tickless_stream *s = nullptr;
        ASSERT_EQ(tickless_stream_accept(sc, &s, 10000), 0);
        WaitUntil(done); // reads nothing: the credit runs out
        tickless_stream_close(s);
    }));

    tickless_conn *c = nullptr;
    tickless_stream *a = ClientStream(server.port, &c);
    ASSERT_NE(a, nullptr);
    const std::vector<uint8_t> data = PatternBytes(1u << 20);
    auto write = [&] {
        size_t n = 0;
        return tickless_stream_write(a, data.data(), data.size(), &n, 1500);
    };
    auto read = [&] {
        char b[64];
        size_t n = 0;
        return tickless_stream_read(a, b, sizeof(b), &n, 1500);
    };
    ExpectSleptUntilTheTimeout(RunAtOnce({ write, write, read }), "caller");
    done = true;
    server.Join();
    tickless_stream_close(a);
    tickless_conn_close(c);
}

// A writer blocked because the peer's flow-control credit ran out goes on
// as soon as the peer reads and grants more, even when everything it had
// sent was acknowledged meanwhile, so that the send buffer is empty and
// OpenSSL's free space no longer changes: only the credit does, which no
// getter shows. Another thread sleeps on the same connection (in an
// accept, as a listener's workers do), so that a tick must choose whom to
// wake. (Seen against openssl s_client under load: the echo server's
// writer slept until its timeout.)
TEST_P(Streams, WriterBlockedOnCreditGoesOnWhenThePeerReads)
{
    const size_t kLen = FourMiB().size();
    // Until told, the credit runs out, and the data is acknowledged.
    LateReader peer;
    ASSERT_TRUE(Open(&peer, kLen));
    tickless_conn *c = peer.conn;
    std::thread acceptor([&] {
        tickless_stream *none = nullptr;
        (void)tickless_stream_accept(c, &none, 30000); // until the close
    });
    WaitForWaiters(c, 1);
    BackgroundWrite writer(peer.stream, FourMiB(), 30000);
    WaitForWaiters(c, 2);
    // Long enough for every byte sent to be acknowledged.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    uint64_t t0 = ts_now_ns();
    peer.go = true;
    writer.Join();
    double s = (ts_now_ns() - t0) / 1e9;
    EXPECT_EQ(writer.rc, 0) << tickless_err_name(writer.rc);
    EXPECT_EQ(writer.written, kLen);
    EXPECT_LT(s, 10.0 * TimeScale()) << "the writer waited for its timeout";
    peer.server.Join();
    EXPECT_EQ(peer.got.load(), kLen);
    peer.Close(); // ends the accept
    acceptor.join();
}

// A writer whose own attempt takes in the peer's new credit goes on. With
// nothing in flight (everything sent was acknowledged) OpenSSL refuses the
// write and only then ticks, reading the credit: the writer's next look
// must count that input, or it sleeps with the credit in hand while the
// peer, having read everything, sends nothing more. (This race made
// WriterBlockedOnCreditGoesOnWhenThePeerReads time out, once in ~120 runs.)
TEST_P(Streams, WriterWhoseOwnAttemptTakesTheCreditGoesOn)
{
    WriterTakesTheCreditItself(0);
}

// The same, one attempt later. A tick takes at most one batch of
// datagrams off the socket (OpenSSL's demux: 32). With more than that
// waiting ahead of the credit (junk sent from the relay's address, which
// the client drops), the refused write's first tick takes only junk and
// its second look retries; that retry's own tick takes the credit, and
// must earn a look of its own.
TEST_P(Streams, WriterWhoseSecondAttemptTakesTheCreditGoesOn)
{
    WriterTakesTheCreditItself(40);
}

// A lock section on one accepted connection ticks the listener's whole
// engine (tickless_conn_lock() runs SSL_handle_events()): it may take the
// datagrams another connection's blocked reader waits for. Ended by
// tickless_conn_unlock(), the section wakes the sleepers that can go on;
// ended by closing that connection from inside it, it must too. (The
// closed connection keeps a stream open, so its teardown, which would
// kick the assist, comes later.) The server's pool is paused while the
// data arrives, so that the section's tick is the one that reads it.
TEST_P(Streams, CloseInsideALockSectionWakesOtherConnectionsReaders)
{
    PausablePool sp;
    ASSERT_TRUE(sp.Start());
    uint16_t port = 0;
    tickless_listener *l = NewQuicListener(sp.pool(), &port);
    ASSERT_NE(l, nullptr);

    tickless_conn *c1 = NewClient(GetParam(), TS_QUIC, port);
    tickless_conn *c2 = NewClient(GetParam(), TS_QUIC, port);
    ASSERT_NE(c1, nullptr);
    ASSERT_NE(c2, nullptr);
    tickless_stream *cs1 = nullptr, *cs2 = nullptr;
    ASSERT_EQ(tickless_stream_open(c1, 0, &cs1, 10000), 0);
    ASSERT_EQ(StreamWritePattern(cs1, 0, 1), 0);
    tickless_conn *m1 = nullptr, *m2 = nullptr;
    tickless_stream *s1 = nullptr, *s2 = nullptr;
    ASSERT_EQ(tickless_listener_accept(l, &m1, 10000), 0);
    ASSERT_EQ(tickless_stream_accept(m1, &s1, 10000), 0);
    ASSERT_EQ(StreamReadPattern(s1, 0, 1), 0);
    ASSERT_EQ(tickless_stream_open(c2, 0, &cs2, 10000), 0);
    ASSERT_EQ(StreamWritePattern(cs2, 0, 1), 0);
    ASSERT_EQ(tickless_listener_accept(l, &m2, 10000), 0);
    ASSERT_EQ(tickless_stream_accept(m2, &s2, 10000), 0);
    ASSERT_EQ(StreamReadPattern(s2, 0, 1), 0);

    // The reader of m2's stream blocks.
    std::atomic<int> rrc{1};
    std::atomic<size_t> rn{0};
    std::thread reader([&] {
        std::vector<uint8_t> buf(65536);
        size_t n = 0;
        rrc = tickless_stream_read(s2, buf.data(), buf.size(), &n,
                                   (int)(3000 * TimeScale()));
        rn = n;
    });
    EXPECT_EQ(WaitForWaiters(m2, 1), 1u);
    // Everything sent so far acknowledged: no timer of the engine's is
    // left to tick it soon.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    sp.Pause();
    // The data waits in the listener's socket; nothing ticks the engine.
    ASSERT_EQ(StreamWritePattern(cs2, 1, 3000), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    SSL *ssl = tickless_conn_lock(m1); // its tick reads m2's data
    EXPECT_NE(ssl, nullptr);
    tickless_conn_close(m1); // inside the section: ends it
    uint64_t t0 = ts_now_ns();
    sp.Resume();
    reader.join();
    double waited = (ts_now_ns() - t0) / 1e9;
    EXPECT_EQ(rrc.load(), 0) << tickless_err_name(rrc.load());
    EXPECT_EQ(rn.load(), 3000u);
    // Woken at once, not by its timeout (whose last attempt finds the
    // data all the same).
    EXPECT_LT(waited, 1.0 * TimeScale()) << "the reader slept with its data";

    tickless_stream_close(s1);
    tickless_stream_close(s2);
    tickless_conn_close(m2);
    tickless_stream_close(cs1);
    tickless_stream_close(cs2);
    tickless_conn_close(c1);
    tickless_conn_close(c2);
    tickless_listener_free(l);
}

// Two readers of a QUIC connection's default stream before it exists (the
// peer sends only what it is sent): they must sleep until their timeout,
// not wake each other. (Torture harness: the stream's read state is "no
// stream yet", which was taken for something to read.)
TEST_P(Streams, ReadersBeforeTheDefaultStreamExistsSleep)
{
    ts_server *srv = nullptr;
    tickless_conn *c = StartServerAndConnect(GetParam(), TS_QUIC, &srv);
    ASSERT_NE(c, nullptr);
    auto read = [c] {
        char b[64];
        size_t n = 0;
        return tickless_conn_read(c, b, sizeof(b), &n, 1500);
    };
    ExpectSleptUntilTheTimeout(RunAtOnce({ read, read }), "reader");
    // The connection still works.
    ASSERT_EQ(WritePattern(c, 0, 1000), 0);
    ASSERT_EQ(ReadPattern(c, 0, 1000), 0);
    tickless_conn_close(c);
    ts_server_stop(srv);
}

#else

TEST_P(Streams, NeedQuic)
{
    GTEST_SKIP() << "QUIC streams need OpenSSL >= 3.5 here";
}

#endif

INSTANTIATE_TEST_SUITE_P(Assist, Streams, EveryMode(), ModeParamName);
