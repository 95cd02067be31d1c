/* The public pool functions and how connections are placed on shards. */
#include "assist/pool.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "assist/runner.h"
#include "base/alloc.h"
#include "base/options.h"

#define POOL_MAX_THREADS 256u

void tickless_pool_options_defaults(tickless_pool_options *opts)
{
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->size = sizeof(*opts);
    opts->threads = 1;
    opts->thread_name = NULL;
    opts->timer_slack_ns = 0;
    opts->first_cpu = -1;
}

/* The caller's options over the defaults (base/options.h), checked. */
static int read_options(const tickless_pool_options *in,
                        tickless_pool_options *out)
{
    size_t min = offsetof(tickless_pool_options, threads) + sizeof(in->threads);

    tickless_pool_options_defaults(out);
    if (tl_options_read(out, sizeof(*out), in, min) != 0)
        return TICKLESS_ERR_INVALID;
    if (out->threads > POOL_MAX_THREADS || out->first_cpu < -1
        || (out->stack_size != 0 && out->stack_size < RUNNER_MIN_STACK))
        return TICKLESS_ERR_INVALID;
    return 0;
}

static void pool_destroy(tickless_pool *p, unsigned initialised)
{
    unsigned i;

    for (i = 0; i < initialised; i++) {
        tl_runner_stop(&p->shards[i]);
        tl_shard_destroy(&p->shards[i]);
    }
    pthread_mutex_destroy(&p->run_mu);
    pthread_mutex_destroy(&p->mu);
    tl_free(p->shards);
    tl_handle_release(p);
}

static int start_thread(tickless_pool *p, unsigned i,
                        const tickless_pool_options *o)
{
    runner_options ro;
    char name[64]; /* the runner cuts it to the kernel's 15 bytes */
    long cpus;

    snprintf(name, sizeof(name), "%s-%u",
             o->thread_name != NULL ? o->thread_name : "tickless", i);
    ro.name = name;
    ro.timer_slack_ns = o->timer_slack_ns;
    ro.stack_size = o->stack_size;
    ro.cpu = -1;
    ro.idle_release = 0; /* a pool's few threads keep theirs */
    if (o->first_cpu >= 0) {
        cpus = sysconf(_SC_NPROCESSORS_ONLN);
        ro.cpu = (int)(((long)o->first_cpu + (long)i) % (cpus > 0 ? cpus : 1));
    }
    return tl_runner_start(&p->shards[i], &ro);
}

/* A pool as the guard sees it (handle.h). No reference: no call may race
 * tickless_pool_free() (see there), and an attached connection keeps the
 * pool by being counted, which the free refuses. Closed: being freed. */
static pthread_mutex_t *pool_mu(void *p)
{
    return &((tickless_pool *)p)->mu;
}

static int pool_freeing(void *p)
{
    return ((tickless_pool *)p)->freeing;
}

static void pool_unlock(void *p)
{
    pthread_mutex_unlock(pool_mu(p));
}

_Static_assert(offsetof(tickless_pool, h) == 0, "the handle comes first");

static const handle_class pool_class = {
    NULL, NULL, pool_mu, pool_freeing, pool_unlock
};

int tickless_pool_new(const tickless_pool_options *opts, tickless_pool **out)
{
    tickless_pool_options o;
    tickless_pool *p;
    unsigned i;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (out == NULL)
        return TICKLESS_ERR_INVALID;
    rc = read_options(opts, &o);
    if (rc != 0)
        return rc;

    p = tl_calloc(1, sizeof(*p));
    if (p == NULL)
        return TICKLESS_ERR_NOMEM;
    tl_handle_init(&p->h, HANDLE_POOL, &pool_class);
    p->threads = o.threads;
    p->nshards = o.threads > 0 ? o.threads : 1;
    p->shards = tl_calloc(p->nshards, sizeof(*p->shards));
    if (p->shards == NULL) {
        tl_free(p);
        return TICKLESS_ERR_NOMEM;
    }
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        tl_free(p->shards);
        tl_free(p);
        return TICKLESS_ERR_NOMEM;
    }
    if (pthread_mutex_init(&p->run_mu, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        tl_free(p->shards);
        tl_free(p);
        return TICKLESS_ERR_NOMEM;
    }
    for (i = 0; i < p->nshards; i++) {
        rc = tl_shard_init(&p->shards[i], 0);
        if (rc != 0)
            break;
        if (p->threads > 0) {
            rc = start_thread(p, i, &o);
            if (rc != 0) {
                tl_shard_destroy(&p->shards[i]);
                break;
            }
        }
    }
    if (rc != 0) {
        pool_destroy(p, i);
        return rc;
    }
    *out = p;
    return 0;
}

int tl_pool_check(const tickless_pool *pool, const char *fn)
{
    return tl_handle_check(pool != NULL ? &pool->h : NULL, HANDLE_POOL, fn);
}

static int on_own_thread(tickless_pool *p)
{
    unsigned i;

    for (i = 0; i < p->nshards; i++)
        if (p->shards[i].has_runner
            && pthread_equal(p->shards[i].runner, pthread_self()))
            return 1;
    return 0;
}

