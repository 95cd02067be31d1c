// Shared pieces of the integration suite: which assist mode and protocol a
// test runs in, and how a tickless client connection is made against the
// in-process servers of tests/support.
#ifndef TICKLESS_TESTS_HARNESS_H
#define TICKLESS_TESTS_HARNESS_H

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>

extern "C" {
#include "core/self_poll.h"
#include "tickless/tickless.h"
#include "ts_certs.h"
#include "ts_relay.h"
#include "ts_server.h"
#include "ts_util.h"
#if TS_HAVE_ECHO_SERVICE
#include "echo_service.h"
#endif
}

// Sanitizer builds run slower and hold more memory per connection: the
// scale tests shrink (and say so in their output) rather than skip, and
// what ThreadSanitizer does not support is left out under it.
#if defined(__SANITIZE_THREAD__)
#define BUILT_WITH_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BUILT_WITH_TSAN 1
#endif
#endif
#ifndef BUILT_WITH_TSAN
#define BUILT_WITH_TSAN 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define BUILT_WITH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BUILT_WITH_ASAN 1
#endif
#endif
#ifndef BUILT_WITH_ASAN
#define BUILT_WITH_ASAN 0
#endif

#define BUILT_WITH_SANITIZER (BUILT_WITH_TSAN || BUILT_WITH_ASAN)

// Who ticks the connection; every TEST_P runs in each mode unchanged.
//  - Dedicated: pool == NULL, one assist thread per connection.
//  - Pool1, Pool2: a process-wide pool with 1 or 2 assist threads.
//  - AppDriven: a process-wide pool with no threads (threads == 0), run by
//    an AppPoolLoop (below) standing in for the application's own event
//    loop: it waits on tickless_pool_fd() and calls
//    tickless_pool_run(pool, 0).
// The pools are made on first use and freed after the last test (a global
// test environment), which checks that tickless_pool_free() returns 0: every
// test must close the connections it made.
enum class Mode { Dedicated, Pool1, Pool2, AppDriven };

struct Variant {
    Mode mode;
    ts_proto proto;
};

std::string VariantName(const testing::TestParamInfo<Variant> &info);
// VariantName() of {mode, proto}: "Pool2_QUIC".
std::string ModeProtoName(Mode mode, ts_proto proto);
const char *ProtoName(ts_proto p);

const char *ModeName(Mode m);

// How gtest prints a parameter (ctest's listing shows it): by name, not as
// the bytes of an "8-byte object".
inline void PrintTo(Mode m, std::ostream *os) { *os << ModeName(m); }
inline void PrintTo(const Variant &v, std::ostream *os)
{
    *os << ModeName(v.mode) << "_" << ProtoName(v.proto);
}

// Every {mode} x {QUIC, DTLS, TLS} combination, named like "Pool2_QUIC".
testing::internal::ParamGenerator<Variant> AllVariants();

// Every mode with each of |protos| only (VariantName names them too).
testing::internal::ParamGenerator<Variant>
VariantsOf(std::initializer_list<ts_proto> protos);
// The same as a list, for a test whose cases add more to each variant.
std::vector<Variant> VariantList(std::initializer_list<ts_proto> protos);
// The variants of some modes only, each with QUIC, DTLS and TLS.
std::vector<Variant> VariantList(std::initializer_list<Mode> modes);

// Every mode, for a test parameterized by mode alone, named like "Pool2"
// (ModeParamName).
testing::internal::ParamGenerator<Mode> EveryMode();
std::string ModeParamName(const testing::TestParamInfo<Mode> &info);

// QUIC, DTLS and TLS, for a test parameterized by protocol alone, named
// like "QUIC" (ProtoParamName, below).
testing::internal::ParamGenerator<ts_proto> EveryProto();

// True when this OpenSSL can run |p| both as client and in-process server.
bool ProtoAvailable(ts_proto p);

// The protocols ProtoAvailable() says yes to, QUIC first.
std::vector<ts_proto> AvailableProtos();

// How a test parameterized by protocol alone is named: "QUIC".
std::string ProtoParamName(const testing::TestParamInfo<ts_proto> &info);

#define SKIP_UNLESS_AVAILABLE(proto)                                          \
    do {                                                                      \
        if (!ProtoAvailable(proto))                                           \
            GTEST_SKIP() << "QUIC needs OpenSSL >= 3.5 (listener API); "     \
                            "this build has "                                 \
                         << OpenSSL_version(OPENSSL_VERSION);                 \
    } while (0)

// Hook run on the client SSL before tickless takes it (idle timeout, DTLS
// timer, ...).
using SslTweak = std::function<void(SSL *)>;

