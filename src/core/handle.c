#include "core/handle.h"

#include "core/alloc.h"
#include "core/log.h"

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

void tl_handle_init(handle *h, handle_kind kind)
{
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
