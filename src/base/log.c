#include "base/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

/* The callback and its argument change together under log_mu; |enabled|
 * and the threshold let the hot paths skip all of it with one load. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static tickless_log_fn log_fn;
static void *log_arg;
static atomic_int max_level;          /* 0: no callback */
static atomic_uint_least64_t late_ns; /* 0: lateness not reported */

int tickless_set_log(tickless_log_fn fn, void *arg, int level,
                     uint64_t late_warn_ns)
{
    if (fn != NULL && (level < TICKLESS_LOG_ERROR || level > TICKLESS_LOG_INFO))
        return TICKLESS_ERR_INVALID;
    pthread_mutex_lock(&log_mu);
    log_fn = fn;
    log_arg = arg;
    atomic_store(&max_level, fn != NULL ? level : 0);
    atomic_store(&late_ns, fn != NULL ? late_warn_ns : 0);
    pthread_mutex_unlock(&log_mu);
    return 0;
}

uint64_t tl_log_late_threshold_ns(void)
{
    return atomic_load_explicit(&late_ns, memory_order_relaxed);
}

void tl_log(int level, tickless_conn *c, const char *fmt, ...)
{
    char msg[256];
    tickless_log_fn fn;
    void *arg;
    va_list ap;

    if (level > atomic_load_explicit(&max_level, memory_order_relaxed))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_mu);
    fn = log_fn;
    arg = log_arg;
    pthread_mutex_unlock(&log_mu);
    /* Called outside log_mu, so a callback may change the callback. */
    if (fn != NULL)
        fn(level, c, msg, arg);
}