// The pool connections of |mode| attach to: nullptr for Mode::Dedicated,
// else the process-wide pool of that mode, created on first use (and, for
// AppDriven, its driver thread started). Any thread.
tickless_pool *PoolFor(Mode mode);

// Makes a client SSL for |proto| to 127.0.0.1:|port| and wraps it in a
// tickless connection on |pool| (nullptr: a dedicated assist thread). Fails
// the test (ADD_FAILURE) and returns nullptr on error. Any thread.
tickless_conn *NewClientOn(tickless_pool *pool, ts_proto proto, uint16_t port,
                           const SslTweak &tweak = nullptr);

// NewClientOn(PoolFor(mode), ...).
tickless_conn *NewClient(Mode mode, ts_proto proto, uint16_t port,
                         const SslTweak &tweak = nullptr);

// The SslTweak of a DTLS client whose handshake retransmits every 20 ms
// (OpenSSL's own timer starts at 1 s and doubles): against a peer that
// never answers, OpenSSL's 13 timeouts then take ~0.3 s before it gives up.
void DtlsRetransmitEvery20Ms(SSL *ssl);

// A UDP socket on 127.0.0.1 that takes datagrams and never answers: the
// peer of a DTLS handshake that can only end in OpenSSL giving up. Closed
// when it goes out of scope (after the test has closed its clients).
class SilentUdpPeer {
public:
    SilentUdpPeer();
    ~SilentUdpPeer();

    // A DTLS client of this peer on |pool| (nullptr: a dedicated assist
    // thread), |tweak| applied: NewClientOn(). nullptr, with a test
    // failure added, if the socket or the client could not be made.
    tickless_conn *NewDtlsClient(
        tickless_pool *pool, const SslTweak &tweak = DtlsRetransmitEvery20Ms);

    // Owns the socket: not copied.
    SilentUdpPeer(const SilentUdpPeer &) = delete;
    SilentUdpPeer &operator=(const SilentUdpPeer &) = delete;

private:
    int fd_ = -1;
    uint16_t port_ = 0;
};

// Options of a test relay (ts_relay) that impairs nothing yet, seeded
// with |seed|: its random choices depend only on the seed and the order of
// arrivals, so that a failure can be replayed. The test sets the rest.
ts_relay_options SeededRelay(uint64_t seed);

// Starts a server; fails the test on error.
ts_server *StartServer(ts_proto proto, bool sink = false,
                       uint64_t idle_timeout_ms = 0);
// The same with every option of ts_server.h, the DTLS timer made fast
// (fast_dtls_timer); the failure says what was asked.
ts_server *StartServerWith(ts_server_options o);

// A server stopped when it goes out of scope.
struct ServerStop {
    void operator()(ts_server *s) const { ts_server_stop(s); }
};
using ServerPtr = std::unique_ptr<ts_server, ServerStop>;

// The opening of most connection tests: starts a |proto| server, connects a
// |mode| client to it (NewClient(), with |tweak|) and completes the
// handshake within 10 s. Returns the client and sets *srv; the test closes
// the client, then stops the server. On failure it adds a test failure
// naming the step and returns nullptr with *srv == nullptr, having closed
// what it opened: a leftover connection would fail the pools' end-of-run
// check too, blaming no test. It does not skip (GTEST_SKIP() returns from
// the function it is in only): say SKIP_UNLESS_AVAILABLE(proto) first.
// Any thread.
tickless_conn *StartServerAndConnect(Mode mode, ts_proto proto,
                                     ts_server **srv,
                                     const SslTweak &tweak = nullptr);

// The fixture of a test run in every mode and protocol (AllVariants(),
// or VariantsOf()): it skips a protocol this OpenSSL cannot run, makes the
// test's server and client on request, and closes the client, then stops
// the server, after the test, whatever it did (a connection left open
// would fail the pools' end-of-run check too, blaming no test).
class VariantTest : public testing::TestWithParam<Variant> {
protected:
    void SetUp() override;
    void TearDown() override;

    Mode mode() const { return GetParam().mode; }
    ts_proto proto() const { return GetParam().proto; }

    // A client of a server of the test's protocol (started on the first
    // call), in the test's mode, with |tweak| applied; not handshaken.
    // nullptr, with a test failure added, on failure. Closed after the
    // test.
    tickless_conn *Client(const SslTweak &tweak = nullptr);
    // Client(), handshaken within 10 s (as StartServerAndConnect()).
    tickless_conn *Connect(const SslTweak &tweak = nullptr);

private:
    ts_server *srv_ = nullptr;
    std::vector<tickless_conn *> clients_;
};

