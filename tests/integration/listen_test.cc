// tickless_listen(): a QUIC server of several shards, each an OpenSSL
// listener on its own socket bound to one port (SO_REUSEPORT), each on its
// own assist thread. Workers accept from all of them as from one listener.
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "ts_net.h"
#include "ts_relay.h"
}

namespace {

class Listen : public PoolThreadsTest {
protected:

#if TS_HAVE_QUIC
    // A listener of |shards| shards (0: the default) on 127.0.0.1, a free
    // port, pool_, with |max_pending| (0: OpenSSL's); port_ is its port.
    // nullptr, with a failure, on failure.
    tickless_listener *Start(unsigned shards, uint64_t max_pending = 0)
    {
        SSL_CTX *ctx = ts_server_ctx(TS_QUIC);
        tickless_listen_options o;
        tickless_listen_options_defaults(&o);
        o.shards = shards;
        o.listener_flags = SSL_LISTENER_FLAG_NO_VALIDATE;
        o.max_pending = max_pending;
        tickless_listener *l = nullptr;
        int rc = tickless_listen(ctx, "127.0.0.1", "0", &o, pool_, &l);
        SSL_CTX_free(ctx); // each listener holds a reference
        EXPECT_EQ(rc, 0) << tickless_err_name(rc);
        int port = l != nullptr ? tickless_listener_port(l) : -1;
        EXPECT_GT(port, 0);
        port_ = (uint16_t)(port > 0 ? port : 0);
        return rc == 0 ? l : nullptr;
    }

    // Workers that accept connections from |l| until it is closed and
    // echo each until its peer finishes; what they saw.
    struct Workers {
        std::vector<std::thread> threads;
        std::mutex mu;
        std::set<const SSL *> listeners; // the OpenSSL listeners behind them
        std::atomic<int> accepted{0};
    };

    void StartWorkers(tickless_listener *l, int n, Workers *w)
    {
        for (int i = 0; i < n; i++)
            w->threads.emplace_back([l, w] {
                AcceptUntilClosed(l, [w](tickless_conn *c) {
                    w->accepted++;
                    SSL *ssl = tickless_conn_lock(c);
                    EXPECT_NE(ssl, nullptr);
                    if (ssl != nullptr) {
                        std::lock_guard<std::mutex> g(w->mu);
                        w->listeners.insert(SSL_get0_listener(ssl));
                    }
                    tickless_conn_unlock(c);
                    EchoUntilEof(c);
                });
            });
    }

    // |n| clients at once, each echoing a pattern of its own; how many
    // got everything back.
    int RunClients(int n)
    {
        return RunQuicClients(port_, n, [](tickless_conn *c, int i) {
            return EchoPattern(c, i, 2000 + 100 * (size_t)i);
        });
    }

    uint16_t port_ = 0;
#endif
};

} // namespace

#if TS_HAVE_QUIC

// Three shards, 30 clients from 30 ports: the kernel spreads them by
// address and port, so every shard gets some (that one gets none has a
// chance of 3 * (2/3)^30, under 1e-5), every byte comes back, and each
// connection reaches exactly one worker.
TEST_P(Listen, ShardsShareTheClientsAndEveryConnectionEchoes)
{
    tickless_listener *l = Start(3);
    ASSERT_NE(l, nullptr);
    Workers w;
    StartWorkers(l, 4, &w);
    const int kClients = 30;
    EXPECT_EQ(RunClients(kClients), kClients);
    StopServing(l, &w.threads);
    EXPECT_EQ(w.accepted.load(), kClients);
    EXPECT_EQ(w.listeners.size(), 3u) << "a shard got no client";
}

