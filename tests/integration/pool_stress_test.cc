// A randomized stress run on one shared pool: several threads attach
// connections, echo through them and close them, with closes racing reads
// and handshakes blocked in other threads; seeded, so that a failing run
// can be replayed.
#include "harness.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "ts_net.h"
}

namespace {

using std::chrono::milliseconds;

struct StressConn {
    tickless_conn *c;
    ts_proto proto;
    uint64_t offset; // stream offset of the next echo
    bool handshaken; // shutdown is for established connections only
};

struct StressShared {
    tickless_pool *pool = nullptr;
    std::vector<ts_proto> protos; // weighted: QUIC twice when present
    uint16_t port[3] = { 0, 0, 0 }; // echo server per ts_proto
    uint16_t blackhole_port = 0;    // UDP: takes datagrams, never answers
    uint64_t end_ns = 0;

    std::atomic<uint64_t> attached{ 0 }, echoes{ 0 }, bytes{ 0 }, closes{ 0 },
        shutdowns{ 0 }, read_races{ 0 }, handshake_races{ 0 },
        quick_closes{ 0 }, unexpected{ 0 };
    std::mutex mu;
    std::vector<std::string> errors; // the first few; guarded by mu

    void Unexpected(const std::string &what)
    {
        unexpected.fetch_add(1);
        std::lock_guard<std::mutex> lock(mu);
        if (errors.size() < 20)
            errors.push_back(what);
    }
};

// Waits until a call of another thread is blocked inside |c| (the stats
// count it as a waiter), or |returned| says that call is over. False if it
// never blocked.
bool WaitForBlockedCall(tickless_conn *c, const std::atomic<bool> &returned)
{
    for (int i = 0; i < 10000; i++) {
        tickless_stats st = TICKLESS_STATS_INIT;

        if (returned.load())
            return false;
        if (tickless_conn_stats(c, &st) == 0 && st.waiters >= 1)
            return true;
        std::this_thread::sleep_for(milliseconds(1));
    }
    return false;
}

class StressWorker {
public:
    StressWorker(StressShared *sh, unsigned id, uint64_t seed)
        : sh_(sh), id_(id), rng_(seed)
    {
    }

    void Run()
    {
        while (ts_now_ns() < sh_->end_ns && sh_->unexpected.load() < 50) {
            unsigned r = (unsigned)(Next() % 100);

            if (mine_.empty() || (r < 15 && mine_.size() < 6))
                Attach();
            else if (r < 65)
                EchoOne();
            else if (r < 75)
                CloseOne();
            else if (r < 87)
                ReadRace();
            else if (r < 94)
                HandshakeRace();
            else
                QuickClose();
        }
        while (!mine_.empty())
            CloseOne();
    }

private:
    uint64_t Next() { return ts_splitmix64(&rng_); }

    ts_proto PickProto() { return sh_->protos[Next() % sh_->protos.size()]; }

    // Describes a failure; with |c|, adds what tickless_conn_error() knows.
    std::string Where(const char *op, ts_proto p, int rc,
                      tickless_conn *c = nullptr)
    {
        std::ostringstream os;
        os << "worker " << id_ << " " << op << " " << ProtoName(p) << ": "
           << tickless_err_name(rc);
        tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
        if (c != nullptr && tickless_conn_error(c, &info) == 0
            && info.code != 0)
            os << " (" << info.message << ", errno " << info.sys_errno
               << ")";
        tickless_stats st = TICKLESS_STATS_INIT;
        if (c != nullptr && tickless_conn_stats(c, &st) == 0)
            os << " [assist ticks " << st.ticks << ": timer "
               << st.timer_ticks << ", io " << st.io_ticks << "]";
        return os.str();
    }