#if TS_HAVE_QUIC
// A QUIC listener (SSL_new_listener(), no address validation) on a
// nonblocking UDP socket of 127.0.0.1 with the test certificate; *port is
// set. nullptr on failure, with nothing left open.
SSL *NewQuicListenerSsl(uint16_t *port);

// NewQuicListenerSsl() handed to tickless_listener_new() on |pool|
// (nullptr: a dedicated assist thread). nullptr, with a test failure
// added, on failure.
tickless_listener *NewQuicListener(tickless_pool *pool, uint16_t *port);
#endif

#if TS_HAVE_ECHO_SERVICE
// The example QUIC echo service (examples/echo_service.c) as
// quic_echo_server runs it, with |workers| workers, on a listener with the
// test certificate, ticked in |mode| (quic_echo_server uses a pool of 2).
// *port is set; nullptr on failure.
echo_service *StartEchoService(Mode mode, int workers, uint16_t *port,
                               int stall_ms = ECHO_SERVICE_STALL_MS);
#endif

// |len| bytes of the test pattern (ts_fill_pattern()) from stream offset
// |offset|.
std::vector<uint8_t> PatternBytes(size_t len, uint64_t offset = 0);

// Writes all of |len| pattern bytes starting at stream offset |offset|.
int WritePattern(tickless_conn *c, uint64_t offset, size_t len,
                 int timeout_ms = 30000);

// Reads exactly |len| bytes and checks they are the pattern at |offset|.
// Returns 0, or the tickless error; adds a test failure on a mismatch.
int ReadPattern(tickless_conn *c, uint64_t offset, size_t len,
                int timeout_ms = 30000);

// Reads until |len| bytes are in |buf|, each call waiting up to
// |timeout_ms|: a read returns what has arrived, which may be less than
// asked. Returns 0, or the error of the call that failed; *got (when not
// null) says how many bytes came either way. Quiet (no gtest calls): any
// thread.
int ReadExactly(tickless_conn *c, void *buf, size_t len, int timeout_ms,
                size_t *got = nullptr);
// The same on one stream of a QUIC connection.
int ReadExactly(tickless_stream *s, void *buf, size_t len, int timeout_ms,
                size_t *got = nullptr);

// WritePattern() and ReadPattern() on one stream, with a 15 s timeout;
// ReadPattern's mismatch is -100 here, with no test failure added.
int StreamWritePattern(tickless_stream *s, uint64_t off, size_t len);
int StreamReadPattern(tickless_stream *s, uint64_t off, size_t len);

// tickless_conn_read() of up to 64 bytes on |c| with |timeout_ms|, on a
// thread of its own: its result, for a test that acts while it is blocked.
std::future<int> ReadInBackground(tickless_conn *c, int timeout_ms);

// Waits up to |timeout_ms| (times TimeScale()) until |c| counts at least
// |n| callers blocked in it (tickless_stats.waiters, which includes those
// blocked on its streams): for tests that must know a thread is asleep in
// a call before they act. Returns the last count seen; adds a test failure
// if tickless_conn_stats() fails. Any thread.
uint64_t WaitForWaiters(tickless_conn *c, uint64_t n, int timeout_ms = 5000);

// Calls |fn| with the name of each entry of |dir| but "." and "..", and
// the descriptor the walk itself holds open on |dir| (to leave it out of
// /proc/self/fd). -1 if |dir| cannot be read, else 0.
int ForEachEntry(const char *dir,
                 const std::function<void(const char *name, int dir_fd)> &fn);

// This process's open descriptors, the sockets among them, and its
// threads, read from /proc/self: what a failure path that leaked would
// leave behind. -1 if /proc cannot be read.
int CountOpenFds();
int CountSockets();
int CountThreads();

// SettlesAt(before, CountSockets) (below).
int SocketsSettleAt(int before);

// A UDP socket bound to 127.0.0.1 (family AF_INET) or to :: with
// IPV6_V6ONLY off (AF_INET6: dual stack), its port chosen by the kernel
// and stored in *port; -1 if this host cannot.
int BindUdp(int family, uint16_t *port);

// A DTLS listener with the test certificate, ticked in |mode|, on a UDP
// socket of its own (BindUdp(|family|, |port|)); nullptr, with a test
// failure added, if the socket cannot be bound or
// tickless_listener_new_dtls() refuses it.
tickless_listener *NewDtlsListener(Mode mode, int family, uint16_t *port);