int tickless_pool_free(tickless_pool *pool)
{
    int rc = tl_pool_check(pool, __func__);

    if (rc != 0)
        return rc;
    if (on_own_thread(pool))
        return TICKLESS_ERR_INVALID;
    /* A free racing another is BUSY, not CLOSED: HANDLE_CLOSED_OK. */
    rc = tl_handle_enter(pool, HANDLE_POOL, __func__, HANDLE_CLOSED_OK);
    if (rc != 0)
        return rc;
    if (pool->nconns > 0 || pool->freeing) {
        tl_handle_exit(pool, rc);
        return TICKLESS_ERR_BUSY;
    }
    pool->freeing = 1;
    tl_handle_exit(pool, rc);
    tl_handle_kill(&pool->h); /* a second free is refused from here on */
    if (pool->threads == 0) {
        /* An application thread may be inside tickless_pool_run(): wake it
         * and wait for that iteration to end before the shard goes. Not an
         * entry: the run's own lock, waited for once, from a dead handle. */
        tl_shard_wake(&pool->shards[0]);
        pthread_mutex_lock(&pool->run_mu);
        pthread_mutex_unlock(&pool->run_mu);
    }
    pool_destroy(pool, pool->nshards);
    return 0;
}

static uint32_t shard_load(shard *s)
{
    uint32_t n;

    pthread_mutex_lock(&s->mu);
    n = s->nconns;
    pthread_mutex_unlock(&s->mu);
    return n;
}

int tl_pool_attach(tickless_pool *p, assist_link *l, int place)
{
    shard *best = &p->shards[0];
    uint32_t best_load = UINT32_MAX;
    unsigned i;
    int rc;

    /* On behalf of tickless_conn_new() or tickless_listener_new(), which
     * checked the pool: CLOSED if it is being freed. */
    rc = tl_handle_enter(p, HANDLE_POOL, __func__, 0);
    if (rc != 0)
        return rc;
    p->nconns++;
    tl_handle_exit(p, rc);

    /* Least loaded by connection count: with many connections that is a
     * fair proxy for ticks, and it never moves a connection later. */
    if (place >= 0)
        best = &p->shards[(unsigned)place % p->nshards];
    for (i = 0; place < 0 && i < p->nshards && best_load > 0; i++) {
        uint32_t load = shard_load(&p->shards[i]);

        if (load < best_load) {
            best_load = load;
            best = &p->shards[i];
        }
    }
    rc = tl_shard_attach(best, l);
    if (rc != 0) {
        tl_pool_forget(p);
        return rc;
    }
    l->pool = p;
    return 0;
}

unsigned tl_assist_pool_threads(const tickless_pool *pool)
{
    return pool->threads;
}

void tl_pool_forget(tickless_pool *p)
{
    /* Not entered (handle.h): the connection being detached is still
     * counted, which keeps the pool alive (tickless_pool_free() refuses). */
    pthread_mutex_lock(&p->mu);
    p->nconns--;
    pthread_mutex_unlock(&p->mu);
}

int tickless_pool_stats(tickless_pool *pool, struct tickless_pool_stats *out)
{
    struct tickless_pool_stats s;
    shard_stats sum;
    unsigned i;
    size_t n;
    int rc;

    if (out == NULL || out->size <= sizeof(out->size))
        return TICKLESS_ERR_INVALID;
    rc = tl_pool_check(pool, __func__);
    if (rc != 0)
        return rc;
    memset(&s, 0, sizeof(s));
    memset(&sum, 0, sizeof(sum));
    tl_lathist_init(&sum.lateness);
    s.threads = pool->threads;
    for (i = 0; i < pool->nshards; i++) {
        s.connections += tl_shard_stats_add(&pool->shards[i], &sum);
        s.cpu_ns += tl_runner_cpu_ns(&pool->shards[i]);
    }
    s.ticks = sum.ticks;
    s.timer_ticks = sum.timer_ticks;
    s.io_ticks = sum.io_ticks;
    s.wakeups = sum.wakeups;
    s.lateness_p50_ns = tl_lathist_percentile(&sum.lateness, 50.0);
    s.lateness_p99_ns = tl_lathist_percentile(&sum.lateness, 99.0);
    s.lateness_max_ns = sum.lateness.max_ns;

    /* Copy only what the caller's (possibly older) struct has room for. */
    n = out->size < sizeof(s) ? out->size : sizeof(s);
    memcpy((char *)out + sizeof(s.size), (char *)&s + sizeof(s.size),
           n - sizeof(s.size));
    return 0;
}

int tickless_pool_stats_reset(tickless_pool *pool)
{
    unsigned i;
    int rc = tl_pool_check(pool, __func__);

    if (rc != 0)
        return rc;
    for (i = 0; i < pool->nshards; i++)
        tl_shard_stats_reset(&pool->shards[i]);
    return 0;
}

int tickless_pool_fd(tickless_pool *pool)
{
    int rc = tl_pool_check(pool, __func__);

    if (rc != 0)
        return rc;
    if (pool->threads != 0)
        return TICKLESS_ERR_INVALID;
    return pool->shards[0].epfd;
}

int tickless_pool_run(tickless_pool *pool, int timeout_ms)
{
    uint64_t max_wait;
    int rc = tl_pool_check(pool, __func__);

    if (rc != 0)
        return rc;
    if (pool->threads != 0 || timeout_ms < TICKLESS_FOREVER)
        return TICKLESS_ERR_INVALID;
    rc = pthread_mutex_trylock(&pool->run_mu);
    if (rc == EBUSY)
        return TICKLESS_ERR_BUSY;
    if (rc != 0)
        return TICKLESS_ERR_SYS;
    max_wait = timeout_ms < 0 ? CLOCK_NEVER : (uint64_t)timeout_ms * NS_PER_MS;
    /* The ticks run on the application's thread, SIGPIPE blocked around
     * those that may write to a TLS socket (tl_shard_run_once()). */
    rc = tl_shard_run_once(&pool->shards[0], max_wait);
    pthread_mutex_unlock(&pool->run_mu);
    return rc;
}
