/* soak_sample: what the soak measures about its own process; see soak.h. */
#include "soak.h"

#include <dirent.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ts_util.h"

#define CANARY_MS 5

struct soak_canary {
    pthread_t thread;
    atomic_int stop;
    atomic_uint_fast64_t late_ns; /* the largest since the last take */
};

static void *canary_main(void *arg)
{
    soak_canary *c = arg;

    while (!atomic_load(&c->stop)) {
        uint64_t t0 = ts_now_ns(), late;
        uint_fast64_t cur;

        ts_sleep_ms(CANARY_MS);
        late = ts_now_ns() - t0 - CANARY_MS * 1000000ull;
        cur = atomic_load(&c->late_ns);
        while (late > cur
               && !atomic_compare_exchange_weak(&c->late_ns, &cur, late))
            ;
    }
    return NULL;
}

soak_canary *soak_canary_start(void)
{
    soak_canary *c = calloc(1, sizeof(*c));

    if (c != NULL && pthread_create(&c->thread, NULL, canary_main, c) != 0) {
        free(c);
        c = NULL;
    }
    return c;
}

uint64_t soak_canary_take(soak_canary *c)
{
    return c != NULL ? atomic_exchange(&c->late_ns, 0) : 0;
}

uint64_t soak_canary_stop(soak_canary *c)
{
    uint64_t late;

    if (c == NULL)
        return 0;
    atomic_store(&c->stop, 1);
    pthread_join(c->thread, NULL);
    late = atomic_load(&c->late_ns);
    free(c);
    return late;
}

uint64_t soak_rss_bytes(void)
{
    unsigned long long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "re");
    long page = sysconf(_SC_PAGESIZE);

    if (f == NULL)
        return 0;
    if (fscanf(f, "%llu %llu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (uint64_t)resident * (uint64_t)(page > 0 ? page : 4096);
}

uint64_t soak_heap_bytes(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
    struct mallinfo2 mi = mallinfo2();

    return (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
#else
    return 0;
#endif
}

void soak_raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

uint64_t soak_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    uint64_t n = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* not the descriptor opendir() itself holds */
}

double soak_slope(const double *x, const double *y, size_t n)
{
    double mx = 0, my = 0, sxx = 0, sxy = 0;
    size_t i;

    if (n < 2)
        return 0;
    for (i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= (double)n;
    my /= (double)n;
    for (i = 0; i < n; i++) {
        sxx += (x[i] - mx) * (x[i] - mx);
        sxy += (x[i] - mx) * (y[i] - my);
    }
    return sxx > 0 ? sxy / sxx : 0;
}
