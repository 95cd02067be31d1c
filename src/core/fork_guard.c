#include "core/fork_guard.h"

#include <pthread.h>
#include <stdatomic.h>

static atomic_uint generation;
static pthread_once_t armed = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
    atomic_fetch_add(&generation, 1);
}

static void arm(void)
{
    /* Cannot fail short of ENOMEM at start-up; then a child would not be
     * protected, which is no worse than before. */
    (void)pthread_atfork(NULL, NULL, on_fork_child);
}

unsigned tl_fork_guard_generation(void)
{
    pthread_once(&armed, arm);
    return atomic_load(&generation);
}

int tl_fork_guard_stale(unsigned gen)
{
    return gen != atomic_load_explicit(&generation, memory_order_relaxed);
}
