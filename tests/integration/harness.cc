#include "harness.h"

#include <sys/socket.h>

extern "C" {
#include "ts_net.h"
}

#include <arpa/inet.h>
#include <dirent.h>
#include <poll.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <sstream>

const char *ProtoName(ts_proto p)
{
    switch (p) {
    case TS_QUIC:
        return "QUIC";
    case TS_DTLS:
        return "DTLS";
    case TS_TLS:
        return "TLS";
    }
    return "unknown";
}

const char *ModeName(Mode m)
{
    switch (m) {
    case Mode::Dedicated:
        return "Dedicated";
    case Mode::Pool1:
        return "Pool1";
    case Mode::Pool2:
        return "Pool2";
    case Mode::AppDriven:
        return "AppDriven";
    }
    return "unknown";
}

std::string VariantName(const testing::TestParamInfo<Variant> &info)
{
    return ModeProtoName(info.param.mode, info.param.proto);
}

std::string ModeProtoName(Mode mode, ts_proto proto)
{
    return std::string(ModeName(mode)) + "_" + ProtoName(proto);
}

testing::internal::ParamGenerator<Variant> AllVariants()
{
    return VariantsOf({ TS_QUIC, TS_DTLS, TS_TLS });
}

testing::internal::ParamGenerator<Variant>
VariantsOf(std::initializer_list<ts_proto> protos)
{
    return testing::ValuesIn(VariantList(protos));
}

namespace {

std::vector<Variant> Cross(std::initializer_list<Mode> modes,
                           std::initializer_list<ts_proto> protos)
{
    std::vector<Variant> v;

    for (Mode m : modes)
        for (ts_proto p : protos)
            v.push_back(Variant { m, p });
    return v;
}

} // namespace

std::vector<Variant> VariantList(std::initializer_list<ts_proto> protos)
{
    return Cross({ Mode::Dedicated, Mode::Pool1, Mode::Pool2, Mode::AppDriven },
                 protos);
}

std::vector<Variant> VariantList(std::initializer_list<Mode> modes)
{
    return Cross(modes, { TS_QUIC, TS_DTLS, TS_TLS });
}

testing::internal::ParamGenerator<Mode> EveryMode()
{
    return testing::Values(Mode::Dedicated, Mode::Pool1, Mode::Pool2,
                           Mode::AppDriven);
}

std::string ModeParamName(const testing::TestParamInfo<Mode> &info)
{
    return ModeName(info.param);
}

testing::internal::ParamGenerator<ts_proto> EveryProto()
{
    return testing::Values(TS_QUIC, TS_DTLS, TS_TLS);
}

bool ProtoAvailable(ts_proto p)
{
    return p != TS_QUIC || ts_have_quic();
}

std::vector<ts_proto> AvailableProtos()
{
    std::vector<ts_proto> v;

    for (ts_proto p : { TS_QUIC, TS_DTLS, TS_TLS })
        if (ProtoAvailable(p))
            v.push_back(p);
    return v;
}

std::string ProtoParamName(const testing::TestParamInfo<ts_proto> &info)
{
    return ProtoName(info.param);
}

/*
 * The process-wide pools of the pooled modes. Each is made on first use, under
 * g_pools_mu, and lives until the PoolEnvironment below tears it down after
 * the last test. The AppDriven pool has no thread of its own; an AppPoolLoop
 * plays the application's event loop for it, running the pool at least every
 * 100 ms.
 */
namespace {

struct ModePool {
    tickless_pool *pool = nullptr;
    std::unique_ptr<AppPoolLoop> loop; // AppDriven only
};

std::mutex g_pools_mu;
ModePool g_pools[4]; // indexed by Mode; guarded by g_pools_mu

class PoolEnvironment : public testing::Environment {
public:
    void TearDown() override
    {
        std::lock_guard<std::mutex> lock(g_pools_mu);

        for (int m = 0; m < 4; m++) {
            ModePool &mp = g_pools[m];

            if (mp.loop != nullptr) {
                mp.loop->Stop();
                EXPECT_EQ(mp.loop->errors(), 0)
                    << ModeName(static_cast<Mode>(m))
                    << ": the loop saw errors";
                mp.loop.reset();
            }
            if (mp.pool == nullptr)
                continue;
            int rc = tickless_pool_free(mp.pool);
            EXPECT_EQ(rc, 0) << ModeName(static_cast<Mode>(m))
                             << " pool: " << tickless_err_name(rc)
                             << " (a test left a connection open?)";
            if (rc == 0)
                mp.pool = nullptr;
        }
    }
};

// Registered before main() runs; gtest owns and deletes it.
testing::Environment *const g_pool_env =
    testing::AddGlobalTestEnvironment(new PoolEnvironment);

} // namespace

