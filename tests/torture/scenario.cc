/* scenario: see scenario.h. */
#include "scenario.h"

#include <dirent.h>
#include <poll.h>

#include <atomic>
#include <csignal>
#include <memory>
#include <thread>

#include "call.h"
#include "conn.h"
#include "ops.h"
#include "report.h"
#include "srv.h"

extern "C" {
#include "ts_certs.h"
}

namespace torture {

namespace {

/* TLS runs: slots beyond --conns whose connections are all duplex. A
 * duplex connection stalls (on code that forgets a writer behind a
 * polling reader) in about one run in three: two give every run a fair
 * chance. */
constexpr int kDuplexSlots = 2;

int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (d == nullptr)
        return -1;
    while (struct dirent *e = readdir(d))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

struct Run {
    Config cfg;
    SSL_CTX *sctx = nullptr, *cctx = nullptr;
    tickless_pool *pool = nullptr;
    uint64_t deadline_ns = 0;
    std::atomic<bool> over{false};
    std::atomic<bool> driver_stop{false};
};

/* The application's own loop for a threads = 0 pool: poll its descriptor,
 * run it. Keeps the default signal mask, as an application thread would:
 * whatever the pool does on this thread, it does in the application. */
void app_driver(Run *run)
{
    int fd = tickless_pool_fd(run->pool);
    if (!documented(Fn::POOL_FD, fd) || fd < 0) {
        fail("tickless_pool_fd = %d", fd);
        return;
    }
    while (!run->driver_stop) {
        struct pollfd p = {fd, POLLIN, 0};
        (void)poll(&p, 1, 50);
        int rc = tickless_pool_run(run->pool, 0);
        if (!documented(Fn::POOL_RUN, rc) || rc < 0)
            fail("tickless_pool_run = %s (one runner, valid pool)", rc_name(rc));
    }
}

ts_proto ts_of(Proto p);

/* One incarnation of slot |slot|: made, tortured, ended, verified. */
void incarnation(Run *run, int slot, int idx, Rng &rng)
{
    const Config &cfg = run->cfg;
    auto inc = std::make_unique<Incarnation>();
    inc->cfg = cfg;
    inc->slot = slot;
    inc->index = idx;
    bool stream = cfg.proto == Proto::TLS || cfg.proto == Proto::DTLS;
    inc->server_role = stream && rng.chance(35);
    inc->misbehave = inc->server_role && rng.chance(40);
    static const unsigned kCloseWeights[] = {0, 0, 1, 3, 20};
    static const unsigned kLockWeights[] = {0, 80, 80, 400};
    static const unsigned kIoWeights[] = {20, 240, 240, 600};
    inc->close_weight = kCloseWeights[rng.below(5)];
    inc->lock_weight = kLockWeights[rng.below(4)];
    inc->io_weight = kIoWeights[rng.below(4)];
    inc->idle_weight = rng.chance(25) ? 3000 : 50;
    inc->active = rng.chance(30) ? 2 : cfg.threads;
    static const int kWriters[] = {0, 1, 1, 2, 64};
    inc->writers = kWriters[rng.below(5)];
    if (cfg.proto == Proto::STREAM && inc->writers < 2)
        inc->writers = rng.chance(50) ? 2 : 64; /* streams need writers */
    inc->peer.tx_mode = (int)rng.below(3);
    /* The TLS duplex slots, two more than --conns (run_scenario()): one
     * writer, one reader, nobody else to wake them, a peer that seldom
     * talks and reads in long spells (conn.h). Slots of their own, so that
     * the others keep their personalities and the seeds their choices. */
    if (slot >= cfg.conns) {
        inc->server_role = rng.chance(35);
        inc->misbehave = false;
        inc->duplex = true;
        inc->active = 2;
        inc->writers = 1;
        inc->close_weight = 0;
        inc->lock_weight = 0;
        inc->idle_weight = 300;
        inc->io_weight = 600;
        inc->peer.tx_mode = rng.chance(85) ? 2 : 1;
        inc->peer.rx_mode = 1;
        count(C_DUPLEX);
    }
    inc->key_w = derive_seed(cfg.seed, 2, (uint64_t)slot, (uint64_t)idx);
    inc->peer.key_tx = derive_seed(cfg.seed, 3, (uint64_t)slot, (uint64_t)idx);
    inc->peer.seed = derive_seed(cfg.seed, 4, (uint64_t)slot, (uint64_t)idx);
    /* TORTURE_OWN_CTX (non-empty): a client SSL_CTX per connection.
     * scripts/torture sets it under TSan, which reports a race inside
     * libcrypto between two QUIC clients sharing one context. */
    static const char *own_env = getenv("TORTURE_OWN_CTX");
    static const bool own_ctx = own_env != nullptr && *own_env != '\0';
    SSL_CTX *cctx = own_ctx ? ts_client_ctx(ts_of(cfg.proto)) : run->cctx;
    struct CtxFree {
        SSL_CTX *c;
        bool own;
        ~CtxFree() { if (own) SSL_CTX_free(c); }
    } cctx_free{cctx, own_ctx};
    if (conn_setup(inc.get(), run->pool, run->sctx, cctx) != 0) {
        sleep_ms(100);
        return;
    }
    count(C_CONNS);
    std::vector<std::unique_ptr<WorkerState>> ws;
    std::vector<std::thread> th;
    for (int w = 0; w < cfg.threads; w++) {
        ws.emplace_back(new WorkerState);
        ws.back()->id = w;
        ws.back()->rng = Rng(derive_seed(cfg.seed, 5, (uint64_t)slot * 100000 + (uint64_t)idx, (uint64_t)w));
        inc->workers.push_back(ws.back().get());
    }
    for (auto &w : ws)
        th.emplace_back(worker_main, inc.get(), w.get());

    Incarnation *ip = inc.get();
    auto all_done = [&] {
        for (auto &w : ws)
            if (!w->done)
                return false;
        return true;
    };
    while (!inc->closing && now_ns() < run->deadline_ns)
        sleep_ms(5);
    if (!inc->closing) {
        /* The run is over: no new calls; a graceful end when the workers
         * come back in time, else an abrupt one under their blocked calls. */
        inc->quiesce = true;
        if (wait_until(slack_ns(cfg, 4000), all_done) && rng.chance(50)) {
            WorkerState mgr;
            mgr.id = -1;
            if (gate_enter(ip, &mgr)) {
                ip->shutdown_ns = now_ns();
                Call call(ip, &mgr, Fn::SHUTDOWN, 3000, 4096);
                int rc = call.end(tickless_conn_shutdown(ip->c, 3000));
                gate_exit(&mgr);
                if (rc == 0)
                    wait_until(slack_ns(cfg, 3000), [&] {
                        return ip->peer.got_eof || ip->peer.rx_done;
                    });
            }
        }
        close_conn(ip, nullptr);
    }
    if (!wait_until(slack_ns(cfg, 10000), all_done))
        hang(("workers still inside calls 10 s after their connection was "
              "closed:\n" + registry_dump()).c_str());
    for (auto &t : th)
        t.join();
    /* "Every stream must be closed, before or after its connection." */
    close_all_streams(ip);
    /* The peer ends on close_notify, FIN or an error; DTLS may never know. */
    wait_until(slack_ns(cfg, cfg.proto == Proto::TLS ? 2000 : 500),
               [&] { return ip->peer.finished.load(); });
    inc->peer.stop();
    inc->peer.join();
    if (inc->peer.got_eof)
        count(C_GRACEFUL);
    count(C_PEER_RX, inc->peer.rx_bytes);
    count(C_PEER_TX, inc->peer.tx_bytes);
    verify_incarnation(ip);
}

void slot_manager(Run *run, int slot)
{
    Rng rng(derive_seed(run->cfg.seed, 1, (uint64_t)slot));
    for (int idx = 0; now_ns() < run->deadline_ns; idx++)
        incarnation(run, slot, idx, rng);
}

void watchdog(Run *run)
{
    const Config &c = run->cfg;
    uint64_t forever = slack_ns(c, c.seconds * 1000 + 30000);
    while (!run->over) {
        std::string o = registry_overdue(slack_ns(c, 10000), forever);
        if (!o.empty())
            hang((o + "\n" + registry_dump()).c_str());
        if (now_ns() > run->deadline_ns + slack_ns(c, 60000))
            hang(("the run did not end 60 s after its time:\n" + registry_dump()).c_str());
        sleep_ms(100);
    }
}

ts_proto ts_of(Proto p)
{
    /* (declared above, for incarnation()) */
    return p == Proto::DTLS || p == Proto::DSERVER ? TS_DTLS
           : p == Proto::TLS                       ? TS_TLS
                                                   : TS_QUIC;
}

} // namespace

int run_scenario(const Config &cfg)
{
    report_init(cfg);
    /* SIGPIPE stays at its default: a library write that raises it must
     * kill us (the runner reports the signal with the seed). */
    signal(SIGPIPE, SIG_DFL);

    Run run;
    run.cfg = cfg;
    run.sctx = ts_server_ctx(ts_of(cfg.proto));
    run.cctx = ts_client_ctx(ts_of(cfg.proto));
    if (run.sctx == nullptr || run.cctx == nullptr) {
        fail("no SSL_CTX for %s (harness)", proto_name(cfg.proto));
        return failures();
    }
    /* A sanitizer may start a helper thread of its own with the first
     * thread the program makes (TSan does): make one before counting. */
    std::thread([] {}).join();
    int fds0 = count_entries("/proc/self/fd");
    int tasks0 = count_entries("/proc/self/task");

    std::thread driver;
    if (cfg.mode != Mode::DEDICATED) {
        tickless_pool_options o;
        tickless_pool_options_defaults(&o);
        o.threads = cfg.mode == Mode::POOL1 ? 1 : cfg.mode == Mode::POOL2 ? 2 : 0;
        int rc = tickless_pool_new(&o, &run.pool);
        if (rc != 0) {
            fail("tickless_pool_new = %s", rc_name(rc));
            return failures();
        }
    }
    run.deadline_ns = now_ns() + (uint64_t)(cfg.seconds * 1e9);
    if (cfg.mode == Mode::APP)
        driver = std::thread(app_driver, &run);
    std::thread dog(watchdog, &run);
    if (cfg.proto == Proto::QSERVER || cfg.proto == Proto::DSERVER) {
        /* tickless is the server: a listener's generations (srv.h). */
        SrvRun sr;
        sr.cfg = cfg;
        sr.pool = run.pool;
        sr.sctx = run.sctx;
        sr.cctx = run.cctx;
        sr.deadline_ns = run.deadline_ns;
        srv_run(sr);
    } else {
        std::vector<std::thread> slots;
        for (int s = 0; s < cfg.conns; s++)
            slots.emplace_back(slot_manager, &run, s);
        for (int s = 0; cfg.proto == Proto::TLS && s < kDuplexSlots; s++)
            slots.emplace_back(slot_manager, &run, cfg.conns + s); /* duplex */
        for (auto &t : slots)
            t.join();
    }
    /* The application's loop stops first: a pool must not be run after
     * tickless_pool_free() has begun. */
    run.driver_stop = true;
    if (driver.joinable())
        driver.join();
    if (run.pool != nullptr) {
        int rc = tickless_pool_free(run.pool);
        if (!documented(Fn::POOL_FREE, rc) || rc != 0)
            fail("tickless_pool_free = %s after every connection was closed",
                 rc_name(rc));
    }
    run.over = true;
    dog.join();
    SSL_CTX_free(run.sctx);
    SSL_CTX_free(run.cctx);

    /* Everything given back: the threads and descriptors of the pool, the
     * assists and the sockets are gone (a joined thread may linger in
     * /proc for a moment). */
    int fds = -1, tasks = -1;
    wait_until(slack_ns(cfg, 2000), [&] {
        fds = count_entries("/proc/self/fd");
        tasks = count_entries("/proc/self/task");
        return fds <= fds0 && tasks <= tasks0;
    });
    if (fds > fds0)
        fail("%d descriptors left open after the run (%d before)", fds, fds0);
    if (tasks > tasks0)
        fail("%d threads left after the run (%d before)", tasks, tasks0);
    print_counts();
    return failures();
}

} // namespace torture
