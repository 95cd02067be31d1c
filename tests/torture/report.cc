/* report: see report.h. */
#include "report.h"

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include <tickless/tickless.h>

namespace torture {

namespace {
Config g_cfg;
std::atomic<int> g_failures{0};
std::mutex g_out_mu; /* one line at a time, never interleaved */

/* Many threads may see the same broken connection: the first few lines
 * say it; the rest would only bury them. */
constexpr int kMaxPrinted = 20;

void vprint(const char *tag, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    std::lock_guard<std::mutex> g(g_out_mu);
    fprintf(stderr, "%s [seed %llu %s/%s] %s\n", tag,
            (unsigned long long)g_cfg.seed, proto_name(g_cfg.proto),
            mode_name(g_cfg.mode), msg);
    fflush(stderr);
}
} // namespace

void report_init(const Config &c) { g_cfg = c; }

void fail(const char *fmt, ...)
{
    int n = g_failures.fetch_add(1) + 1;
    if (n > kMaxPrinted)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprint("FAIL", fmt, ap);
    va_end(ap);
    if (n == kMaxPrinted)
        note("further failures of this run are counted, not printed");
}

void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint("note", fmt, ap);
    va_end(ap);
}

int failures() { return g_failures.load(); }

namespace {
std::atomic<uint64_t> g_counts[C_COUNT_];
}

void count(Counter c, uint64_t n) { g_counts[c] += n; }

namespace {
std::atomic<uint64_t> g_codes[-TICKLESS_ERR_MIN_ + 1];
}

void count_code(int rc)
{
    if (rc < 0 && rc >= TICKLESS_ERR_MIN_)
        g_codes[-rc]++;
}

void print_counts()
{
    auto v = [](Counter c) { return (unsigned long long)g_counts[c].load(); };
    note("%llu connections (%llu closed by a worker, %llu ended gracefully), "
         "%llu calls (%llu timed out, %llu failed), %llu bytes written and "
         "%llu read by tickless, %llu received and %llu sent by peers",
         v(C_CONNS), v(C_CLOSES), v(C_GRACEFUL), v(C_CALLS), v(C_TIMEOUTS),
         v(C_ERRORS), v(C_WRITTEN), v(C_READ), v(C_PEER_RX), v(C_PEER_TX));
    note("%llu closes inside a lock section, %llu duplex connections, %llu "
         "writes in progress for a second or more",
         v(C_LOCK_CLOSES), v(C_DUPLEX), v(C_LONG_WRITES));
    if (v(C_STREAMS) != 0)
        note("%llu streams; %llu writes blocked 100 ms or more (%llu of them "
             "while another writer of the stream was blocked too); blocked "
             "when the peer ended the stream: %llu reads (RESET_STREAM), %llu "
             "writes (STOP_SENDING), %llu streams with both at once; %llu "
             "writes in progress when we concluded or reset their stream",
             v(C_STREAMS), v(C_BLOCKED_WRITES), v(C_MULTI_BLOCKED),
             v(C_RESET_READS), v(C_STOP_WRITES), v(C_RESET_BOTH),
             v(C_ENDS_UNDER_WRITE));
    if (v(C_LISTENERS) != 0)
        note("%llu listeners closed under their workers (%llu accepts "
             "returned CLOSED), %llu streams or connections served, %llu ends "
             "the server recorded for the clients' checks",
             v(C_LISTENERS), v(C_ACCEPT_CLOSED), v(C_SERVED), v(C_SERVER_ENDS));
    std::string codes;
    for (int i = 1; i <= -TICKLESS_ERR_MIN_; i++)
        if (g_codes[i] != 0)
            codes += std::string(" ") + (tickless_err_name(-i) + 13) + "="
                     + std::to_string(g_codes[i].load());
    note("return codes:%s", codes.c_str());
}

void hang(const char *what)
{
    {
        std::lock_guard<std::mutex> g(g_out_mu);
        fprintf(stderr, "FAIL [seed %llu %s/%s] HANG: %s\n  replay: %s\n",
                (unsigned long long)g_cfg.seed, proto_name(g_cfg.proto),
                mode_name(g_cfg.mode), what, replay_command(g_cfg).c_str());
        fflush(stderr);
    }
    abort();
}

} // namespace torture