// By default a listener has a shard per pool thread: one for a dedicated
// assist, two on a pool of two.
TEST_P(Listen, DefaultIsOneShardPerPoolThread)
{
    tickless_listener *l = Start(0);
    ASSERT_NE(l, nullptr);
    Workers w;
    StartWorkers(l, 2, &w);
    // Two shards: every one gets a client but with a chance of
    // 2 * (1/2)^20 < 2e-6. One shard (a dedicated assist): a few will do.
    const int kClients = GetParam() > 0 ? 20 : 4;
    EXPECT_EQ(RunClients(kClients), kClients);
    StopServing(l, &w.threads);
    EXPECT_EQ(w.listeners.size(), GetParam() > 0 ? (size_t)GetParam() : 1u);
}

// tickless_listener_accept_stream() serves the streams of a listener of
// several shards.
TEST_P(Listen, StreamWorkersServeAShardedListener)
{
    tickless_listener *l = Start(2);
    ASSERT_NE(l, nullptr);
    std::vector<std::thread> workers;
    std::atomic<int> served{0};
    for (int i = 0; i < 3; i++)
        workers.emplace_back([&] {
            for (;;) {
                tickless_stream *s = nullptr;
                int rc = tickless_listener_accept_stream(l, &s,
                                                         TICKLESS_FOREVER);
                if (rc != 0) {
                    EXPECT_EQ(rc, TICKLESS_ERR_CLOSED);
                    return;
                }
                std::vector<uint8_t> buf(4096);
                size_t n = 0, wn = 0;
                while (tickless_stream_read(s, buf.data(), buf.size(), &n,
                                            10000) == 0)
                    if (tickless_stream_write(s, buf.data(), n, &wn, 10000)
                        != 0)
                        break;
                (void)tickless_stream_conclude(s);
                served++;
                tickless_stream_close(s);
            }
        });
    const int kClients = 12;
    EXPECT_EQ(RunQuicClients(port_, kClients,
                             [](tickless_conn *c, int i) {
                                 tickless_stream *s = nullptr;
                                 const size_t len = 5000 + 10 * (size_t)i;
                                 bool ok =
                                     tickless_stream_open(c, 0, &s, 10000) == 0
                                     && StreamWritePattern(s, 0, len) == 0
                                     && tickless_stream_conclude(s) == 0
                                     && StreamReadPattern(s, 0, len) == 0;
                                 if (s != nullptr)
                                     tickless_stream_close(s);
                                 return ok;
                             }),
              kClients);
    StopServing(l, &workers);
    EXPECT_EQ(served.load(), kClients);
}

// Accepts blocked on a listener of several shards wait for any of them:
// a timeout is kept, and a close wakes them all.
TEST_P(Listen, AcceptsWaitForEveryShardAndWakeOnClose)
{
    tickless_listener *l = Start(3);
    ASSERT_NE(l, nullptr);
    tickless_conn *c = nullptr;
    uint64_t t0 = ts_now_ns();
    EXPECT_EQ(tickless_listener_accept(l, &c, 200), TICKLESS_ERR_TIMEOUT);
    EXPECT_GE((ts_now_ns() - t0) / 1e6, 190.0);
    EXPECT_EQ(tickless_listener_accept(l, &c, 0), TICKLESS_ERR_TIMEOUT);

    std::vector<std::thread> blocked;
    std::atomic<int> closed{0};
    for (int i = 0; i < 4; i++)
        blocked.emplace_back([&, i] {
            int rc;
            if (i % 2 == 0) {
                tickless_conn *x = nullptr;
                rc = tickless_listener_accept(l, &x, TICKLESS_FOREVER);
            } else {
                tickless_stream *x = nullptr;
                rc = tickless_listener_accept_stream(l, &x, TICKLESS_FOREVER);
            }
            closed += rc == TICKLESS_ERR_CLOSED;
        });
    ts_sleep_ms(100);
    t0 = ts_now_ns();
    tickless_listener_close(l);
    for (auto &t : blocked)
        t.join();
    EXPECT_LT((ts_now_ns() - t0) / 1e9, 2.0 * TimeScale());
    EXPECT_EQ(closed.load(), 4);
    EXPECT_EQ(tickless_listener_accept(l, &c, 1000), TICKLESS_ERR_CLOSED);
    tickless_listener_free(l);
}