    tickless_conn *Connect(ts_proto p, uint16_t port)
    {
        // The fast DTLS timer: a handshake datagram the test server drops
        // while it hands a new client its own socket is resent in 50 ms.
        tickless_conn *c = NewClientOn(sh_->pool, p, port, ts_dtls_fast_timer);
        if (c == nullptr)
            sh_->Unexpected(Where("attach", p, 0));
        return c;
    }

    void Attach()
    {
        ts_proto p = PickProto();
        tickless_conn *c = Connect(p, sh_->port[p]);

        if (c == nullptr)
            return;
        sh_->attached.fetch_add(1);
        // Half the time the handshake is left to the first echo.
        bool handshaken = Next() % 2 == 0;
        if (handshaken) {
            uint64_t t0 = ts_now_ns();
            int rc = tickless_conn_handshake(c, kEchoTimeoutMs);
            double ms = MsSince(t0);
            if (rc != 0 || ms >= kStallMs) {
                std::string what =
                    "handshake (" + std::to_string((int)ms) + " ms)";
                sh_->Unexpected(Where(what.c_str(), p, rc, c));
                tickless_conn_close(c);
                sh_->closes.fetch_add(1);
                return;
            }
        }
        mine_.push_back(StressConn{ c, p, 0, handshaken });
    }

    size_t EchoSize(ts_proto p)
    {
        // DTLS may drop what overflows a socket buffer: keep its messages
        // small. QUIC and TLS are reliable: anything goes.
        size_t max = p == TS_DTLS ? 4096 : 32768;
        return 1 + (size_t)(Next() % max);
    }

    void EchoOne()
    {
        StressConn &sc = mine_[Next() % mine_.size()];
        size_t len = EchoSize(sc.proto);
        EchoResult e = EchoChecked(sc.c, sc.offset, len);

        if (!e.ok()) {
            std::string what = "echo of " + std::to_string(len) + " bytes: "
                               + e.Describe() + ";";
            sh_->Unexpected(Where(what.c_str(), sc.proto, e.rc, sc.c));
            Drop(&sc - &mine_[0], false);
            return;
        }
        sc.offset += len;
        sc.handshaken = true;
        sh_->echoes.fetch_add(1);
        sh_->bytes.fetch_add(len);
    }

    // Removes mine_[i]; closes it, gracefully first if |graceful|.
    void Drop(size_t i, bool graceful)
    {
        StressConn sc = mine_[i];

        mine_[i] = mine_.back();
        mine_.pop_back();
        if (graceful) {
            int rc = tickless_conn_shutdown(sc.c, kEchoTimeoutMs);
            if (rc != 0)
                sh_->Unexpected(Where("shutdown", sc.proto, rc, sc.c));
            else
                sh_->shutdowns.fetch_add(1);
        }
        tickless_conn_close(sc.c);
        sh_->closes.fetch_add(1);
    }

    void CloseOne()
    {
        size_t i = Next() % mine_.size();
        Drop(i, mine_[i].handshaken && Next() % 3 == 0);
    }