tickless_pool *PoolFor(Mode mode)
{
    unsigned threads;

    switch (mode) {
    case Mode::Dedicated:
        return nullptr;
    case Mode::Pool1:
        threads = 1;
        break;
    case Mode::Pool2:
        threads = 2;
        break;
    case Mode::AppDriven:
    default:
        threads = 0;
        break;
    }

    std::lock_guard<std::mutex> lock(g_pools_mu);
    ModePool &mp = g_pools[static_cast<int>(mode)];
    if (mp.pool != nullptr)
        return mp.pool;

    tickless_pool_options o;
    tickless_pool_options_defaults(&o);
    o.threads = threads;
    o.thread_name = ModeName(mode);
    int rc = tickless_pool_new(&o, &mp.pool);
    if (rc != 0) {
        ADD_FAILURE() << "tickless_pool_new(" << ModeName(mode)
                      << "): " << tickless_err_name(rc);
        mp.pool = nullptr;
        return nullptr;
    }
    if (threads == 0) {
        mp.loop.reset(new AppPoolLoop(100));
        if (!mp.loop->Start(mp.pool)) { // it has said why
            mp.loop.reset();
            tickless_pool_free(mp.pool);
            mp.pool = nullptr;
            return nullptr;
        }
    }
    return mp.pool;
}

tickless_conn *NewClient(Mode mode, ts_proto proto, uint16_t port,
                         const SslTweak &tweak)
{
    tickless_pool *pool = PoolFor(mode);

    if (mode != Mode::Dedicated && pool == nullptr)
        return nullptr; // PoolFor() has reported why
    return NewClientOn(pool, proto, port, tweak);
}

tickless_conn *NewClientOn(tickless_pool *pool, ts_proto proto, uint16_t port,
                           const SslTweak &tweak)
{
    SSL_CTX *ctx = ts_client_ctx(proto);
    SSL *ssl;
    tickless_conn *c = nullptr;
    int rc;

    if (ctx == nullptr) {
        ADD_FAILURE() << "ts_client_ctx failed";
        return nullptr;
    }
    ssl = ts_client_new(ctx, proto, port);
    SSL_CTX_free(ctx); /* the SSL keeps its own reference */
    if (ssl == nullptr) {
        ADD_FAILURE() << "ts_client_new failed";
        return nullptr;
    }
    if (tweak)
        tweak(ssl);
    rc = tickless_conn_new(ssl, pool, &c);
    if (rc != 0) {
        ADD_FAILURE() << "tickless_conn_new: " << tickless_err_name(rc);
        SSL_free(ssl);
        return nullptr;
    }
    return c;
}

void DtlsRetransmitEvery20Ms(SSL *ssl)
{
    DTLS_set_timer_cb(ssl, [](SSL *, unsigned int) -> unsigned int {
        return 20000;
    });
}

SilentUdpPeer::SilentUdpPeer()
{
    fd_ = ts_net_bind(SOCK_DGRAM, 0, 0, &port_); // port_ exists by now
}

SilentUdpPeer::~SilentUdpPeer()
{
    if (fd_ >= 0)
        close(fd_);
}

tickless_conn *SilentUdpPeer::NewDtlsClient(tickless_pool *pool,
                                            const SslTweak &tweak)
{
    if (fd_ < 0) {
        ADD_FAILURE() << "the silent peer could not bind its socket";
        return nullptr;
    }
    return NewClientOn(pool, TS_DTLS, port_, tweak);
}

ts_relay_options SeededRelay(uint64_t seed)
{
    ts_relay_options o = {};
    o.seed = seed;
    return o;
}

ts_server *StartServerWith(ts_server_options o)
{
    ts_server *s = nullptr;

    o.fast_dtls_timer = 1;
    if (ts_server_start(&o, &s) != 0) {
        ADD_FAILURE() << "ts_server_start(" << ProtoName(o.proto) << ", port "
                      << o.port << ", bind " << o.bind_to
                      << ") failed: " << strerror(errno);
        return nullptr;
    }
    return s;
}