// A client that moves (a NAT rebinding: its address and port change)
// reaches, in general, another shard, which does not know its connection.
// That must end cleanly, at the idle timeout, on both sides: never a call
// that hangs. A relay with one client slot plays the NAT: once the client
// has been silent for 100 ms, a datagram from elsewhere takes the slot,
// and the client's next datagram comes from a new relay port. Over four
// shards a move lands on another shard three times in four; OpenSSL 3.5
// does not follow a move even to the same shard (measured: with one shard
// too, every trial ended at the idle timeout). Either way the calls on
// both sides must end soon after the 1 s idle timeout, with an error or
// the echo, never by their own 30 s timeout. Two trials: whichever shard
// a move reaches, it ends the same way.
TEST_P(Listen, ClientThatMovesFailsCleanly)
{
    tickless_listener *l = Start(4);
    ASSERT_NE(l, nullptr);
    ts_relay_options ro = {};
    ro.max_clients = 1;
    ro.client_idle_ms = 100;
    ts_relay *relay = nullptr;
    ASSERT_EQ(ts_relay_start(port_, &ro, &relay), 0);
    int moved_away = 0;
    for (int trial = 0; trial < 2; trial++) {
        tickless_conn *c = NewClient(
            Mode::Dedicated, TS_QUIC, ts_relay_port(relay),
            [](SSL *s) { ts_quic_set_idle_timeout(s, 1000); });
        ASSERT_NE(c, nullptr);
        std::atomic<int> server_rc{1};
        std::thread server([&] {
            tickless_conn *m = nullptr;
            ASSERT_EQ(tickless_listener_accept(l, &m, 10000), 0);
            std::vector<uint8_t> buf(4096);
            size_t n = 0, w = 0;
            int rc;
            while ((rc = tickless_conn_read(m, buf.data(), buf.size(), &n,
                                            30000)) == 0
                   && (rc = tickless_conn_write(m, buf.data(), n, &w, 30000))
                          == 0)
                ;
            server_rc = rc;
            tickless_conn_close(m);
        });
        ASSERT_EQ(WritePattern(c, 0, 100), 0);
        ASSERT_EQ(ReadPattern(c, 0, 100), 0);
        // The move: silence, a stranger takes the slot, silence again.
        ts_sleep_ms(300);
        uint16_t unused = 0;
        int stranger = ts_net_bind(SOCK_DGRAM, 0, 0, &unused);
        ASSERT_GE(stranger, 0);
        struct sockaddr_in to = {};
        to.sin_family = AF_INET;
        to.sin_port = htons(ts_relay_port(relay));
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        const char junk[1] = { 0 };
        ASSERT_EQ(sendto(stranger, junk, sizeof(junk), 0,
                         (const struct sockaddr *)&to, sizeof(to)),
                  1);
        ts_sleep_ms(300);
        close(stranger);
        // From the new port now: the echo comes back (the same shard), or
        // the connection ends at its idle timeout, on both sides.
        uint64_t t0 = ts_now_ns();
        int rc = WritePattern(c, 100, 100, 30000);
        if (rc == 0)
            rc = ReadPattern(c, 100, 100, 30000);
        double took = (ts_now_ns() - t0) / 1e9;
        EXPECT_NE(rc, TICKLESS_ERR_TIMEOUT) << "trial " << trial;
        EXPECT_LT(took, 10.0 * TimeScale()) << "trial " << trial;
        moved_away += rc != 0;
        tickless_conn_close(c);
        t0 = ts_now_ns();
        server.join();
        EXPECT_NE(server_rc.load(), TICKLESS_ERR_TIMEOUT) << "trial " << trial;
        EXPECT_LT((ts_now_ns() - t0) / 1e9, 10.0 * TimeScale());
    }
    RecordProperty("moved_to_another_shard", moved_away);
    ts_relay_stop(relay);
    tickless_listener_free(l);
}

