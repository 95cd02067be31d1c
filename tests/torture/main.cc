/*
 * tickless-torture: the runner.
 *
 *   tickless-torture [--seed N] [--seconds S] [--run-seconds R]
 *                    [--proto tls,dtls,quic,stream,qserver,dserver]
 *                    [--mode dedicated,pool1,pool2,app]
 *                    [--threads K] [--conns M] [--runs N]
 *
 * Runs rounds until S seconds have passed (or N runs): round r runs every
 * chosen protocol in every chosen mode, each for R seconds with seed N + r,
 * each in a child process (this program re-executed with --child), so that
 * a run killed by a signal (SIGPIPE, an ASan abort) is reported with its
 * seed and the others go on. A failed run prints a one-line replay command.
 * The last line is "N passed, N failed" (runs).
 */
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include <tickless/tickless.h>

#include "scenario.h"
#include "torture.h"

extern "C" {
#include "ts_certs.h"
}

extern char **environ;

using namespace torture;

namespace {

struct Options {
    Config base;
    bool seed_given = false;
    double total_seconds = 60;
    long max_runs = -1;
    std::vector<Proto> protos;
    std::vector<Mode> modes;
    bool child = false;
};

[[noreturn]] void usage(const char *why)
{
    fprintf(stderr, "tickless-torture: %s\nusage: tickless-torture [--seed N] "
            "[--seconds S] [--run-seconds R] "
            "[--proto tls,dtls,quic,stream,qserver,dserver] "
            "[--mode dedicated,pool1,pool2,app] [--threads K] [--conns M] "
            "[--runs N]\n", why);
    exit(2);
}

std::vector<std::string> split(const std::string &s)
{
    std::vector<std::string> out;
    size_t a = 0;
    while (a <= s.size()) {
        size_t b = s.find(',', a);
        if (b == std::string::npos)
            b = s.size();
        if (b > a)
            out.push_back(s.substr(a, b - a));
        a = b + 1;
    }
    return out;
}

/* The values of a comma-separated option (--proto, --mode): each named
 * as |name_of| names one of |all|; anything else is a usage error. */
template <class E, size_t N>
std::vector<E> parse_names(const std::string &list, const E (&all)[N],
                           const char *(*name_of)(E), const char *what)
{
    std::vector<E> out;
    for (const std::string &word : split(list)) {
        size_t k = 0;
        while (k < N && word != name_of(all[k]))
            k++;
        if (k == N)
            usage(("unknown " + std::string(what) + " " + word).c_str());
        out.push_back(all[k]);
    }
    return out;
}

const Proto kProtos[] = { Proto::TLS,    Proto::DTLS,    Proto::QUIC,
                          Proto::STREAM, Proto::QSERVER, Proto::DSERVER };
const Mode kModes[] = { Mode::DEDICATED, Mode::POOL1, Mode::POOL2,
                        Mode::APP };

bool quic_available() { return ts_have_quic() != 0; }

Options parse(int argc, char **argv)
{
    Options o;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc)
                usage(("missing value for " + a).c_str());
            return argv[++i];
        };
        if (a == "--seed") {
            o.base.seed = strtoull(val().c_str(), nullptr, 0);
            o.seed_given = true;
        } else if (a == "--seconds") {
            o.total_seconds = atof(val().c_str());
        } else if (a == "--run-seconds") {
            o.base.seconds = atof(val().c_str());
        } else if (a == "--threads") {
            o.base.threads = atoi(val().c_str());
        } else if (a == "--conns") {
            o.base.conns = atoi(val().c_str());
        } else if (a == "--runs") {
            o.max_runs = atol(val().c_str());
        } else if (a == "--child") {
            o.child = true;
        } else if (a == "--proto") {
            for (Proto p : parse_names(val(), kProtos, proto_name, "protocol"))
                o.protos.push_back(p);
        } else if (a == "--mode") {
            for (Mode m : parse_names(val(), kModes, mode_name, "mode"))
                o.modes.push_back(m);
        } else if (a == "-h" || a == "--help") {
            usage("help");
        } else {
            usage(("unknown argument " + a).c_str());
        }
    }
    if (o.base.threads < 1 || o.base.threads > 64 || o.base.conns < 1
        || o.base.conns > 64 || o.base.seconds <= 0)
        usage("bad --threads, --conns or --run-seconds");
    /* QUIC needs a QUIC server for the peer: OpenSSL >= 3.5. */
    if (o.protos.empty()) {
        o.protos = {Proto::TLS, Proto::DTLS, Proto::DSERVER};
        if (quic_available())
            o.protos.insert(o.protos.end(),
                            {Proto::QUIC, Proto::STREAM, Proto::QSERVER});
    }
    for (Proto p : o.protos)
        if ((p == Proto::QUIC || p == Proto::STREAM || p == Proto::QSERVER)
            && !quic_available())
            usage("QUIC needs OpenSSL >= 3.5 (client and server)");
    if (o.modes.empty())
        o.modes = {Mode::DEDICATED, Mode::POOL1, Mode::POOL2, Mode::APP};
    if (!o.seed_given)
        o.base.seed = (uint64_t)time(nullptr) ^ ((uint64_t)getpid() << 20);
    const char *scale = getenv("TICKLESS_TEST_TIME_SCALE");
    if (scale != nullptr && atof(scale) >= 1)
        o.base.time_scale = atof(scale);
    return o;
}