ts_server *StartServer(ts_proto proto, bool sink, uint64_t idle_timeout_ms)
{
    ts_server_options o = {};

    o.proto = proto;
    o.sink = sink ? 1 : 0;
    o.idle_timeout_ms = idle_timeout_ms;
    return StartServerWith(o);
}

namespace {

// Whether |c| completes its handshake with the |proto| test server within
// 10 s; if not, a test failure says why.
bool Handshaken(tickless_conn *c, ts_proto proto)
{
    int rc = tickless_conn_handshake(c, 10000);
    if (rc == 0)
        return true;
    tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
    (void)tickless_conn_error(c, &info);
    ADD_FAILURE() << "handshake with the " << ProtoName(proto)
                  << " server: " << tickless_err_name(rc) << " ("
                  << info.message << ")";
    return false;
}

} // namespace

tickless_conn *StartServerAndConnect(Mode mode, ts_proto proto,
                                     ts_server **srv, const SslTweak &tweak)
{
    *srv = StartServer(proto);
    if (*srv == nullptr)
        return nullptr; // StartServer() has said why
    tickless_conn *c = NewClient(mode, proto, ts_server_port(*srv), tweak);
    if (c != nullptr) { // else NewClient() has said why
        if (Handshaken(c, proto))
            return c;
        tickless_conn_close(c);
    }
    ts_server_stop(*srv);
    *srv = nullptr;
    return nullptr;
}

void VariantTest::SetUp()
{
    SKIP_UNLESS_AVAILABLE(proto());
}

void VariantTest::TearDown()
{
    for (tickless_conn *c : clients_)
        tickless_conn_close(c);
    clients_.clear();
    if (srv_ != nullptr)
        ts_server_stop(srv_);
    srv_ = nullptr;
}

tickless_conn *VariantTest::Client(const SslTweak &tweak)
{
    if (srv_ == nullptr)
        srv_ = StartServer(proto());
    if (srv_ == nullptr)
        return nullptr; // StartServer() has said why
    tickless_conn *c = NewClient(mode(), proto(), ts_server_port(srv_), tweak);
    if (c != nullptr)
        clients_.push_back(c);
    return c;
}

tickless_conn *VariantTest::Connect(const SslTweak &tweak)
{
    tickless_conn *c = Client(tweak);
    return c != nullptr && Handshaken(c, proto()) ? c : nullptr;
}

std::vector<uint8_t> PatternBytes(size_t len, uint64_t offset)
{
    std::vector<uint8_t> buf(len);
    ts_fill_pattern(buf.data(), len, offset);
    return buf;
}

int WritePattern(tickless_conn *c, uint64_t offset, size_t len, int timeout_ms)
{
    std::vector<uint8_t> buf = PatternBytes(len, offset);
    size_t n = 0;
    int rc;

    rc = tickless_conn_write(c, buf.data(), len, &n, timeout_ms);
    if (rc == 0) {
        EXPECT_EQ(n, len);
    }
    return rc;
}

int ReadPattern(tickless_conn *c, uint64_t offset, size_t len, int timeout_ms)
{
    std::vector<uint8_t> buf(len);
    int rc = ReadExactly(c, buf.data(), len, timeout_ms);

    if (rc != 0)
        return rc;
    size_t bad = ts_check_pattern(buf.data(), len, offset);
    EXPECT_EQ(bad, len) << "content differs at stream offset " << offset + bad;
    return 0;
}

namespace {

// The loop of both ReadExactly()s: |read| is tickless_conn_read() or
// tickless_stream_read(), |h| what it reads from.
template <typename Handle>
int ReadExactlyVia(int (*read)(Handle *, void *, size_t, size_t *, int),
                   Handle *h, void *buf, size_t len, int timeout_ms,
                   size_t *got)
{
    uint8_t *p = static_cast<uint8_t *>(buf);
    size_t have = 0;
    int rc = 0;

    while (have < len) {
        size_t n = 0;
        rc = read(h, p + have, len - have, &n, timeout_ms);
        if (rc != 0)
            break;
        have += n;
    }
    if (got != nullptr)
        *got = have;
    return rc;
}

} // namespace

