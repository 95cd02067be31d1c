/* call: see call.h; also the close procedure and the worker registry. */
#include "call.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "report.h"

namespace torture {

uint64_t slack_ns(const Config &c, double ms)
{
    return (uint64_t)(ms * c.time_scale * 1e6);
}

bool gate_enter(Incarnation *inc, WorkerState *ws)
{
    /* Dekker-style with close_conn(): we publish in_gate, then look at
     * closing; the closer publishes closing, then looks at in_gate. One of
     * the two sees the other (sequentially consistent atomics). */
    ws->gate_ns = now_ns();
    ws->in_gate.store(true);
    if (inc->closing.load()) {
        ws->in_gate.store(false);
        return false;
    }
    return true;
}

void gate_exit(WorkerState *ws) { ws->in_gate.store(false); }

Call::Call(Incarnation *i, WorkerState *w, Fn f, int timeout_ms, size_t bytes)
    : inc(i), ws(w), fn(f), timeout(timeout_ms), work_bytes(bytes)
{
    ws->call_timeout = timeout;
    ws->call_start_ns = now_ns();
    ws->call = fn_name(fn);
    rq0 = thread_runq_ns();
    cpu0 = thread_cpu_ns();
    t0 = now_ns();
}

int Call::end(int rc, const char *detail)
{
    t1 = now_ns();
    cpu1 = thread_cpu_ns();
    rq1 = thread_runq_ns();
    ws->call = nullptr;
    const Config &cfg = inc->cfg;
    double wall_ms = (double)(t1 - t0) / 1e6, cpu_ms = (double)(cpu1 - cpu0) / 1e6;
    char what[256];
    snprintf(what, sizeof(what),
             "%s(conn %d.%d, timeout %d) = %s after %.1f ms (%.1f ms CPU)%s%s",
             fn_name(fn), inc->slot, inc->index, timeout, rc_name(rc), wall_ms,
             cpu_ms, *detail ? " " : "", detail);
    {
        std::lock_guard<std::mutex> g(ws->last_mu);
        ws->last = what;
    }

    if (cfg.proto == Proto::TLS) {
        std::lock_guard<std::mutex> g(inc->mu);
        inc->calls.push_back(CallRec{ws->id, fn_name(fn), timeout, t0, t1, rc});
    }
    count(C_CALLS);
    count_code(rc);
    if (rc == TICKLESS_ERR_TIMEOUT)
        count(C_TIMEOUTS);
    else if (rc < 0)
        count(C_ERRORS);
    if (!documented(fn, rc))
        fail("undocumented return code %d: %s", rc, what);
    /* Valid arguments, outside any lock section: INVALID only for a handle
     * a close has already given back. */
    if (rc == TICKLESS_ERR_INVALID && !inc->closing)
        fail("INVALID for a valid call on a live connection: %s", what);
    if (rc == TICKLESS_ERR_PEER || rc == TICKLESS_ERR_SSL
        || rc == TICKLESS_ERR_SYS) {
        /* QUIC: the peer never ends the connection, nor loses packets on
         * loopback; what a stream's conclude or reset does must stay on
         * that stream. So before the end (a close, the run's shutdown, a
         * worker's shutdown) no call may find the connection failed. */
        bool quic = cfg.proto == Proto::QUIC || cfg.proto == Proto::STREAM;
        if (quic && !inc->fatal && !inc->closing && !inc->quiesce
            && !inc->shutdown_begun) {
            /* Still inside the gate: the handle is alive. */
            tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
            (void)tickless_conn_error(inc->c, &info);
            fail("the QUIC connection failed though nobody ended it: %s "
                 "[tickless_conn_error: %s, ssl_error %d, quic code %llu: %s]",
                 what, tickless_err_name(info.code), info.ssl_error,
                 (unsigned long long)info.quic_error_code, info.message);
        }
        inc->fatal = true;
        uint64_t f = inc->first_fatal_ns.load();
        while (t1 < f && !inc->first_fatal_ns.compare_exchange_weak(f, t1)) {
        }
    }
    if (timeout >= 0 && t1 - t0 > (uint64_t)timeout * 1000000ull + slack_ns(cfg, 2000))
        fail("call outlived its timeout by more than 2 s: %s", what);
    /* Blocked calls sleep. The allowance covers the work the call had to
     * do: encrypting what it wrote, a handshake's public-key operations. */
    double allowance_ms = 30.0 * cfg.time_scale + (double)work_bytes * 2e-4;
    /* On a busy machine a spinning thread gets only its share of a CPU and
     * waits for the rest of it in the run queue: a call that sleeps is
     * neither on a CPU nor waiting for one, so both count. But a spinner
     * still gets *some* share (5 % even at a load of 40 on two cores),
     * whereas a call woken once on an overloaded machine may wait for a
     * CPU a long time having used almost none (seen: 0.1 ms of CPU, 271
     * ms in the run queue, load 9, under TSan). */
    double rq_ms = rq1 >= rq0 ? (double)(rq1 - rq0) / 1e6 : 0;
    if (wall_ms >= 100.0 && cpu_ms > wall_ms / 2 + allowance_ms)
        fail("call burned CPU while blocked (%.0f%% of its time): %s",
             100.0 * cpu_ms / wall_ms, what);
    else if (wall_ms >= 100.0 && cpu_ms >= wall_ms * 0.05
             && cpu_ms + rq_ms > wall_ms / 2 + allowance_ms)
        fail("call did not sleep while blocked: on a CPU or runnable waiting "
             "for one %.0f%% of its time (%.1f ms CPU, %.1f ms in the run "
             "queue): %s", 100.0 * (cpu_ms + rq_ms) / wall_ms, cpu_ms, rq_ms,
             what);
    return rc;
}

/* 1 if the thread is asleep in the kernel (state S or D): a worker that
 * passed the gate and sleeps is inside the library (the harness does not
 * sleep between the gate and the call). */
bool thread_sleeping(long tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/self/task/%ld/stat", tid);
    FILE *f = fopen(path, "r");
    if (f == nullptr)
        return true; /* gone */
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    return p != nullptr && p[1] == ' ' && (p[2] == 'S' || p[2] == 'D');
}

bool close_conn(Incarnation *inc, WorkerState *self)
{
    if (inc->closing.exchange(true))
        return false; /* someone else closes it */
    inc->close_begin_ns = now_ns();
    /* A call that passed the gate must be inside the library before the
     * close begins: the header allows calls blocked on the connection,
     * not calls that start during the close. A worker that passed it is
     * inside once it sleeps, or at the latest 100 ms later. */
    for (WorkerState *ws : inc->workers) {
        if (ws == self)
            continue;
        while (ws->in_gate && !thread_sleeping(ws->tid)
               && now_ns() - ws->gate_ns < 100000000ull)
            sleep_ms(1);
    }
    WorkerState *who = self;
    WorkerState dummy;
    if (who == nullptr) {
        dummy.id = -1;
        who = &dummy;
    }
    uint64_t t0 = now_ns();
    tickless_conn_close(inc->c);
    uint64_t t = now_ns() - t0;
    inc->closed = true;
    if (self != nullptr)
        count(C_CLOSES);
    if (t > slack_ns(inc->cfg, 2000))
        fail("tickless_conn_close(conn %d.%d) took %.0f ms", inc->slot,
             inc->index, (double)t / 1e6);
    std::lock_guard<std::mutex> g(who->last_mu);
    who->last = "tickless_conn_close";
    return true;
}

namespace {
std::mutex g_reg_mu;
std::vector<WorkerState *> g_reg;
} // namespace

void registry_add(WorkerState *ws)
{
    std::lock_guard<std::mutex> g(g_reg_mu);
    g_reg.push_back(ws);
}

void registry_remove(WorkerState *ws)
{
    std::lock_guard<std::mutex> g(g_reg_mu);
    for (size_t i = 0; i < g_reg.size(); i++)
        if (g_reg[i] == ws) {
            g_reg.erase(g_reg.begin() + (long)i);
            break;
        }
}

std::string registry_dump()
{
    std::lock_guard<std::mutex> g(g_reg_mu);
    std::string out;
    uint64_t now = now_ns();
    for (WorkerState *ws : g_reg) {
        char line[512];
        const char *c = ws->call.load();
        std::lock_guard<std::mutex> g2(ws->last_mu);
        if (c != nullptr)
            snprintf(line, sizeof(line),
                     "  worker %d (tid %ld): in %s (timeout %d) for %.0f ms; before: %s\n",
                     ws->id, ws->tid.load(), c, ws->call_timeout.load(),
                     (double)(now - ws->call_start_ns) / 1e6, ws->last.c_str());
        else
            snprintf(line, sizeof(line), "  worker %d (tid %ld): last %s\n",
                     ws->id, ws->tid.load(), ws->last.c_str());
        out += line;
    }
    return out;
}

std::string registry_overdue(uint64_t slack, uint64_t forever)
{
    std::lock_guard<std::mutex> g(g_reg_mu);
    uint64_t now = now_ns();
    for (WorkerState *ws : g_reg) {
        const char *c = ws->call.load();
        if (c == nullptr)
            continue;
        int t = ws->call_timeout;
        uint64_t start = ws->call_start_ns;
        if (start > now)
            continue; /* a call that began after |now| was read */
        uint64_t age = now - start;
        uint64_t limit = t >= 0 ? (uint64_t)t * 1000000ull + slack : forever;
        if (age > limit) {
            char line[256];
            snprintf(line, sizeof(line), "worker %d in %s (timeout %d) for %.1f s",
                     ws->id, c, t, (double)age / 1e9);
            return line;
        }
    }
    return "";
}

} // namespace torture