// While alive, collects the error lines tickless logs (tickless_set_log())
// that name no connection: what it says about a handle it refused. The
// log callback is process-wide: one at a time.
class RefusalLog {
public:
    // Whether some line mentions both |call| and |what|. Any thread.
    bool Has(const std::string &call, const std::string &what) const;

    RefusalLog();  // starts collecting, forgetting earlier lines
    ~RefusalLog(); // stops
    RefusalLog(const RefusalLog &) = delete;
    RefusalLog &operator=(const RefusalLog &) = delete;
};

// A line tickless logged through tickless_set_log().
struct LogEvent {
    int level;
    tickless_conn *conn;
    std::string message;
};

// A tickless_set_log() callback that keeps every line it is given, for
// LoggedEvents(); ClearLoggedEvents() forgets them. Any thread.
void CollectLogEvent(int level, tickless_conn *conn, const char *message,
                     void *arg);
std::vector<LogEvent> LoggedEvents();
void ClearLoggedEvents();

// Milliseconds from |t0_ns| (a ts_now_ns() reading) to now.
double MsSince(uint64_t t0_ns);

// Per blocking call of an echo. A call that should take milliseconds and
// takes kStallMs or more slept through a wake-up: tickless makes a last
// attempt when the timeout ends, so a missed wake-up usually shows as a
// delay that ends with the timeout, not as an error. Both are generous: an
// exchange over loopback takes milliseconds, under ThreadSanitizer tens of
// them.
constexpr int kEchoTimeoutMs = 10000;
constexpr double kStallMs = 5000;

// The outcome of one request/response.
struct EchoResult {
    int rc = 0;          // first error, or 0
    bool intact = false; // the echo was the pattern sent
    double ms = 0;       // write + read, wall time

    bool ok() const { return rc == 0 && intact && ms < kStallMs; }
    std::string Describe() const;
};

// One request/response: |len| pattern bytes at stream offset |off| out and
// the echo back, checked and timed. Quiet (no gtest calls): any thread.
EchoResult EchoChecked(tickless_conn *c, uint64_t off, size_t len,
                       int timeout_ms = kEchoTimeoutMs);

// EchoChecked() for the test thread, as an assertion:
// ASSERT_TRUE(EchoIntact(c, 0, 1000)) fails with what went wrong.
testing::AssertionResult EchoIntact(tickless_conn *c, uint64_t off,
                                    size_t len);

// A pool of |threads| assist threads (0: application-driven) with the
// other options at their defaults, made by a test that frees it itself;
// nullptr, with a test failure added, if tickless_pool_new() fails.
tickless_pool *NewPool(unsigned threads);

// tickless_pool_stats() of |p|; a test failure if it fails.
struct tickless_pool_stats PoolStats(tickless_pool *p);

// Raises the soft descriptor limit to the hard one; returns the soft limit:
// for tests that open a socket per connection, hundreds of them.
rlim_t RaiseFdLimit();

// An application's own event loop running an application-driven pool
// (threads == 0), on a thread of its own: the pool's descriptor sits in the
// loop's epoll set next to the loop's own (a stop eventfd), and
// tickless_pool_run(pool, 0) is called when epoll says the pool's
// descriptor is readable. So every deadline, socket readiness and wake-up
// must show on that descriptor, or nothing happens.
//
// |run_every_ms| > 0 makes the loop also run the pool whenever its
// descriptor has been quiet that long: a loop that polls as well as waits
// (the harness's AppDriven mode, whose tests are about the calls, not about
// the descriptor). 0: only the descriptor wakes the loop, which then waits
// up to a second at a time, an application's own timeout.
class AppPoolLoop {
public:
    explicit AppPoolLoop(int run_every_ms = 0) : run_every_ms_(run_every_ms) {}
    ~AppPoolLoop() { Stop(); }
    AppPoolLoop(const AppPoolLoop &) = delete;
    AppPoolLoop &operator=(const AppPoolLoop &) = delete;

    // Starts the loop on |pool|. False, with a test failure added, if the
    // pool has no descriptor or the epoll set cannot be made.
    bool Start(tickless_pool *pool);
    // Ends the loop and waits for its thread; idempotent.
    void Stop();
    // Stops running the pool until Resume(): returns once the loop is out
    // of tickless_pool_run() and will not call it again before then, so
    // that nothing but the application's own calls reads the sockets of
    // the pool's connections (a test can choose the call that takes in
    // what arrives). The loop still ends on Stop().
    void Pause();
    void Resume() { paused_ = false; }

    uint64_t runs() const { return runs_.load(); }     // pool runs
    uint64_t ticked() const { return ticked_.load(); } // their sum
    int errors() const { return errors_.load(); }      // failed runs

private:
    void Loop();

