/* bench_util: /proc readers, clocks, limits, the machine, forking helpers. */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <tickless/tickless.h>

int bench_pool_new(unsigned threads, const char *name, tickless_pool **out)
{
    tickless_pool_options po;

    tickless_pool_options_defaults(&po);
    po.threads = threads;
    po.thread_name = name;
    return tickless_pool_new(&po, out);
}

int bench_mem_read(bench_mem *out)
{
    unsigned long long size, resident;
    long page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/statm", "r");
    int n;

    if (f == NULL)
        return -1;
    n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    if (n != 2 || page <= 0)
        return -1;
    out->vm = (uint64_t)size * (uint64_t)page;
    out->rss = (uint64_t)resident * (uint64_t)page;
    n = bench_fds();
    if (n < 0)
        return -1;
    out->fds = (uint64_t)n;
    return 0;
}

/* Entries of a /proc directory, "." and ".." not counted. */
static int count_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

int bench_threads(void)
{
    return count_entries("/proc/self/task");
}

int bench_fds(void)
{
    int n = count_entries("/proc/self/fd");

    /* The directory stream itself held one descriptor while it was read. */
    return n > 0 ? n - 1 : n;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_process_cpu_ns(void)
{
    /* Every thread, live or exited, in nanoseconds; getrusage() would
     * give the same sum in microseconds. */
    return clock_ns(CLOCK_PROCESS_CPUTIME_ID);
}

uint64_t bench_process_sleeps(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_nvcsw;
}

/* The id of the tracepoint every system call passes, from tracefs (at
 * its own mount point or under debugfs), or -1. */
static long long syscall_tracepoint_id(void)
{
    static const char *const paths[] = {
        "/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
        "/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
    };
    long long id = -1;
    size_t i;

    for (i = 0; i < sizeof(paths) / sizeof(paths[0]) && id < 0; i++) {
        FILE *f = fopen(paths[i], "r");

        if (f == NULL)
            continue;
        if (fscanf(f, "%lld", &id) != 1)
            id = -1;
        fclose(f);
    }
    return id;
}

int bench_syscalls_open(void)
{
    struct perf_event_attr attr;
    long long id = syscall_tracepoint_id();

    if (id < 0)
        return -1;
    memset(&attr, 0, sizeof(attr));
    attr.type = PERF_TYPE_TRACEPOINT;
    attr.size = sizeof(attr);
    attr.config = (uint64_t)id;
    attr.inherit = 1; /* the threads started after it count too */
    return (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1,
                        PERF_FLAG_FD_CLOEXEC);
}

uint64_t bench_syscalls_read(int fd)
{
    uint64_t n;

    if (fd < 0 || read(fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
        return UINT64_MAX;
    return n;
}

uint64_t bench_now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/* The most descriptors a process may have (fs.nr_open), or 0. */
static uint64_t nr_open(void)
{
    FILE *f = fopen("/proc/sys/fs/nr_open", "r");
    unsigned long long v = 0;

    if (f != NULL) {
        if (fscanf(f, "%llu", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v;
}

uint64_t bench_raise_nofile(void)
{
    struct rlimit rl;
    uint64_t most = nr_open();

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    /* The hard limit first, as far as the kernel allows: that takes
     * CAP_SYS_RESOURCE, which a root without it (a container) lacks. */
    if (most > rl.rlim_max && rl.rlim_max != RLIM_INFINITY) {
        struct rlimit up = { (rlim_t)most, (rlim_t)most };

        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl = up;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit up = { rl.rlim_max, rl.rlim_max };

        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl.rlim_cur = rl.rlim_max;
    }
    return rl.rlim_cur == RLIM_INFINITY ? UINT32_MAX : (uint64_t)rl.rlim_cur;
}

int bench_nofile_held_down(void)
{
    struct rlimit rl;

    return getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY
           && (uint64_t)rl.rlim_max < nr_open();
}

void bench_fmt_bytes(char *buf, size_t len, double bytes)
{
    double kib = bytes / 1024.0;

    if (kib > -1024.0 && kib < 1024.0)
        snprintf(buf, len, "%.1f KiB", kib);
    else
        snprintf(buf, len, "%.2f MiB", kib / 1024.0);
}

void bench_print_environment(FILE *out, const char *prefix)
{
    struct utsname u;
    unsigned v = tickless_version();

    if (uname(&u) != 0)
        memset(&u, 0, sizeof(u));
    fprintf(out, "%s%ld CPUs online, Linux %s %s; %s; tickless %u.%u.%u\n",
            prefix, sysconf(_SC_NPROCESSORS_ONLN), u.release, u.machine,
            OpenSSL_version(OPENSSL_VERSION), v >> 16, (v >> 8) & 0xffu,
            v & 0xffu);
}

int bench_quic_skipped(const char *scenario)
{
#if BENCH_HAVE_QUIC
    if ((tickless_features() & TICKLESS_FEATURE_QUIC)
        && OpenSSL_version_num() >= 0x30500000L)
        return 0;
    printf("%s: skipped: QUIC needs OpenSSL >= 3.5 at run time too; "
           "this is %s.\n",
           scenario, OpenSSL_version(OPENSSL_VERSION));
#else
    printf("%s: skipped: QUIC needs OpenSSL >= 3.5 (a QUIC listener for "
           "the server); this build has %s.\n"
           "Run it in the Debian 13 root: scripts/dev-root -- "
           "build/ossl35-default/bench/tickless-bench %s\n",
           scenario, OPENSSL_VERSION_TEXT, scenario);
#endif
    return 1;
}

static int read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got == len ? 0 : -1;
}

static int write_full(int fd, const void *buf, size_t len)
{
    size_t put = 0;

    while (put < len) {
        ssize_t n = write(fd, (const char *)buf + put, len - put);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        put += (size_t)n;
    }
    return 0;
}

int bench_run_child(int (*fn)(void *arg, void *result, size_t len), void *arg,
                    void *result, size_t len, char *why, size_t why_len)
{
    int p[2], status = 0, rc;
    pid_t pid;

    if (pipe(p) != 0) {
        if (why != NULL)
            snprintf(why, why_len, "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL); /* or the child's exit would print our buffers again */
    pid = fork();
    if (pid < 0) {
        if (why != NULL)
            snprintf(why, why_len, "fork: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        rc = fn(arg, result, len);
        if (write_full(p[1], result, len) != 0)
            rc = 1;
        fflush(NULL);
        /* _exit: no atexit handlers, no OpenSSL cleanup racing threads
         * that fn() may have left behind. */
        _exit(rc == 0 ? 0 : 1);
    }
    close(p[1]);
    rc = read_full(p[0], result, len);
    close(p[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (rc == 0)
        return 0;
    if (why != NULL) {
        if (WIFSIGNALED(status))
            snprintf(why, why_len, "child killed by signal %d (%s)",
                     WTERMSIG(status), strsignal(WTERMSIG(status)));
        else
            snprintf(why, why_len, "child exited with %d and no result",
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    return -1;
}

int bench_wait_readable(int fd, int ms)
{
    uint64_t end = bench_now_ns() + (uint64_t)ms * 1000000u;

    for (;;) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        uint64_t now = bench_now_ns();
        int rc;

        if (now >= end)
            return -1;
        rc = poll(&pfd, 1, (int)((end - now) / 1000000u) + 1);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

/* |len| bytes from |fd| within |ms| (a child writes each message whole, so
 * only the first byte is waited for); 0 or -1. */
static int read_within(int fd, void *buf, size_t len, int ms)
{
    return bench_wait_readable(fd, ms) == 0 ? read_full(fd, buf, len) : -1;
}

int bench_peer_start(int (*fn)(void *arg, int fd), void *arg, void *hello,
                     size_t hello_len, int timeout_ms, bench_peer *p)
{
    pid_t parent = getpid();
    int sv[2];

    p->pid = 0;
    p->fd = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return -1;
    fflush(NULL); /* or the child's exit would print our buffers again */
    p->pid = fork();
    if (p->pid == 0) {
        close(sv[0]);
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1); /* the caller died before prctl took effect */
        _exit(fn(arg, sv[1]) == 0 ? 0 : 1);
    }
    close(sv[1]);
    p->fd = sv[0];
    if (p->pid < 0) {
        p->pid = 0;
        (void)bench_peer_finish(p, NULL, 0, 0);
        return -1;
    }
    /* Bounded: a child that hangs before its hello must not hang us. */
    if (read_within(p->fd, hello, hello_len, timeout_ms) != 0) {
        (void)bench_peer_finish(p, NULL, 0, 0);
        return -1;
    }
    return 0;
}

int bench_peer_finish(bench_peer *p, void *result, size_t len,
                      int timeout_ms)
{
    int rc = 0;

    if (p->fd >= 0) {
        (void)shutdown(p->fd, SHUT_WR);
        if (len > 0)
            rc = read_within(p->fd, result, len, timeout_ms);
        close(p->fd);
    }
    if (p->pid > 0) {
        /* A child that sent its result exits by itself; any other is
         * late or stuck. */
        if (len == 0 || rc != 0)
            (void)kill(p->pid, SIGKILL);
        while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    p->pid = 0;
    p->fd = -1;
    return len > 0 ? rc : 0;
}

FILE *bench_csv_open(const char *dir, const char *name)
{
    char path[4096];
    FILE *f;

    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: cannot create %s: %s\n", name, dir,
                strerror(errno));
        return NULL;
    }
    if ((size_t)snprintf(path, sizeof(path), "%s/%s.csv", dir, name)
        >= sizeof(path)) {
        fprintf(stderr, "%s: path too long: %s\n", name, dir);
        return NULL;
    }
    if ((f = fopen(path, "w")) == NULL)
        fprintf(stderr, "%s: cannot write %s: %s\n", name, path,
                strerror(errno));
    return f;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

size_t bench_rank_index(size_t n, unsigned pct)
{
    size_t rank = (n * pct + 99) / 100; /* ceil(n * pct / 100), 1-based */

    if (rank < 1)
        rank = 1;
    return rank > n ? n - 1 : rank - 1;
}

uint64_t bench_percentile(uint64_t *v, size_t n, unsigned pct)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_u64);
    return v[bench_rank_index(n, pct)];
}