int ReadExactly(tickless_conn *c, void *buf, size_t len, int timeout_ms,
                size_t *got)
{
    return ReadExactlyVia(tickless_conn_read, c, buf, len, timeout_ms, got);
}

int ReadExactly(tickless_stream *s, void *buf, size_t len, int timeout_ms,
                size_t *got)
{
    return ReadExactlyVia(tickless_stream_read, s, buf, len, timeout_ms, got);
}

int StreamWritePattern(tickless_stream *s, uint64_t off, size_t len)
{
    std::vector<uint8_t> buf = PatternBytes(len, off);
    size_t n = 0;
    return tickless_stream_write(s, buf.data(), len, &n, 15000);
}

int StreamReadPattern(tickless_stream *s, uint64_t off, size_t len)
{
    std::vector<uint8_t> buf(len);
    int rc = ReadExactly(s, buf.data(), len, 15000);
    if (rc != 0)
        return rc;
    return ts_check_pattern(buf.data(), len, off) == len ? 0 : -100;
}

std::future<int> ReadInBackground(tickless_conn *c, int timeout_ms)
{
    return std::async(std::launch::async, [c, timeout_ms] {
        char buf[64];
        size_t n;
        return tickless_conn_read(c, buf, sizeof(buf), &n, timeout_ms);
    });
}

uint64_t WaitForWaiters(tickless_conn *c, uint64_t n, int timeout_ms)
{
    tickless_stats st = TICKLESS_STATS_INIT;
    uint64_t end = ts_now_ns() + (uint64_t)(timeout_ms * TimeScale()) * 1000000u;

    for (;;) {
        int rc = tickless_conn_stats(c, &st);
        if (rc != 0) {
            ADD_FAILURE() << "tickless_conn_stats: " << tickless_err_name(rc);
            return st.waiters;
        }
        if (st.waiters >= n || ts_now_ns() >= end)
            return st.waiters;
        ts_sleep_ms(5);
    }
}

int ForEachEntry(const char *dir,
                 const std::function<void(const char *name, int dir_fd)> &fn)
{
    DIR *d = opendir(dir);
    if (d == nullptr)
        return -1;
    int self = dirfd(d);
    while (struct dirent *e = readdir(d)) {
        if (std::strcmp(e->d_name, ".") == 0
            || std::strcmp(e->d_name, "..") == 0)
            continue;
        fn(e->d_name, self);
    }
    closedir(d);
    return 0;
}

namespace {

// The entries of |dir| (not "." and "..") that |keep|, given the entry's
// path, says yes to (all, if it is empty); -1 if |dir| cannot be read.
int CountEntries(const char *dir,
                 const std::function<bool(const std::string &)> &keep)
{
    int n = 0;
    if (ForEachEntry(dir, [&](const char *name, int) {
            if (!keep || keep(std::string(dir) + "/" + name))
                n++;
        }) != 0)
        return -1;
    return n;
}

bool IsSocket(const std::string &fd_path)
{
    char target[64];
    ssize_t len = readlink(fd_path.c_str(), target, sizeof(target) - 1);
    return len > 0 && std::strncmp(target, "socket:", 7) == 0;
}

} // namespace

int CountOpenFds()
{
    int n = CountEntries("/proc/self/fd", nullptr);
    return n < 0 ? n : n - 1; // the directory's own descriptor
}

int CountSockets()
{
    return CountEntries("/proc/self/fd", IsSocket);
}

int CountThreads()
{
    return CountEntries("/proc/self/task", nullptr);
}

int SocketsSettleAt(int before)
{
    return SettlesAt(before, CountSockets);
}

int BindUdp(int family, uint16_t *port)
{
    int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_storage ss = {};
    socklen_t len;
    if (family == AF_INET6) {
        int off = 0;
        auto *sin6 = reinterpret_cast<struct sockaddr_in6 *>(&ss);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_addr = in6addr_any;
        len = sizeof(*sin6);
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    } else {
        auto *sin = reinterpret_cast<struct sockaddr_in *>(&ss);
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*sin);
    }
    if (bind(fd, reinterpret_cast<struct sockaddr *>(&ss), len) != 0
        || getsockname(fd, reinterpret_cast<struct sockaddr *>(&ss), &len)
               != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(family == AF_INET6
                      ? reinterpret_cast<struct sockaddr_in6 *>(&ss)->sin6_port
                      : reinterpret_cast<struct sockaddr_in *>(&ss)->sin_port);
    return fd;
}