    const int run_every_ms_;
    tickless_pool *pool_ = nullptr;
    int ep_ = -1, stop_fd_ = -1;
    std::thread thread_;
    std::atomic<uint64_t> runs_{ 0 }, ticked_{ 0 };
    std::atomic<bool> paused_{ false };
    std::atomic<uint64_t> parks_{ 0 }; // loop turns that found it paused
    std::atomic<int> errors_{ 0 };
};

// A test over pools of GetParam() assist threads, 0 meaning a dedicated
// assist: pool_ is made before each test and freed, checked, after it.
class PoolThreadsTest : public testing::TestWithParam<int> {
protected:
    void SetUp() override;
    void TearDown() override;
    tickless_pool *pool_ = nullptr;
};

// "Dedicated", "Pool2", ...: PoolThreadsTest's parameter names.
std::string PoolThreadsName(const testing::TestParamInfo<int> &info);

// |n| dedicated QUIC clients of 127.0.0.1:|port| at once, each from a port
// of its own; client |i| runs |exchange|(c, i) (true: it got what it
// wanted), then is closed. How many exchanges succeeded.
int RunQuicClients(uint16_t port, int n,
                   const std::function<bool(tickless_conn *, int)> &exchange);

// An exchange for RunQuicClients(): |len| pattern bytes from an offset of
// the client's own, echoed back; then a shutdown.
bool EchoPattern(tickless_conn *c, int i, size_t len);

// A worker's loop: accepts connections from |l| and hands each to |serve|,
// then closes it, until the listener is closed (any other failure of the
// accept fails the test).
void AcceptUntilClosed(tickless_listener *l,
                       const std::function<void(tickless_conn *)> &serve);

// Shuts a worker pool down as the guide says: closes |l| (the workers'
// accepts return TICKLESS_ERR_CLOSED), joins |workers|, frees |l|.
void StopServing(tickless_listener *l, std::vector<std::thread> *workers);

// Echoes everything on |c| until the peer finishes, then finishes too:
// a QUIC server's worker. Quiet (no gtest calls).
void EchoUntilEof(tickless_conn *c);

// The factor for wall-clock bounds that tests assert ("close wakes the
// readers within 2 s"): TICKLESS_TEST_TIME_SCALE, a number >= 1, default 1.
// The bounds are written for a plain build; scripts/valgrind sets it, as
// Valgrind runs a program 20 to 100 times slower, on one CPU. A bound
// scaled up still catches what it is there for: a missed wake-up waits for
// ever, or for a timeout far longer than the scaled bound.
double TimeScale();

// Waits up to |max_ms| (times TimeScale()) for |count|() to come back to
// |before|, as what a closed or freed object gave back leaves: a pool's
// assist may still hold a closed connection (and its socket) for the tick
// it is in, a dedicated assist thread ends after its connection is closed,
// and a thread pthread_join() has returned for can stay listed in
// /proc/self/task for a moment (the kernel wakes the joiner before it
// reaps the thread). A leak never comes back. Returns the last count,
// which may also be lower: something of an earlier test, already closing,
// may go meanwhile.
template <typename F> int SettlesAt(int before, F count, int max_ms = 2000)
{
    int n = count();
    for (int i = 0; i < max_ms / 10 * TimeScale() && n > before; i++) {
        ts_sleep_ms(10);
        n = count();
    }
    return n;
}

// |count|() once it has stayed the same for 20 ms (waiting at most |max_ms|
// times TimeScale()): a baseline for SettlesAt() to come back to. Taken just
// after something was freed, a plain count may still include a thread that
// pthread_join() has returned for (see above), which then goes: the count
// never comes back up to it, and SettlesAt() would report too few.
template <typename F> int SettledCount(F count, int max_ms = 2000)
{
    int n = count(), same_ms = 0;
    for (int waited = 0; same_ms < 20 && waited < max_ms * TimeScale();
         waited += 5) {
        ts_sleep_ms(5);
        int m = count();
        same_ms = m == n ? same_ms + 5 : 0;
        n = m;
    }
    return n;
}

// While alive, every blocked caller sleeps until the assist wakes it
// instead of polling its socket itself (src/core/self_poll.h): for tests
// whose point is what the assist does, which a caller polling for itself
// would do in its place and so hide.
struct AssistWakesCallers {
    AssistWakesCallers() { tl_self_poll_set_enabled(0); }
    ~AssistWakesCallers() { tl_self_poll_set_enabled(1); }
    AssistWakesCallers(const AssistWakesCallers &) = delete;
    AssistWakesCallers &operator=(const AssistWakesCallers &) = delete;
};

#endif
