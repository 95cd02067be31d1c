// tickless_conn_error(): the details of a failure, for callers whose
// tickless_error_info is the full struct or an older, shorter one.
#include "harness.h"

#include <chrono>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <vector>

extern "C" {
#include "ts_net.h"
}

// A DTLS handshake towards a UDP port nobody listens on fails at once with
// "connection refused": a real failure with a message to read.
static tickless_conn *FailedConnection()
{
    uint16_t port = 0;
    int fd = ts_net_bind(SOCK_DGRAM, 0, 0, &port);
    if (fd < 0)
        return nullptr;
    close(fd); // the port is now closed: the kernel answers ICMP unreachable
    tickless_conn *c = NewClient(Mode::Dedicated, TS_DTLS, port);
    if (c == nullptr)
        return nullptr;
    int rc = tickless_conn_handshake(c, 10000);
    EXPECT_NE(rc, 0);
    return c;
}

TEST(ErrorInfo, FullStructHasCodeAndMessage)
{
    tickless_conn *c = FailedConnection();
    ASSERT_NE(c, nullptr);
    tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
    ASSERT_EQ(tickless_conn_error(c, &info), 0);
    EXPECT_NE(info.code, 0);
    EXPECT_GT(std::strlen(info.message), 5u) << info.message;
    EXPECT_LT(std::strlen(info.message), sizeof(info.message));
    tickless_conn_close(c);
}

// An older caller whose struct ends six bytes into |message| gets the first
// five characters and a terminating NUL, and nothing past its struct.
TEST(ErrorInfo, ShortStructGetsATerminatedPrefix)
{
    tickless_conn *c = FailedConnection();
    ASSERT_NE(c, nullptr);
    tickless_error_info full = TICKLESS_ERROR_INFO_INIT;
    ASSERT_EQ(tickless_conn_error(c, &full), 0);
    ASSERT_GT(std::strlen(full.message), 5u);

    tickless_error_info cut;
    std::memset(&cut, 'x', sizeof(cut));
    cut.size = offsetof(tickless_error_info, message) + 6;
    ASSERT_EQ(tickless_conn_error(c, &cut), 0);
    EXPECT_EQ(cut.code, full.code);
    EXPECT_EQ(std::string(cut.message), std::string(full.message, 5));
    EXPECT_EQ(cut.message[6], 'x') << "wrote past the caller's struct";
    tickless_conn_close(c);
}

#if TS_HAVE_QUIC
// The reason phrase of the peer's CONNECTION_CLOSE is the peer's text,
// bytes it chose: it reaches err.message and the log callback escaped
// (control characters, bytes outside printable ASCII and the backslash as
// \xNN) and cut to a bounded length, so that a peer cannot write lines or
// terminal escapes into the application's logs.
static std::mutex g_log_mu;
static std::vector<std::string> g_log;

static void CollectLog(int, tickless_conn *, const char *message, void *)
{
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log.push_back(message);
}

static bool AllPrintable(const std::string &s)
{
    for (unsigned char ch : s)
        if (ch < 0x20 || ch > 0x7e)
            return false;
    return true;
}

// One side closes, from inside a lock section, with a reason full of what
// a log must not take in; the other side's blocked read gets
// TICKLESS_ERR_PEER, and its error record and log line hold the reason
// escaped and cut. |served_closes|: the listener's connection closes (else
// the client does).
// Valgrind (scripts/valgrind) runs these far slower: scale the waits.
static int WaitMs()
{
    return (int)(10000 * TimeScale());
}

// A listener (dedicated assist), a client on |pool| (nullptr: its own
// thread) and the connection the listener accepted from it, both
// handshaken (a close during the handshake would carry no reason: RFC
// 9000, 10.2.3).
struct Pair {
    tickless_listener *l = nullptr;
    tickless_conn *client = nullptr;
    tickless_conn *served = nullptr;

    void Make(tickless_pool *pool)
    {
        uint16_t port = 0;
        SSL *lst = NewQuicListenerSsl(&port);
        ASSERT_NE(lst, nullptr);
        ASSERT_EQ(tickless_listener_new(lst, nullptr, &l), 0);
        client = NewClientOn(pool, TS_QUIC, port);
        ASSERT_NE(client, nullptr);
        std::thread hs(
            [&] { EXPECT_EQ(tickless_conn_handshake(client, WaitMs()), 0); });
        EXPECT_EQ(tickless_listener_accept(l, &served, WaitMs()), 0);
        hs.join();
        ASSERT_NE(served, nullptr);
        ASSERT_EQ(tickless_conn_handshake(served, WaitMs()), 0);
    }
    ~Pair()
    {
        tickless_conn_close(client);
        tickless_conn_close(served);
        tickless_listener_free(l);
    }
};

// |closer| queues a CONNECTION_CLOSE with code 42 and |reason| from inside
// a lock section, as an application does to give one.
static void CloseFromLockSection(tickless_conn *closer,
                                 const std::string &reason)
{
    SSL *ssl = tickless_conn_lock(closer);
    ASSERT_NE(ssl, nullptr);
    SSL_SHUTDOWN_EX_ARGS args;
    std::memset(&args, 0, sizeof(args));
    args.quic_error_code = 42;
    args.quic_reason = reason.c_str();
    EXPECT_GE(SSL_shutdown_ex(ssl, SSL_SHUTDOWN_FLAG_RAPID, &args,
                              sizeof(args)),
              0);
    tickless_conn_unlock(closer);
}