tickless_listener *NewDtlsListener(Mode mode, int family, uint16_t *port)
{
    int fd = BindUdp(family, port);
    if (fd < 0) {
        ADD_FAILURE() << "cannot bind a UDP socket: " << strerror(errno);
        return nullptr;
    }
    SSL_CTX *ctx = ts_server_ctx(TS_DTLS);
    tickless_listener *l = nullptr;
    int rc = ctx == nullptr ? TICKLESS_ERR_INVALID
                            : tickless_listener_new_dtls(ctx, fd,
                                                         PoolFor(mode), &l);
    SSL_CTX_free(ctx); // the listener keeps its own reference
    EXPECT_EQ(rc, 0) << tickless_err_name(rc);
    if (rc != 0)
        close(fd); // taken only on success
    return l;
}

namespace {

std::mutex g_refusals_mu;
std::vector<std::string> g_refusals; // guarded by g_refusals_mu

void CollectRefusal(int level, tickless_conn *c, const char *msg, void *)
{
    std::lock_guard<std::mutex> lock(g_refusals_mu);
    // A dead handle must never be passed back to the application.
    if (level == TICKLESS_LOG_ERROR && c == nullptr)
        g_refusals.push_back(msg);
}

} // namespace

RefusalLog::RefusalLog()
{
    {
        std::lock_guard<std::mutex> lock(g_refusals_mu);
        g_refusals.clear();
    }
    EXPECT_EQ(tickless_set_log(CollectRefusal, nullptr, TICKLESS_LOG_ERROR, 0),
              0);
}

RefusalLog::~RefusalLog()
{
    tickless_set_log(nullptr, nullptr, 0, 0);
}

bool RefusalLog::Has(const std::string &call, const std::string &what) const
{
    std::lock_guard<std::mutex> lock(g_refusals_mu);
    for (const std::string &e : g_refusals)
        if (e.find(call) != std::string::npos
            && e.find(what) != std::string::npos)
            return true;
    return false;
}

namespace {
std::mutex g_log_mu;
std::vector<LogEvent> g_log; // guarded by g_log_mu
} // namespace

void CollectLogEvent(int level, tickless_conn *conn, const char *message,
                     void *)
{
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log.push_back(LogEvent { level, conn, message });
}

std::vector<LogEvent> LoggedEvents()
{
    std::lock_guard<std::mutex> lock(g_log_mu);
    return g_log;
}

void ClearLoggedEvents()
{
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log.clear();
}

double MsSince(uint64_t t0_ns)
{
    return (double)(ts_now_ns() - t0_ns) / 1e6;
}

std::string EchoResult::Describe() const
{
    std::ostringstream os;
    if (rc != 0)
        os << tickless_err_name(rc);
    else if (!intact)
        os << "echo came back corrupted";
    else
        os << "stalled";
    os << " after " << ms << " ms";
    return os.str();
}

EchoResult EchoChecked(tickless_conn *c, uint64_t off, size_t len,
                       int timeout_ms)
{
    std::vector<uint8_t> out(len), in(len);
    EchoResult r;
    size_t n = 0;
    uint64_t t0 = ts_now_ns();

    ts_fill_pattern(out.data(), len, off);
    r.rc = tickless_conn_write(c, out.data(), len, &n, timeout_ms);
    if (r.rc == 0)
        r.rc = ReadExactly(c, in.data(), len, timeout_ms);
    r.ms = MsSince(t0);
    r.intact = r.rc == 0 && ts_check_pattern(in.data(), len, off) == len;
    return r;
}

testing::AssertionResult EchoIntact(tickless_conn *c, uint64_t off, size_t len)
{
    EchoResult r = EchoChecked(c, off, len);

    if (!r.ok())
        return testing::AssertionFailure()
               << "echo of " << len << " bytes at " << off << ": "
               << r.Describe();
    return testing::AssertionSuccess();
}

