#include "assist/runner.h"

#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/sigpipe.h"
#include "base/sysfail.h"

/* Everything the new thread needs before it runs the shard; copied so the
 * starter's options may live on its stack. */
typedef struct runner_start_args {
    shard *s;
    char name[16];
    uint64_t timer_slack_ns;
    int cpu;
    size_t stack;
    int idle_release;      /* see RUNNER_IDLE_NS */
    int handed_over;       /* this thread replaced |predecessor|, which it
                              joins first */
    pthread_t predecessor;
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

static void *runner_main(void *arg);

/* The lowest address of the calling thread's stack, or 0. */
static uintptr_t stack_bottom(void)
{
    pthread_attr_t attr;
    void *addr = NULL;
    size_t size = 0;

    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return 0;
    if (pthread_attr_getstack(&attr, &addr, &size) != 0)
        addr = NULL;
    pthread_attr_destroy(&attr);
    return (uintptr_t)addr;
}

/* Gives back the pages of the calling thread's stack below the caller's
 * frame, the runner's loop: nothing down there is live between two
 * iterations, and a call that reaches down again gets fresh zeroed pages.
 * A margin under this function's own frame keeps the pages madvise() (or
 * a sanitizer's interceptor of it) runs on. Every signal is blocked in an
 * assist thread, so no handler runs down there meanwhile. (glibc does the
 * same to a thread's stack when the thread ends.) */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define STACK_RELEASE_MARGIN (16u << 10)
#else
#define STACK_RELEASE_MARGIN 1024u
#endif
static __attribute__((noinline)) void stack_release(uintptr_t bottom)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    uintptr_t end = (here - STACK_RELEASE_MARGIN) & ~(page - 1);

    if (bottom != 0 && end > bottom)
        (void)madvise((void *)bottom, end - bottom, MADV_DONTNEED);
}

/* Starts a fresh thread to run |a->s| in place of the caller: 1 if it did
 * (the caller must then return without touching the shard; the new thread
 * joins it), 0 if the caller carries on (stopping, or no thread could be
 * made). */
static int hand_over(const runner_start_args *a)
{
    shard *s = a->s;
    runner_start_args *next = tl_calloc(1, sizeof(*next));
    pthread_attr_t attr;
    pthread_t t;
    int rc;

    if (next == NULL)
        return 0;
    *next = *a;
    next->handed_over = 1;
    next->predecessor = pthread_self();
    if (pthread_attr_init(&attr) != 0) {
        tl_free(next);
        return 0;
    }
    rc = pthread_attr_setstacksize(&attr, a->stack);
    /* Under mu, so that tl_runner_stop() joins whichever thread runs the
     * shard: it sets |stopping| before it takes mu to read s->runner. The
     * new thread inherits this one's mask: every signal blocked. */
    pthread_mutex_lock(&s->mu);
    if (rc == 0 && !atomic_load(&s->stopping))
        rc = pthread_create(&t, &attr, runner_main, next);
    else
        rc = -1;
    if (rc == 0) {
        s->retired_cpu_ns += tl_clock_read_ns(CLOCK_THREAD_CPUTIME_ID);
        s->runner = t;
    }
    pthread_mutex_unlock(&s->mu);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        tl_free(next);
    return rc == 0;
}

static void *runner_main(void *arg)
{
    runner_start_args a = *(runner_start_args *)arg;
    uintptr_t bottom = 0;
    uint64_t released_at = 0, cpu_at_start, next;
    int was_busy = 0; /* a deadline nearer than RUNNER_IDLE_NS was seen */

    tl_free(arg);
    if (a.handed_over)
        (void)pthread_join(a.predecessor, NULL); /* it is on its way out */
    apply_options(&a);
    if (a.idle_release) {
        bottom = stack_bottom();
        /* glibc reuses the stacks of threads that ended, and leaves the
         * 16 KiB under where each ended resident. */
        stack_release(bottom);
    }
    if (!a.handed_over)
        tl_log(TICKLESS_LOG_INFO, NULL, "assist thread %s started",
               a.name[0] != '\0' ? a.name : "(unnamed)");
    /* What starting took is no burst's. */
    cpu_at_start = tl_clock_read_ns(CLOCK_THREAD_CPUTIME_ID);
    while (!atomic_load(&a.s->stopping)) {
        int rc = tl_shard_run_once(a.s, CLOCK_NEVER);

        if (rc < 0) {
            /* Its wait itself failed (EBADF/EINVAL cannot happen with our
             * own descriptors): there is nothing sensible left to retry. */
            tl_log(TICKLESS_LOG_ERROR, NULL,
                   "assist thread %s: its wait failed; it stops ticking",
                   a.name[0] != '\0' ? a.name : "(unnamed)");
            break;
        }
        /* Only a thread yet to hand over needs to see busy spells; the
         * fresh one looks only after a tick. */
        if (!a.idle_release || (a.handed_over && rc <= 0))
            continue;
        next = tl_shard_earliest(a.s);
        if (next != CLOCK_NEVER
            && next < clock_add(a.s->now(), RUNNER_IDLE_NS)) {
            was_busy = 1;
            continue;
        }
        if (rc <= 0)
            continue;
        if (a.handed_over) {
            /* The first time, and then at most once a RUNNER_IDLE_NS: a
             * connection ticked often with nothing due (stray datagrams)
             * would fault its pages back in every time. */
            uint64_t now = a.s->now();

            if (now - released_at >= RUNNER_IDLE_NS) {
                stack_release(bottom);
                released_at = now;
            }
        } else if (was_busy
                   && tl_clock_read_ns(CLOCK_THREAD_CPUTIME_ID) - cpu_at_start
                          >= RUNNER_BURST_CPU_NS
                   && hand_over(&a))
            return NULL; /* the shard is no longer ours to touch */
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
    pthread_t t;
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
        a->idle_release = opts->idle_release;
        if (opts->stack_size != 0)
            stack = opts->stack_size;
    }
    a->stack = stack;
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
    /* Under mu: a thread that hands over (hand_over()) writes s->runner
     * too, and must find it set. */
    pthread_mutex_lock(&s->mu);
    if (rc == 0)
        rc = pthread_create(&t, &attr, runner_main, a);
    if (rc == 0)
        s->runner = t;
    pthread_mutex_unlock(&s->mu);
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
    pthread_t t;

    if (!s->has_runner)
        return;
    atomic_store(&s->stopping, 1);
    tl_shard_wake(s);
    /* After |stopping|: no thread hands over any more (hand_over()). */
    pthread_mutex_lock(&s->mu);
    t = s->runner;
    pthread_mutex_unlock(&s->mu);
    pthread_join(t, NULL);
    s->has_runner = 0;
}

uint64_t tl_runner_cpu_ns(shard *s)
{
    clockid_t cid;
    uint64_t ns = 0;

    if (!s->has_runner)
        return 0;
    /* Under mu: the thread may be replacing itself (hand_over()). */
    pthread_mutex_lock(&s->mu);
    if (pthread_getcpuclockid(s->runner, &cid) == 0)
        ns = tl_clock_read_ns(cid);
    ns += s->retired_cpu_ns;
    pthread_mutex_unlock(&s->mu);
    return ns;
}