    // A second thread reads an echo and then blocks in one more read; this
    // thread closes the connection under it. That read must end with
    // TICKLESS_ERR_CLOSED. The reader never touches the connection after
    // its last call returns, so the close cannot free it under a later one.
    void ReadRace()
    {
        size_t i = Next() % mine_.size();
        StressConn sc = mine_[i];
        mine_[i] = mine_.back();
        mine_.pop_back();

        size_t len = EchoSize(sc.proto);
        std::atomic<bool> last_call{ false }, returned{ false };
        int echo_rc = -100, last_rc = -100;
        double echo_ms = 0;
        bool intact = false;
        std::vector<uint8_t> out(len);
        ts_fill_pattern(out.data(), len, sc.offset);

        std::thread reader([&] {
            std::vector<uint8_t> in(len);
            uint64_t t0 = ts_now_ns();
            echo_rc = ReadExactly(sc.c, in.data(), len, kEchoTimeoutMs);
            echo_ms = MsSince(t0);
            intact = echo_rc == 0
                     && ts_check_pattern(in.data(), len, sc.offset) == len;
            if (echo_rc == 0) {
                uint8_t extra[64];
                size_t n = 0;
                last_call = true;
                last_rc = tickless_conn_read(sc.c, extra, sizeof(extra), &n,
                                             kEchoTimeoutMs);
            }
            returned = true;
        });
        // Written while the reader is already waiting for the echo.
        size_t n = 0;
        int rc = tickless_conn_write(sc.c, out.data(), len, &n, kEchoTimeoutMs);
        if (rc != 0) {
            // The reader may be between two of its reads: closing now could
            // free the connection under its next one. Let it end first.
            reader.join();
            sh_->Unexpected(Where("race write", sc.proto, rc, sc.c));
            tickless_conn_close(sc.c);
            sh_->closes.fetch_add(1);
            return;
        }
        while (!last_call.load() && !returned.load())
            std::this_thread::sleep_for(milliseconds(1));
        bool blocked = WaitForBlockedCall(sc.c, returned);
        if (blocked && Next() % 2 == 0) // land the close at varied moments
            std::this_thread::sleep_for(milliseconds(Next() % 5));
        tickless_conn_close(sc.c);
        reader.join();
        sh_->closes.fetch_add(1);

        if (echo_rc != 0 || !intact || echo_ms >= kStallMs) {
            std::string what = "race echo of " + std::to_string(len)
                               + " bytes (" + std::to_string((int)echo_ms)
                               + " ms, " + (intact ? "intact" : "not intact")
                               + ")";
            sh_->Unexpected(Where(what.c_str(), sc.proto, echo_rc));
            return;
        }
        if (!blocked || last_rc != TICKLESS_ERR_CLOSED) {
            sh_->Unexpected(Where(blocked ? "race read ended with"
                                          : "race read never blocked; it "
                                            "returned",
                                  sc.proto, last_rc));
            return;
        }
        sh_->read_races.fetch_add(1);
    }

    // A handshake towards a peer that never answers (so it is in its
    // retransmission timers) is blocked in another thread; this thread
    // closes the connection. UDP protocols only.
    void HandshakeRace()
    {
        ts_proto p = PickProto();
        if (p == TS_TLS)
            p = TS_DTLS;
        tickless_conn *c = Connect(p, sh_->blackhole_port);
        if (c == nullptr)
            return;
        std::atomic<bool> returned{ false };
        int hs_rc = -100;
        std::thread shaker([&] {
            hs_rc = tickless_conn_handshake(c, kEchoTimeoutMs);
            returned = true;
        });
        bool blocked = WaitForBlockedCall(c, returned);
        if (blocked && Next() % 2 == 0)
            std::this_thread::sleep_for(milliseconds(Next() % 20));
        tickless_conn_close(c);
        shaker.join();
        if (!blocked || hs_rc != TICKLESS_ERR_CLOSED) {
            sh_->Unexpected(Where("handshake race ended with", p, hs_rc));
            return;
        }
        sh_->handshake_races.fetch_add(1);
    }

    // Attach and close at once: the close meets the connection before,
    // during or just after the pool's first tick of it.
    void QuickClose()
    {
        ts_proto p = PickProto();
        tickless_conn *c = Connect(p, sh_->port[p]);

        if (c == nullptr)
            return;
        if (Next() % 2 == 0) {
            // One try without waiting: the handshake cannot be done yet.
            int rc = tickless_conn_handshake(c, 0);
            if (rc != 0 && rc != TICKLESS_ERR_TIMEOUT)
                sh_->Unexpected(Where("handshake(0)", p, rc, c));
        }
        tickless_conn_close(c);
        sh_->quick_closes.fetch_add(1);
    }

    StressShared *sh_;
    unsigned id_;
    uint64_t rng_;
    std::vector<StressConn> mine_;
};

unsigned EnvUnsigned(const char *name, unsigned dflt)
{
    const char *v = std::getenv(name);
    return v != nullptr && *v != '\0' ? (unsigned)std::strtoul(v, nullptr, 0)
                                      : dflt;
}

} // namespace