tickless_pool *NewPool(unsigned threads)
{
    tickless_pool_options o;
    tickless_pool *p = nullptr;

    tickless_pool_options_defaults(&o);
    o.threads = threads;
    int rc = tickless_pool_new(&o, &p);
    EXPECT_EQ(rc, 0) << "tickless_pool_new(threads=" << threads
                     << "): " << tickless_err_name(rc);
    return rc == 0 ? p : nullptr;
}

struct tickless_pool_stats PoolStats(tickless_pool *p)
{
    struct tickless_pool_stats st = TICKLESS_POOL_STATS_INIT;
    int rc = tickless_pool_stats(p, &st);

    EXPECT_EQ(rc, 0) << tickless_err_name(rc);
    return st;
}

rlim_t RaiseFdLimit()
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur;
}

// Markers in the epoll set of an AppPoolLoop.
static const uint32_t kLoopPool = 1, kLoopStop = 2;

bool AppPoolLoop::Start(tickless_pool *pool)
{
    pool_ = pool;
    int fd = tickless_pool_fd(pool);
    if (fd < 0) {
        ADD_FAILURE() << "tickless_pool_fd: " << tickless_err_name(fd);
        return false;
    }
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    stop_fd_ = eventfd(0, EFD_CLOEXEC);
    if (ep_ < 0 || stop_fd_ < 0) {
        ADD_FAILURE() << "epoll_create1/eventfd: " << std::strerror(errno);
        return false;
    }
    struct epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.u32 = kLoopPool;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        ADD_FAILURE() << "epoll_ctl(pool fd): " << std::strerror(errno);
        return false;
    }
    ev.data.u32 = kLoopStop;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, stop_fd_, &ev) != 0) {
        ADD_FAILURE() << "epoll_ctl(stop fd): " << std::strerror(errno);
        return false;
    }
    thread_ = std::thread([this] { Loop(); });
    return true;
}

void AppPoolLoop::Stop()
{
    if (thread_.joinable()) {
        uint64_t one = 1;
        EXPECT_EQ(write(stop_fd_, &one, sizeof(one)), (ssize_t)sizeof(one));
        thread_.join();
    }
    if (ep_ >= 0)
        close(ep_);
    if (stop_fd_ >= 0)
        close(stop_fd_);
    ep_ = stop_fd_ = -1;
}

void AppPoolLoop::Pause()
{
    paused_ = true;
    // A turn that began after this found it paused: any run before it
    // has returned.
    uint64_t before = parks_.load();
    while (parks_.load() <= before)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void AppPoolLoop::Loop()
{
    const int wait_ms = run_every_ms_ > 0 ? run_every_ms_ : 1000;

    for (;;) {
        struct epoll_event evs[4];
        bool pool_ready = false;

        if (paused_) {
            // Only the stop descriptor: the pool's would stay readable.
            struct pollfd stop = { stop_fd_, POLLIN, 0 };
            parks_.fetch_add(1);
            if (poll(&stop, 1, 1) > 0)
                return;
            continue;
        }
        int n = epoll_wait(ep_, evs, 4, wait_ms);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            std::perror("AppPoolLoop: epoll_wait");
            errors_.fetch_add(1);
            return;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u32 == kLoopStop)
                return;
            pool_ready = true;
        }
        if ((!pool_ready && run_every_ms_ == 0) || paused_)
            continue;
        runs_.fetch_add(1);
        int rc = tickless_pool_run(pool_, 0);
        if (rc < 0) {
            std::cerr << "AppPoolLoop: tickless_pool_run: "
                      << tickless_err_name(rc) << "\n";
            errors_.fetch_add(1);
        } else {
            ticked_.fetch_add((uint64_t)rc);
        }
    }
}

double TimeScale()
{
    static const double scale = [] {
        const char *v = std::getenv("TICKLESS_TEST_TIME_SCALE");
        double f = v != nullptr ? std::strtod(v, nullptr) : 1.0;
        return f >= 1.0 ? f : 1.0;
    }();
    return scale;
}

#if TS_HAVE_QUIC
SSL *NewQuicListenerSsl(uint16_t *port)
{
    SSL_CTX *ctx = ts_server_ctx(TS_QUIC);
    if (ctx == nullptr)
        return nullptr;
    SSL *lst = SSL_new_listener(ctx, SSL_LISTENER_FLAG_NO_VALIDATE);
    SSL_CTX_free(ctx);
    int fd = ts_net_bind(SOCK_DGRAM, 0, 0, port);
    if (lst == nullptr || fd < 0 || ts_net_set_nonblock(fd, 1) != 0) {
        if (fd >= 0)
            close(fd);
        SSL_free(lst);
        return nullptr;
    }
    BIO *bio = BIO_new_dgram(fd, BIO_CLOSE);
    SSL_set_bio(lst, bio, bio);
    return lst;
}

