/*
 * tickless-torture: shared vocabulary of the harness.
 *
 * The harness calls random public functions of tickless from many threads
 * on live connections against peers that check every byte (see
 * docs/reliability.md, "Torture"). This header holds what every part needs:
 * the run's configuration, a seeded PRNG, clocks.
 */
#ifndef TORTURE_H
#define TORTURE_H

#include <cstddef>
#include <cstdint>
#include <string>

namespace torture {

/* QSERVER and DSERVER: tickless is the server, a listener whose workers
 * take streams (QUIC, tickless_listener_accept_stream) or connections
 * (DTLS, tickless_listener_accept) of many checking clients (srv.h). */
enum class Proto { TLS, DTLS, QUIC, STREAM, QSERVER, DSERVER };
enum class Mode { DEDICATED, POOL1, POOL2, APP };

const char *proto_name(Proto p);
const char *mode_name(Mode m);

/* One run: one protocol, one mode, one seed, for |seconds|. */
struct Config {
    uint64_t seed = 1;
    Proto proto = Proto::TLS;
    Mode mode = Mode::DEDICATED;
    int threads = 6;       /* worker threads per connection */
    int conns = 3;         /* connection slots, each re-made after a close */
    double seconds = 3.0;  /* how long workers call functions */
    double time_scale = 1; /* TICKLESS_TEST_TIME_SCALE: slack multiplier */
};

/* The command line that replays exactly this run. */
std::string replay_command(const Config &c);

/* splitmix64: small, fast, and every stream of choices is a pure function of
 * its seed, so a seed replays the same choices. */
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed) {}
    uint64_t next()
    {
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    /* Uniform in [0, n). */
    uint64_t below(uint64_t n) { return n ? next() % n : 0; }
    /* True with probability |pct| percent. */
    bool chance(double pct) { return (double)below(1000000) < pct * 10000.0; }
};

/* A seed for a sub-stream of choices: (run seed, what, index...). */
uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b = 0, uint64_t c = 0);

uint64_t now_ns();        /* CLOCK_MONOTONIC */
uint64_t thread_cpu_ns(); /* CLOCK_THREAD_CPUTIME_ID */
/* Time this thread has been runnable but waiting for a CPU (schedstat;
 * 0 where the kernel does not keep it). */
uint64_t thread_runq_ns();
void sleep_ms(unsigned ms);
long gettid_();

/* Waits up to |ns| for |pred|, looking every 2 ms; true if it held. */
template <class P> bool wait_until(uint64_t ns, P pred)
{
    uint64_t end = now_ns() + ns;
    while (!pred()) {
        if (now_ns() > end)
            return false;
        sleep_ms(2);
    }
    return true;
}

} // namespace torture

#endif