/* Runs |c| in a child process; returns its wait status. The child gets
 * SIGPIPE at its default disposition and unblocked, whatever ours is. */
int spawn_run(const Config &c)
{
    std::vector<std::string> args = {
        "tickless-torture", "--child", "--seed", std::to_string(c.seed),
        "--proto", proto_name(c.proto), "--mode", mode_name(c.mode),
        "--threads", std::to_string(c.threads), "--conns", std::to_string(c.conns),
        "--run-seconds", std::to_string(c.seconds)};
    std::vector<char *> argv;
    for (std::string &a : args)
        argv.push_back(&a[0]);
    argv.push_back(nullptr);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t def, none;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    pid_t pid;
    int err = posix_spawn(&pid, "/proc/self/exe", nullptr, &at, argv.data(), environ);
    posix_spawnattr_destroy(&at);
    if (err != 0) {
        fprintf(stderr, "tickless-torture: posix_spawn: %s\n", strerror(err));
        return -1;
    }
    /* The child's watchdog reports hangs; this is the backstop for a child
     * so stuck that its watchdog cannot run. */
    double limit = c.seconds + 120.0 * c.time_scale;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((double)(t.tv_sec - t0.tv_sec) > limit) {
            fprintf(stderr, "FAIL [seed %llu %s/%s] the run did not end in "
                    "%.0f s: killed\n", (unsigned long long)c.seed,
                    proto_name(c.proto), mode_name(c.mode), limit);
            kill(pid, SIGKILL);
        }
        usleep(20000);
    }
}

} // namespace

int main(int argc, char **argv)
{
    Options o = parse(argc, argv);
    if (o.child) {
        o.base.proto = o.protos[0];
        o.base.mode = o.modes[0];
        return run_scenario(o.base) == 0 ? 0 : 1;
    }
    setvbuf(stdout, nullptr, _IOLBF, 0);
    printf("tickless-torture: seed %llu, %g s, runs of %g s, %d threads x %d "
           "connections, tickless %u.%u.%u\n",
           (unsigned long long)o.base.seed, o.total_seconds, o.base.seconds,
           o.base.threads, o.base.conns, tickless_version() >> 16,
           (tickless_version() >> 8) & 0xff, tickless_version() & 0xff);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    auto elapsed = [&] {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
    };
    long passed = 0, failed = 0, runs = 0;
    for (uint64_t round = 0;; round++) {
        bool stop = false;
        /* Every (mode, protocol) pair once a round, in diagonals over
         * the longer list: the first max(modes, protocols) runs take
         * each item of it once, paired with the shorter list's items in
         * turn; the next shift the pairing by one, and so on. A session
         * shorter than a round (CI's 60 s, the ctest entry) still sees
         * every mode and every protocol in its first few runs. */
        const size_t nm = o.modes.size(), np = o.protos.size();
        for (size_t k = 0; k < nm * np; k++) {
            if ((runs > 0 && elapsed() >= o.total_seconds)
                || (o.max_runs >= 0 && runs >= o.max_runs)) {
                stop = true;
                break;
            }
            const size_t n = np >= nm ? np : nm, i = k % n, j = k / n;
            Proto p = o.protos[np >= nm ? i : (i + j) % np];
            Mode m = o.modes[np >= nm ? (i + j) % nm : i];
            Config c = o.base;
            c.seed = o.base.seed + round;
            c.proto = p;
            c.mode = m;
            double start = elapsed();
            int st = spawn_run(c);
            runs++;
            char why[96] = "";
            if (st == -1)
                snprintf(why, sizeof(why), "could not start");
            else if (WIFSIGNALED(st))
                snprintf(why, sizeof(why), "killed by signal %d (%s)",
                         WTERMSIG(st), strsignal(WTERMSIG(st)));
            else if (WEXITSTATUS(st) != 0)
                snprintf(why, sizeof(why), "checks failed (exit %d)",
                         WEXITSTATUS(st));
            if (why[0] == 0) {
                passed++;
                printf("run %ld: seed %llu %s/%s: ok (%.1f s)\n", runs,
                       (unsigned long long)c.seed, proto_name(p), mode_name(m),
                       elapsed() - start);
            } else {
                failed++;
                printf("run %ld: seed %llu %s/%s: FAILED: %s (%.1f s)\n"
                       "  replay: %s\n", runs, (unsigned long long)c.seed,
                       proto_name(p), mode_name(m), why, elapsed() - start,
                       replay_command(c).c_str());
            }
        }
        if (stop)
            break;
    }
    printf("%ld passed, %ld failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
