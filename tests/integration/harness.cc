#include "harness.h"

#include <sys/socket.h>

extern "C" {
#include "ts_net.h"
}

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

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
    return std::string(ModeName(info.param.mode)) + "_"
           + ProtoName(info.param.proto);
}

testing::internal::ParamGenerator<Variant> AllVariants()
{
    std::vector<Variant> v;

    for (Mode m : { Mode::Dedicated, Mode::Pool1, Mode::Pool2, Mode::AppDriven })
        for (ts_proto p : { TS_QUIC, TS_DTLS, TS_TLS })
            v.push_back(Variant { m, p });
    return testing::ValuesIn(v);
}

bool ProtoAvailable(ts_proto p)
{
    return p != TS_QUIC || ts_have_quic();
}

/*
 * The process-wide pools of the pooled modes. Each is made on first use, under
 * g_pools_mu, and lives until the PoolEnvironment below tears it down after
 * the last test. The AppDriven pool has no thread of its own; a driver
 * thread plays the application's event loop for it.
 */
namespace {

struct ModePool {
    tickless_pool *pool = nullptr;
    std::thread driver;             // AppDriven only
    int stop_fd = -1;               // eventfd: readable = driver, stop
    std::atomic<int> run_errors{0}; // failed tickless_pool_run() calls
};

std::mutex g_pools_mu;
ModePool g_pools[4]; // indexed by Mode; guarded by g_pools_mu

// The application's own loop: sleep in poll() on the pool's descriptor (and
// our stop descriptor) for at most 100 ms, then run whatever is due.
void DriveAppPool(tickless_pool *pool, int stop_fd, std::atomic<int> *errors)
{
    int fd = tickless_pool_fd(pool);

    if (fd < 0) {
        std::fprintf(stderr, "harness: tickless_pool_fd: %s\n",
                     tickless_err_name(fd));
        errors->fetch_add(1);
        // Go on: poll() ignores a negative fd, so this still runs the pool
        // every 100 ms and the tests show what breaks.
    }
    for (;;) {
        struct pollfd p[2] = { { fd, POLLIN, 0 }, { stop_fd, POLLIN, 0 } };

        if (poll(p, 2, 100) < 0 && errno != EINTR) {
            std::perror("harness: poll");
            errors->fetch_add(1);
            return;
        }
        if (p[1].revents != 0)
            return;
        int rc = tickless_pool_run(pool, 0);
        if (rc < 0) {
            std::fprintf(stderr, "harness: tickless_pool_run: %s\n",
                         tickless_err_name(rc));
            errors->fetch_add(1);
        }
    }
}

class PoolEnvironment : public testing::Environment {
public:
    void TearDown() override
    {
        std::lock_guard<std::mutex> lock(g_pools_mu);

        for (int m = 0; m < 4; m++) {
            ModePool &mp = g_pools[m];

            if (mp.driver.joinable()) {
                uint64_t one = 1;
                ssize_t w = write(mp.stop_fd, &one, sizeof(one));
                EXPECT_EQ(w, (ssize_t)sizeof(one));
                mp.driver.join();
            }
            if (mp.stop_fd >= 0) {
                close(mp.stop_fd);
                mp.stop_fd = -1;
            }
            EXPECT_EQ(mp.run_errors.load(), 0)
                << ModeName(static_cast<Mode>(m)) << ": the driver saw errors";
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
        mp.stop_fd = eventfd(0, EFD_CLOEXEC);
        if (mp.stop_fd < 0) {
            ADD_FAILURE() << "eventfd failed";
            tickless_pool_free(mp.pool);
            mp.pool = nullptr;
            return nullptr;
        }
        mp.driver = std::thread(DriveAppPool, mp.pool, mp.stop_fd,
                                &mp.run_errors);
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

ts_server *StartServer(ts_proto proto, bool sink, uint64_t idle_timeout_ms)
{
    ts_server_options o = {};
    ts_server *s = nullptr;

    o.proto = proto;
    o.sink = sink ? 1 : 0;
    o.idle_timeout_ms = idle_timeout_ms;
    o.fast_dtls_timer = 1;
    if (ts_server_start(&o, &s) != 0) {
        ADD_FAILURE() << "ts_server_start(" << ProtoName(proto) << ") failed";
        return nullptr;
    }
    return s;
}

tickless_conn *StartServerAndConnect(Mode mode, ts_proto proto,
                                     ts_server **srv, const SslTweak &tweak)
{
    *srv = StartServer(proto);
    if (*srv == nullptr)
        return nullptr; // StartServer() has said why
    tickless_conn *c = NewClient(mode, proto, ts_server_port(*srv), tweak);
    if (c != nullptr) { // else NewClient() has said why
        int rc = tickless_conn_handshake(c, 10000);
        if (rc == 0)
            return c;
        tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
        (void)tickless_conn_error(c, &info);
        ADD_FAILURE() << "handshake with the " << ProtoName(proto)
                      << " server: " << tickless_err_name(rc) << " ("
                      << info.message << ")";
        tickless_conn_close(c);
    }
    ts_server_stop(*srv);
    *srv = nullptr;
    return nullptr;
}

int WritePattern(tickless_conn *c, uint64_t offset, size_t len, int timeout_ms)
{
    std::vector<uint8_t> buf(len);
    size_t n = 0;
    int rc;

    ts_fill_pattern(buf.data(), len, offset);
    rc = tickless_conn_write(c, buf.data(), len, &n, timeout_ms);
    if (rc == 0) {
        EXPECT_EQ(n, len);
    }
    return rc;
}

int ReadPattern(tickless_conn *c, uint64_t offset, size_t len, int timeout_ms)
{
    std::vector<uint8_t> buf(len);
    size_t got = 0;

    while (got < len) {
        size_t n = 0;
        int rc = tickless_conn_read(c, buf.data() + got, len - got, &n,
                                    timeout_ms);
        if (rc != 0)
            return rc;
        got += n;
    }
    size_t bad = ts_check_pattern(buf.data(), len, offset);
    EXPECT_EQ(bad, len) << "content differs at stream offset " << offset + bad;
    return 0;
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
#endif