// OpenSSL 3.5.9 holds at most max_pending connections that no accept has
// taken (256 unless told), and drops the first packets of any client past
// that without a word: the client's handshake waits for its own
// retransmission. With a limit of 2 and nobody accepting, two of four
// clients finish their handshake and two cannot; once the two are
// accepted, a new client gets in.
TEST_P(Listen, MaxPendingBoundsTheConnectionsNotYetAccepted)
{
#ifndef SSL_VALUE_QUIC_MAX_PENDING_CONNS
    GTEST_SKIP() << "this OpenSSL has no limit to set";
#endif
    tickless_listener *l = Start(1, 2);
    ASSERT_NE(l, nullptr);
    uint16_t port = port_;

    std::vector<tickless_conn *> clients;
    for (int i = 0; i < 4; i++) {
        clients.push_back(NewClient(Mode::Dedicated, TS_QUIC, port));
        ASSERT_NE(clients.back(), nullptr);
    }
    // All four at once: each handshake runs on its own assist thread.
    std::vector<std::thread> hs;
    std::vector<int> rc(clients.size(), 1);
    const int wait_ms = (int)(3000 * TimeScale());
    for (size_t i = 0; i < clients.size(); i++)
        hs.emplace_back([&, i] {
            rc[i] = tickless_conn_handshake(clients[i], wait_ms);
        });
    for (auto &t : hs)
        t.join();
    EXPECT_EQ(std::count(rc.begin(), rc.end(), 0), 2);
    EXPECT_EQ(std::count(rc.begin(), rc.end(), TICKLESS_ERR_TIMEOUT), 2);
    // The refused ones go, so that their retransmissions cannot take the
    // room the accepts make; one they sent just before (an OpenSSL client
    // resends at about 1 s and 3 s) meets the full queue while we wait.
    for (size_t i = 0; i < clients.size(); i++)
        if (rc[i] != 0) {
            tickless_conn_close(clients[i]);
            clients[i] = nullptr;
        }
    ts_sleep_ms(300);

    // Taking the two makes room for a new client.
    tickless_conn *m[2] = { nullptr, nullptr };
    for (auto &mm : m)
        ASSERT_EQ(tickless_listener_accept(l, &mm, 5000), 0);
    tickless_conn *late = NewClient(Mode::Dedicated, TS_QUIC, port);
    ASSERT_NE(late, nullptr);
    EXPECT_EQ(tickless_conn_handshake(late, wait_ms), 0);

    tickless_conn_close(late);
    for (tickless_conn *c : clients)
        if (c != nullptr)
            tickless_conn_close(c);
    for (auto &mm : m)
        tickless_conn_close(mm);
    tickless_listener_free(l);
}

// A listener closed with connections still queued (never accepted) says
// goodbye to every client, and once everything is closed and freed no
// descriptor is left: the listener's socket goes with its last connection.
TEST_P(Listen, CloseWithConnectionsQueuedLeavesNothing)
{
    // This thread's wake-up descriptor, which its first blocking call
    // would make and keep (self_poll.h), is no leak: made before counting.
    ASSERT_GE(tl_self_poll_thread_fd(), 0);
    int fds = SettledCount(CountOpenFds);
    tickless_listener *l = Start(1);
    ASSERT_NE(l, nullptr);
    uint16_t port = port_;

    std::vector<tickless_conn *> clients;
    for (int i = 0; i < 3; i++) {
        clients.push_back(NewClient(Mode::Dedicated, TS_QUIC, port));
        ASSERT_NE(clients.back(), nullptr);
        ASSERT_EQ(tickless_conn_handshake(clients.back(), 5000), 0);
    }
    tickless_conn *first = nullptr;
    ASSERT_EQ(tickless_listener_accept(l, &first, 5000), 0);
    tickless_listener_close(l);
    for (size_t i = 0; i < clients.size(); i++) {
        char b;
        size_t n = 0;
        int rc = tickless_conn_read(clients[i], &b, 1, &n, 5000);
        EXPECT_NE(rc, 0);
        EXPECT_NE(rc, TICKLESS_ERR_TIMEOUT) << "client " << i;
    }
    tickless_conn_close(first);
    for (tickless_conn *c : clients)
        tickless_conn_close(c);
    tickless_listener_free(l);
    EXPECT_EQ(SettlesAt(fds, CountOpenFds), fds) << "a descriptor was left";
}

