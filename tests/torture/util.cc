/* util: clocks, seeds and names (torture.h). */
#include <fcntl.h>
#include <unistd.h>
#include <cstdio>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>

#include "pattern.h"
#include "torture.h"

namespace torture {

const char *proto_name(Proto p)
{
    switch (p) {
    case Proto::TLS: return "tls";
    case Proto::DTLS: return "dtls";
    case Proto::QUIC: return "quic";
    case Proto::STREAM: return "stream";
    case Proto::QSERVER: return "qserver";
    case Proto::DSERVER: return "dserver";
    }
    return "?";
}

const char *mode_name(Mode m)
{
    switch (m) {
    case Mode::DEDICATED: return "dedicated";
    case Mode::POOL1: return "pool1";
    case Mode::POOL2: return "pool2";
    case Mode::APP: return "app";
    }
    return "?";
}

std::string replay_command(const Config &c)
{
    char s[256];
    snprintf(s, sizeof(s),
             "tickless-torture --seed %llu --proto %s --mode %s --threads %d "
             "--conns %d --run-seconds %g --runs 1",
             (unsigned long long)c.seed, proto_name(c.proto), mode_name(c.mode),
             c.threads, c.conns, c.seconds);
    return s;
}

uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
    return mix64(mix64(mix64(seed ^ 0x70727475ull) + a) + b) + c;
}

uint64_t now_ns()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t thread_cpu_ns()
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t thread_runq_ns()
{
    /* schedstat: ns on the CPU, ns runnable waiting for one, slices. */
    int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    unsigned long long run = 0, wait = 0;
    if (sscanf(buf, "%llu %llu", &run, &wait) != 2)
        return 0;
    return wait;
}

void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

long gettid_() { return (long)syscall(SYS_gettid); }

} // namespace torture
