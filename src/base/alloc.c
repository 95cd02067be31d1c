#include "base/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>

/* Global rather than per-thread: the Nth allocation may happen on an assist
 * thread, and the test wants to reach that point too. */
static atomic_ulong alloc_count;
static atomic_ulong alloc_fail_at; /* 0: never fail */

static int alloc_should_fail(void)
{
    unsigned long n = atomic_fetch_add(&alloc_count, 1) + 1;
    unsigned long at = atomic_load(&alloc_fail_at);
    return at != 0 && n == at;
}

void *tl_malloc(size_t size)
{
    if (alloc_should_fail())
        return NULL;
    return malloc(size);
}

void *tl_calloc(size_t n, size_t size)
{
    if (alloc_should_fail())
        return NULL;
    return calloc(n, size);
}

void *tl_realloc(void *p, size_t size)
{
    if (alloc_should_fail())
        return NULL;
    return realloc(p, size);
}

void tl_free(void *p)
{
    free(p);
}

unsigned long tl_alloc_fail_after(unsigned long n)
{
    unsigned long made = atomic_exchange(&alloc_count, 0);
    atomic_store(&alloc_fail_at, n);
    return made;
}