static void CheckEscapedCloseReason(bool served_closes)
{
    const int kWaitMs = WaitMs();
    Pair p;
    ASSERT_NO_FATAL_FAILURE(p.Make(nullptr));
    tickless_conn *client = p.client, *served = p.served;
    g_log.clear();
    ASSERT_EQ(tickless_set_log(CollectLog, nullptr, TICKLESS_LOG_ERROR, 0),
              0);

    const std::string reason = std::string("bye\r\nFAKE: line\x1b[31m\x01")
                               + "\xff\xfe\\" + std::string(300, 'A');
    tickless_conn *closer = served_closes ? served : client;
    tickless_conn *reader = served_closes ? client : served;
    CloseFromLockSection(closer, reason);

    char b;
    size_t n = 0;
    int rc = tickless_conn_read(reader, &b, 1, &n, kWaitMs);
    EXPECT_EQ(rc, TICKLESS_ERR_PEER) << tickless_err_name(rc);
    tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
    ASSERT_EQ(tickless_conn_error(reader, &info), 0);
    tickless_set_log(nullptr, nullptr, 0, 0);
    const std::string msg = info.message;
    EXPECT_NE(msg.find("bye\\x0d\\x0aFAKE: line\\x1b[31m\\x01\\xff\\xfe"
                       "\\x5c"),
              std::string::npos)
        << msg;
    EXPECT_TRUE(AllPrintable(msg)) << msg;
    size_t as = 0;
    for (char ch : msg)
        as += ch == 'A';
    EXPECT_LE(as, 100u) << "the reason was not cut: " << msg;
    bool logged = false;
    for (const std::string &m : g_log) {
        EXPECT_TRUE(AllPrintable(m)) << m;
        logged = logged || m.find("bye\\x0d") != std::string::npos;
    }
    EXPECT_TRUE(logged) << "the log did not get the escaped reason";
}

// A close queued in a lock section reaches the server even when the
// client's socket holds packets it has not read yet (nobody runs this
// application-driven pool). Were they read only once the close had begun,
// OpenSSL would lose the CONNECTION_CLOSE in one of two ways, and the
// server's reader would learn of the close only by its idle timeout:
//  - |after_data| false: the unread packet is the server's HANDSHAKE_DONE.
//    A client whose handshake is not confirmed sends CONNECTION_CLOSE in a
//    Handshake packet alone, which the server, done with its Handshake
//    keys, drops.
//  - |after_data| true: the unread packet is the server's data. Packets
//    read while closing count against the 3x anti-amplification budget of
//    the closing state, which then refuses a CONNECTION_CLOSE with a long
//    reason.
// A lock section therefore begins with a tick.
static void CheckLockSectionCloseArrives(bool after_data)
{
    const int kWaitMs = WaitMs();
    tickless_pool_options o;
    tickless_pool_options_defaults(&o);
    o.threads = 0;
    tickless_pool *pool = nullptr;
    ASSERT_EQ(tickless_pool_new(&o, &pool), 0);
    {
        Pair p;
        ASSERT_NO_FATAL_FAILURE(p.Make(pool));
        tickless_conn *client = p.client, *served = p.served;
        char b;
        size_t n = 0;
        if (after_data) {
            // A round trip confirms the client's handshake; then one more
            // byte from the server is left unread.
            ASSERT_EQ(tickless_conn_write(client, "x", 1, &n, kWaitMs), 0);
            ASSERT_EQ(tickless_conn_read(served, &b, 1, &n, kWaitMs), 0);
            ASSERT_EQ(tickless_conn_write(served, "y", 1, &n, kWaitMs), 0);
            ASSERT_EQ(tickless_conn_read(client, &b, 1, &n, kWaitMs), 0);
            ASSERT_EQ(tickless_conn_write(served, "z", 1, &n, kWaitMs), 0);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));

        const std::string reason = after_data ? std::string(300, 'r')
                                              : "bye";
        CloseFromLockSection(client, reason);
        int rc = tickless_conn_read(served, &b, 1, &n, kWaitMs);
        EXPECT_EQ(rc, TICKLESS_ERR_PEER) << tickless_err_name(rc);
        tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
        ASSERT_EQ(tickless_conn_error(served, &info), 0);
        EXPECT_NE(std::string(info.message).find(reason.substr(0, 3)),
                  std::string::npos)
            << info.message;
    }
    EXPECT_EQ(tickless_pool_free(pool), 0);
}

TEST(ErrorInfo, ACloseRightAfterTheHandshakeReachesTheServer)
{
    CheckLockSectionCloseArrives(false);
}

TEST(ErrorInfo, ALongCloseReasonReachesTheServerPastUnreadData)
{
    CheckLockSectionCloseArrives(true);
}

TEST(ErrorInfo, PeersCloseReasonIsEscapedAndCapped)
{
    CheckEscapedCloseReason(true);
}

// The same escaping, the other way round: the connection accepted from a
// listener reads the reason its client closed with. (Both once failed
// most runs: CheckLockSectionCloseArrives() says why.)
TEST(ErrorInfo, ClientsCloseReasonIsEscapedAndCapped)
{
    CheckEscapedCloseReason(false);
}
#endif
