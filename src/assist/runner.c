#include "assist/runner.h"

#include <sched.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/sigpipe.h"
#include "core/sysfail.h"

/* Everything the new thread needs before it runs the shard; copied so the
 * starter's options may live on its stack. */
typedef struct runner_start_args {
    shard *s;
    char name[16];
    uint64_t timer_slack_ns;
    int cpu;
} runner_start_args;

static void apply_options(const runner_start_args *a)
{
    if (a->name[0] != '\0')
        (void)pthread_setname_np(pthread_self(), a->name);
    if (a->timer_slack_ns != 0)
        (void)prctl(PR_SET_TIMERSLACK, (unsigned long)a->timer_slack_ns, 0, 0,
                    0);
    if (a->cpu >= 0) {
        cpu_set_t set;

        CPU_ZERO(&set);
        CPU_SET(a->cpu, &set);
        /* Best effort: a CPU outside the process's cpuset is refused, and
         * the thread then simply runs anywhere. */
        (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    }
}

static void *runner_main(void *arg)
{
    runner_start_args a = *(runner_start_args *)arg;

    tl_free(arg);
    apply_options(&a);
    tl_log(TICKLESS_LOG_INFO, NULL, "assist thread %s started",
           a.name[0] != '\0' ? a.name : "(unnamed)");
    while (!atomic_load(&a.s->stopping)) {
        if (tl_shard_run_once(a.s, CLOCK_NEVER) < 0) {
            /* Its wait itself failed (EBADF/EINVAL cannot happen with our
             * own descriptors): there is nothing sensible left to retry. */
            tl_log(TICKLESS_LOG_ERROR, NULL,
                   "assist thread %s: its wait failed; it stops ticking",
                   a.name[0] != '\0' ? a.name : "(unnamed)");
            break;
        }
    }
    tl_log(TICKLESS_LOG_INFO, NULL, "assist thread %s stopped",
           a.name[0] != '\0' ? a.name : "(unnamed)");
    return NULL;
}

int tl_runner_start(shard *s, const runner_options *opts)
{
    runner_start_args *a = tl_calloc(1, sizeof(*a));
    size_t stack = RUNNER_DEFAULT_STACK;
    pthread_attr_t attr;
    sigset_t saved;
    int rc;

    if (a == NULL)
        return TICKLESS_ERR_NOMEM;
    a->s = s;
    a->cpu = -1;
    if (opts != NULL) {
        if (opts->name != NULL) {
            strncpy(a->name, opts->name, sizeof(a->name) - 1);
            a->name[sizeof(a->name) - 1] = '\0';
        }
        a->timer_slack_ns = opts->timer_slack_ns;
        s->timer_slack_ns = opts->timer_slack_ns; /* before the thread */
        a->cpu = opts->cpu;
        if (opts->stack_size != 0)
            stack = opts->stack_size;
    }
    if (pthread_attr_init(&attr) != 0) {
        tl_free(a);
        return TICKLESS_ERR_NOMEM;
    }
    if (pthread_attr_setstacksize(&attr, stack) != 0) {
        pthread_attr_destroy(&attr);
        tl_free(a);
        return TICKLESS_ERR_INVALID;
    }
    /* The thread inherits the mask: blocked from its first instruction. */
    pthread_sigmask(SIG_SETMASK, NULL, &saved);
    tl_sigpipe_block_all_signals();
    rc = tl_sysfail_check(SYSFAIL_PTHREAD_CREATE);
    if (rc == 0)
        rc = pthread_create(&s->runner, &attr, runner_main, a);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        tl_free(a);
        return TICKLESS_ERR_SYS;
    }
    s->has_runner = 1;
    return 0;
}

void tl_runner_stop(shard *s)
{
    if (!s->has_runner)
        return;
    atomic_store(&s->stopping, 1);
    tl_shard_wake(s);
    pthread_join(s->runner, NULL);
    s->has_runner = 0;
}

uint64_t tl_runner_cpu_ns(shard *s)
{
    clockid_t cid;
    struct timespec ts;

    if (!s->has_runner || pthread_getcpuclockid(s->runner, &cid) != 0
        || clock_gettime(cid, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}
