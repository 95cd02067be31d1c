#include "base/sysfail.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

/* Per call: how many calls still succeed before the failures, how many
 * fail, and with which errno. Global, like the allocation hook: the call
 * may be made on any thread. */
static atomic_uint to_skip[SYSFAIL_COUNT];
static atomic_uint to_fail[SYSFAIL_COUNT];
static atomic_int with_errno[SYSFAIL_COUNT];
static atomic_uint failed[SYSFAIL_COUNT]; /* injected so far */
typedef void (*failure_fn)(void *);
static _Atomic(failure_fn) on_failure[SYSFAIL_COUNT];
static _Atomic(void *) on_failure_arg[SYSFAIL_COUNT];

/* Takes one from |counter| if it is not 0; 1 if it did. */
static int take_one(atomic_uint *counter)
{
    unsigned n = atomic_load_explicit(counter, memory_order_relaxed);

    while (n > 0)
        if (atomic_compare_exchange_weak(counter, &n, n - 1))
            return 1;
    return 0;
}

int tl_sysfail_check(sysfail_call call)
{
    failure_fn fn;

    if (atomic_load_explicit(&to_fail[call], memory_order_relaxed) == 0)
        return 0; /* the production path */
    if (take_one(&to_skip[call]) || !take_one(&to_fail[call]))
        return 0;
    atomic_fetch_add(&failed[call], 1);
    fn = atomic_load(&on_failure[call]);
    if (fn != NULL)
        fn(atomic_load(&on_failure_arg[call]));
    errno = atomic_load(&with_errno[call]);
    return errno;
}

void tl_sysfail_inject(sysfail_call call, int err, unsigned skip,
                       unsigned times)
{
    atomic_store(&to_fail[call], 0);
    atomic_store(&with_errno[call], err);
    atomic_store(&to_skip[call], skip);
    atomic_store(&to_fail[call], times);
}

void tl_sysfail_on_failure(sysfail_call call, void (*fn)(void *), void *arg)
{
    atomic_store(&on_failure_arg[call], arg);
    atomic_store(&on_failure[call], fn);
}

unsigned tl_sysfail_failures(sysfail_call call)
{
    return atomic_load(&failed[call]);
}