tickless_listener *NewQuicListener(tickless_pool *pool, uint16_t *port)
{
    SSL *lst = NewQuicListenerSsl(port);
    if (lst == nullptr) {
        ADD_FAILURE() << "cannot make a QUIC listener";
        return nullptr;
    }
    tickless_listener *l = nullptr;
    int rc = tickless_listener_new(lst, pool, &l);
    if (rc != 0) {
        ADD_FAILURE() << "tickless_listener_new: " << tickless_err_name(rc);
        SSL_free(lst);
        return nullptr;
    }
    return l;
}
#endif

#if TS_HAVE_ECHO_SERVICE
echo_service *StartEchoService(Mode mode, int workers, uint16_t *port,
                               int stall_ms)
{
    SSL *lst = NewQuicListenerSsl(port);
    if (lst == nullptr)
        return nullptr;
    echo_service *svc = nullptr;
    if (echo_service_start(lst, PoolFor(mode), workers, stall_ms, &svc) != 0)
        return nullptr; /* the service took the listener */
    return svc;
}
#endif

void PoolThreadsTest::SetUp()
{
    if (GetParam() > 0) {
        tickless_pool_options o;
        tickless_pool_options_defaults(&o);
        o.threads = (unsigned)GetParam();
        ASSERT_EQ(tickless_pool_new(&o, &pool_), 0);
    }
}

void PoolThreadsTest::TearDown()
{
    if (pool_ != nullptr) {
        EXPECT_EQ(tickless_pool_free(pool_), 0);
    }
}

std::string PoolThreadsName(const testing::TestParamInfo<int> &info)
{
    return info.param == 0 ? "Dedicated" : "Pool" + std::to_string(info.param);
}

void EchoUntilEof(tickless_conn *c)
{
    std::vector<uint8_t> buf(16384);

    if (tickless_conn_handshake(c, 10000) != 0)
        return;
    for (;;) {
        size_t n = 0, w = 0;
        int rc = tickless_conn_read(c, buf.data(), buf.size(), &n, 60000);
        if (rc != 0)
            break;
        if (tickless_conn_write(c, buf.data(), n, &w, 60000) != 0)
            break;
    }
    (void)tickless_conn_shutdown(c, 2000);
}

void StopServing(tickless_listener *l, std::vector<std::thread> *workers)
{
    tickless_listener_close(l);
    for (auto &t : *workers)
        t.join();
    workers->clear();
    tickless_listener_free(l);
}

int RunQuicClients(uint16_t port, int n,
                   const std::function<bool(tickless_conn *, int)> &exchange)
{
    std::atomic<int> ok{0};
    std::vector<std::thread> clients;
    for (int i = 0; i < n; i++)
        clients.emplace_back([&, i] {
            tickless_conn *c = NewClient(Mode::Dedicated, TS_QUIC, port);
            if (c == nullptr)
                return;
            if (exchange(c, i))
                ok++;
            tickless_conn_close(c);
        });
    for (auto &t : clients)
        t.join();
    return ok.load();
}

bool EchoPattern(tickless_conn *c, int i, size_t len)
{
    const uint64_t off = 1000000000ull * (uint64_t)i;
    bool ok = tickless_conn_handshake(c, 10000) == 0
              && WritePattern(c, off, len) == 0
              && ReadPattern(c, off, len) == 0;
    (void)tickless_conn_shutdown(c, 2000);
    return ok;
}

void AcceptUntilClosed(tickless_listener *l,
                       const std::function<void(tickless_conn *)> &serve)
{
    for (;;) {
        tickless_conn *c = nullptr;
        int rc = tickless_listener_accept(l, &c, TICKLESS_FOREVER);
        if (rc != 0) {
            // The close, whether this worker was blocked in accept or
            // still finishing a client when it came.
            EXPECT_EQ(rc, TICKLESS_ERR_CLOSED);
            return;
        }
        serve(c);
        tickless_conn_close(c);
    }
}
