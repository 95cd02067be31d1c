#include "base/handle.h"

#include "base/alloc.h"
#include "base/log.h"
#include "tickless/tickless.h"

#include <errno.h>
#include <pthread.h>

/* A ring of the objects freed last. Each slot is taken with one atomic
 * add and swapped with one exchange: no lock, so neither a fork() nor a
 * signal can leave it held. At exit the objects still here are reachable
 * through the ring, which LSan and Valgrind do not count as leaks. */
static _Atomic(void *) quarantine[HANDLE_QUARANTINE];
static atomic_uint quarantine_next;

static const char *kind_name(uint32_t kind)
{
    switch (kind) {
    case HANDLE_POOL: return "pool";
    case HANDLE_CONN: return "connection";
    case HANDLE_LISTENER: return "listener";
    case HANDLE_STREAM: return "stream";
    default: return NULL;
    }
}

/* This process's fork() generation (handle.h, "fork()"). */
static atomic_uint fork_generation;
static pthread_once_t fork_handler_armed = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
    atomic_fetch_add(&fork_generation, 1);
}

static void arm_fork_handler(void)
{
    /* Cannot fail short of ENOMEM at start-up; then a child would not be
     * protected, which is no worse than before. */
    (void)pthread_atfork(NULL, NULL, on_fork_child);
}

void tl_handle_init(handle *h, handle_kind kind, const handle_class *cls)
{
    pthread_once(&fork_handler_armed, arm_fork_handler);
    h->fork_gen = atomic_load(&fork_generation);
    h->cls = cls;
    atomic_store_explicit(&h->tag, (uint32_t)kind, memory_order_release);
}

int tl_handle_live(const handle *h, handle_kind kind, const char *fn)
{
    uint32_t tag = atomic_load_explicit(&h->tag, memory_order_acquire);

    if (tag == (uint32_t)kind)
        return 1;
    /* The dead handle is not passed to the callback: it must not be used. */
    if (tag == ~(uint32_t)kind)
        tl_log(TICKLESS_LOG_ERROR, NULL,
               "%s: this %s was already closed or freed", fn, kind_name(kind));
    else if (kind_name(tag) != NULL)
        tl_log(TICKLESS_LOG_ERROR, NULL, "%s: given a %s, not a %s", fn,
               kind_name(tag), kind_name(kind));
    else if (kind_name(~tag) != NULL)
        tl_log(TICKLESS_LOG_ERROR, NULL,
               "%s: given a closed %s, not a %s", fn, kind_name(~tag),
               kind_name(kind));
    else
        tl_log(TICKLESS_LOG_ERROR, NULL, "%s: not a tickless %s", fn,
               kind_name(kind));
    return 0;
}

int tl_handle_check(const handle *h, handle_kind kind, const char *fn)
{
    if (h == NULL || !tl_handle_live(h, kind, fn))
        return TICKLESS_ERR_INVALID;
    return h->fork_gen != atomic_load_explicit(&fork_generation,
                                               memory_order_relaxed)
               ? TICKLESS_ERR_FORKED
               : 0;
}

void tl_handle_kill(handle *h)
{
    uint32_t tag = atomic_load_explicit(&h->tag, memory_order_relaxed);

    atomic_store_explicit(&h->tag, ~tag, memory_order_release);
}

void tl_handle_release(void *obj)
{
    unsigned slot = atomic_fetch_add_explicit(&quarantine_next, 1,
                                              memory_order_relaxed)
                    % HANDLE_QUARANTINE;

    tl_free(atomic_exchange_explicit(&quarantine[slot], obj,
                                     memory_order_acq_rel));
}

int tl_ref_take_live(atomic_uint *refs)
{
    unsigned n = atomic_load_explicit(refs, memory_order_relaxed);

    do {
        if (n == 0)
            return 0;
    } while (!atomic_compare_exchange_weak_explicit(
        refs, &n, n + 1, memory_order_acquire, memory_order_relaxed));
    return 1;
}

int tl_handle_lock(pthread_mutex_t *mu, unsigned flags)
{
    int rc = pthread_mutex_lock(mu);

    if (rc == 0)
        return 0;
    if (rc == EDEADLK) /* this thread is inside tickless_conn_lock() */
        return (flags & HANDLE_MAY_HOLD) ? HANDLE_HELD : TICKLESS_ERR_INVALID;
    return TICKLESS_ERR_SYS;
}

int tl_handle_enter(void *obj, handle_kind kind, const char *fn,
                    unsigned flags)
{
    const handle_class *k;
    atomic_uint *refs;
    int rc;

    /* |obj| NULL is a NULL handle: the handle is its first member. */
    rc = tl_handle_check(obj, kind, fn);
    if (rc != 0)
        return rc;
    k = ((handle *)obj)->cls; /* of a live |kind|: the class it was made with */
    refs = k->refs != NULL ? k->refs(obj) : NULL;
    if (refs != NULL && !tl_ref_take_live(refs))
        return TICKLESS_ERR_CLOSED;
    rc = tl_handle_lock(k->mu(obj), flags);
    if (rc < 0) {
        if (refs != NULL)
            k->unref(obj);
        return rc;
    }
    if (!(flags & HANDLE_CLOSED_OK) && k->closed(obj)) {
        tl_handle_exit(obj, rc);
        return TICKLESS_ERR_CLOSED;
    }
    return rc;
}

void tl_handle_exit(void *obj, int entered)
{
    const handle_class *k = ((handle *)obj)->cls;

    if (entered != HANDLE_HELD)
        k->unlock(obj);
    if (k->refs != NULL)
        k->unref(obj);
}