// Six application threads for 20 s (also under ThreadSanitizer, which
// sees the races that a run without it survives by luck; override with
// TICKLESS_STRESS_SECONDS, reseed with TICKLESS_STRESS_SEED) attach
// connections of every available protocol, echo through them, close them
// (sometimes after a graceful shutdown, sometimes at once, sometimes under a
// read or a handshake blocked in another thread), all on one pool of two
// threads. Every echo must come back intact, every call must return what
// the API promises, and the pool must free at the end.
TEST(PoolStress, RandomAttachEchoCloseOnOneSharedPool)
{
    const unsigned kWorkers = 6;
    const unsigned seconds =
        EnvUnsigned("TICKLESS_STRESS_SECONDS", 20);
    const unsigned seed = EnvUnsigned("TICKLESS_STRESS_SEED", 0x7ec1e55);

    std::cout << "[ stress   ] " << kWorkers << " threads, " << seconds
              << " s, seed " << seed
              << (BUILT_WITH_TSAN ? " (ThreadSanitizer)" : "") << "\n";
    RecordProperty("seed", std::to_string(seed));
    RecordProperty("seconds", std::to_string(seconds));

    StressShared sh;
    std::vector<ServerPtr> servers;
    for (ts_proto p : AvailableProtos()) {
        // Abandoned QUIC connections linger on the server until its idle
        // timeout; 10 s also makes the pool's keep-alives matter.
        servers.emplace_back(StartServer(p, false, 10000));
        ASSERT_NE(servers.back(), nullptr);
        sh.port[p] = ts_server_port(servers.back().get());
        sh.protos.push_back(p);
        if (p == TS_QUIC)
            sh.protos.push_back(p); // QUIC is the main act when it is here
    }
    uint16_t bh_port = 0;
    int blackhole = ts_net_bind(SOCK_DGRAM, 0, 0, &bh_port);
    ASSERT_GE(blackhole, 0);
    sh.blackhole_port = bh_port;
    sh.pool = NewPool(2);
    ASSERT_NE(sh.pool, nullptr);

    sh.end_ns = ts_now_ns() + (uint64_t)seconds * 1000000000ull;
    std::vector<std::thread> workers;
    for (unsigned i = 0; i < kWorkers; i++)
        workers.emplace_back([&sh, i, seed] {
            StressWorker w(&sh, i, (uint64_t)seed * 1000003u + i);
            w.Run();
        });
    for (auto &t : workers)
        t.join();

    std::ostringstream summary;
    summary << "attached " << sh.attached << ", echoes " << sh.echoes << " ("
            << sh.bytes / 1024 << " KiB), closes " << sh.closes
            << " (after shutdown " << sh.shutdowns << "), read races "
            << sh.read_races << ", handshake races " << sh.handshake_races
            << ", quick closes " << sh.quick_closes;
    std::cout << "[ stress   ] " << summary.str() << "\n";
    RecordProperty("summary", summary.str());
    for (const std::string &e : sh.errors)
        ADD_FAILURE() << e;
    EXPECT_EQ(sh.unexpected.load(), 0u);
    // Every kind of event actually happened.
    EXPECT_GT(sh.echoes.load(), 0u);
    EXPECT_GT(sh.read_races.load(), 0u);
    EXPECT_GT(sh.handshake_races.load(), 0u);
    EXPECT_GT(sh.quick_closes.load(), 0u);
    EXPECT_GT(sh.shutdowns.load(), 0u);

    struct tickless_pool_stats st = PoolStats(sh.pool);
    EXPECT_EQ(st.connections, 0u);
    EXPECT_GT(st.ticks, 0u);
    EXPECT_EQ(tickless_pool_free(sh.pool), 0);
    close(blackhole);
}