// Every argument checked before anything is made; nothing left open.
TEST_P(Listen, BadInput)
{
    SSL_CTX *ctx = ts_server_ctx(TS_QUIC);
    ASSERT_NE(ctx, nullptr);
    int fds = SettledCount(CountOpenFds);
    tickless_listen_options o;
    tickless_listen_options_defaults(&o);
    tickless_listener *l = reinterpret_cast<tickless_listener *>(1);
    EXPECT_EQ(tickless_listen(nullptr, nullptr, "0", &o, pool_, &l),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(l, nullptr);
    EXPECT_EQ(tickless_listen(ctx, nullptr, nullptr, &o, pool_, &l),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_listen(ctx, nullptr, "0", &o, pool_, nullptr),
              TICKLESS_ERR_INVALID);
    EXPECT_EQ(tickless_listen(ctx, "127.0.0.1", "no-such-service", &o, pool_,
                              &l),
              TICKLESS_ERR_INVALID);
    o.shards = 65;
    EXPECT_EQ(tickless_listen(ctx, "127.0.0.1", "0", &o, pool_, &l),
              TICKLESS_ERR_INVALID);
    o.shards = 0;
    o.size = 4;
    EXPECT_EQ(tickless_listen(ctx, "127.0.0.1", "0", &o, pool_, &l),
              TICKLESS_ERR_INVALID);
    // A client's context is no server's.
    SSL_CTX *cctx = ts_client_ctx(TS_QUIC);
    EXPECT_EQ(tickless_listen(cctx, "127.0.0.1", "0", nullptr, pool_, &l),
              TICKLESS_ERR_INVALID);
    SSL_CTX_free(cctx);
    // A port another socket holds (without SO_REUSEPORT).
    uint16_t taken = 0;
    int fd = ts_net_bind(SOCK_DGRAM, 0, 0, &taken);
    ASSERT_GE(fd, 0);
    std::string port = std::to_string(taken);
    EXPECT_EQ(tickless_listen(ctx, "127.0.0.1", port.c_str(), nullptr, pool_,
                              &l),
              TICKLESS_ERR_SYS);
    close(fd);
    EXPECT_EQ(l, nullptr);
    EXPECT_EQ(SettlesAt(fds, CountOpenFds), fds)
        << "a failed listen left a descriptor";
    EXPECT_EQ(tickless_listener_port(nullptr), TICKLESS_ERR_INVALID);
    // The options struct of an older caller: the shards field, no flags.
    o.size = offsetof(tickless_listen_options, listener_flags);
    o.shards = 2;
    ASSERT_EQ(tickless_listen(ctx, "127.0.0.1", "0", &o, pool_, &l), 0);
    EXPECT_GT(tickless_listener_port(l), 0);
    tickless_listener_free(l);
    SSL_CTX_free(ctx);
    // A pool thread may hold a shard, and its socket, for the tick it is in.
    EXPECT_EQ(SettlesAt(fds, CountOpenFds), fds) << "the free left a descriptor";
}

#else

TEST_P(Listen, NeedsOpenSsl35)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    tickless_listener *l = reinterpret_cast<tickless_listener *>(1);
    EXPECT_EQ(tickless_listen(ctx, "127.0.0.1", "0", nullptr, pool_, &l),
              TICKLESS_ERR_UNSUPPORTED);
    EXPECT_EQ(l, nullptr);
    EXPECT_EQ(tickless_listener_port(nullptr), TICKLESS_ERR_INVALID);
    SSL_CTX_free(ctx);
}

#endif

INSTANTIATE_TEST_SUITE_P(Assist, Listen, testing::Values(0, 2),
                         PoolThreadsName);
