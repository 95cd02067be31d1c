/* Handles: how a public call knows what it was given, and how it enters it.
 *
 * Handles that outlive their object
 * ---------------------------------
 * Every public object (pool, connection, listener, stream) starts with a
 * |handle|: a tag that says what it is while it is alive, changed to a dead
 * tag when the application gives the handle back (tickless_conn_close(),
 * tickless_pool_free(), ...), and the fork() generation it was made in
 * (below). Its memory is then not returned to malloc at once: it
 * waits in a quarantine of the last HANDLE_QUARANTINE objects freed, so a
 * late call still reads a dead tag (well-defined, and clean under ASan and
 * Valgrind) and is refused with TICKLESS_ERR_INVALID and a log line
 * instead of being followed.
 *
 * What cannot be caught: a handle used after its memory left the
 * quarantine (freed, or reused by a newer object), and a call that races
 * with the free of a pool or listener (no call may: see tickless.h,
 * "Handles given back"). Both remain undefined behaviour, as any use after
 * free.
 *
 * Entering a handle
 * -----------------
 * Every public call that takes a handle's lock enters it through
 * tl_handle_enter(), the one guard, in one order:
 *
 *  1. the handle: NULL, given back or of another kind is
 *     TICKLESS_ERR_INVALID (logged as a misuse); made before a fork() is
 *     TICKLESS_ERR_FORKED. Before anything of the object is touched: in a
 *     forked child its lock may be held for ever by a thread the child
 *     does not have, so this check cannot wait until after the lock.
 *  2. a reference, taken only while the count is above zero
 *     (tl_ref_take_live()): an object whose last reference is already
 *     gone, being freed by a close that won the race, is
 *     TICKLESS_ERR_CLOSED. The reference keeps the memory alive while the
 *     call waits for the lock and a close runs meanwhile. Pools have no
 *     count: no call may race their free, so the caller's own handle
 *     keeps them alive.
 *  3. the lock. The engine mutexes are error-checking: a thread that holds
 *     one through tickless_conn_lock() and calls back in gets EDEADLK,
 *     which is TICKLESS_ERR_INVALID, or, for the calls that must work
 *     inside a lock section (the closes, tickless_stream_peer_error()),
 *     HANDLE_HELD: the section's hold serves, and the guard never lets
 *     it go. Any other failure is TICKLESS_ERR_SYS.
 *  4. closed: an object closed meanwhile is TICKLESS_ERR_CLOSED, unless
 *     the call reads what a closed object still has (statistics, the
 *     error record) or is a close itself (HANDLE_CLOSED_OK).
 *
 * On failure the guard has given back whatever it took. On success the
 * caller leaves through tl_handle_exit(), which lets the lock go (unless
 * HANDLE_HELD) and then the reference.
 *
 * fork()
 * ------
 * The child of a fork() gets a copy of every tickless object but none of
 * the threads that ran them, and maybe mutexes that a thread it does not
 * have was holding: using those objects would deadlock or corrupt memory.
 * So each handle records the generation of the process it was made in;
 * the child starts a new generation (pthread_atfork), and step 1 refuses
 * a handle of an older one with TICKLESS_ERR_FORKED without touching its
 * lock. The parent is not affected; the child may make objects of its
 * own, and exec() as usual. */
#ifndef TICKLESS_BASE_HANDLE_H
#define TICKLESS_BASE_HANDLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* How many freed objects wait before their memory goes back to malloc. A
 * few hundred KiB at most, whatever the number of connections. */
#define HANDLE_QUARANTINE 128

typedef enum handle_kind {
    HANDLE_POOL = 0x6c6f6f70u,     /* "pool" */
    HANDLE_CONN = 0x6e6e6f63u,     /* "conn" */
    HANDLE_LISTENER = 0x6e74736cu, /* "lstn" */
    HANDLE_STREAM = 0x6d727473u    /* "strm" */
} handle_kind;

struct handle_class;

/* The first member of every public object. */
typedef struct handle {
    _Atomic uint32_t tag; /* a handle_kind while live; ~kind once dead */
    unsigned fork_gen;    /* the fork() generation at creation */
    const struct handle_class *cls; /* how the guard enters it; NULL: it
                                       is never entered (a listener, whose
                                       calls enter its engine) */
} handle;

/* Marks a new object of |kind| live, made in this process, entered as
 * |cls| says (NULL: never entered). */
void tl_handle_init(handle *h, handle_kind kind,
                    const struct handle_class *cls);

/* Whether |h| is a live object of |kind|. When not, reports it through the
 * log callback as a misuse by |fn| (the public function called) and
 * returns 0. |h| must not be NULL. */
int tl_handle_live(const handle *h, handle_kind kind, const char *fn);

/* Step 1 of the guard alone, for calls that take no lock: 0, or
 * TICKLESS_ERR_INVALID (NULL, dead, another kind: the last two logged as
 * the misuse of |fn|) or TICKLESS_ERR_FORKED. */
int tl_handle_check(const handle *h, handle_kind kind, const char *fn);

/* Marks |h| dead: from now on tl_handle_live() refuses it. */
void tl_handle_kill(handle *h);

/* Frees |obj|, an object whose handle is dead, through the quarantine:
 * the object freed HANDLE_QUARANTINE calls ago is what really goes back
 * to malloc now. Lock-free, so it is safe in a forked child too. */
void tl_handle_release(void *obj);

/* A reference taken only while the count is above zero: 1 if taken, 0 if
 * the object is already on its way out (the count reached zero). */
int tl_ref_take_live(atomic_uint *refs);

/* What the guard needs to know of one kind of handle; one static const
 * each (conn.c, stream.c, pool.c), given to tl_handle_init(). |obj| is
 * the object, whose first member is its handle. */
typedef struct handle_class {
    /* What keeps |obj| alive, a count never raised from zero again; NULL:
     * none (a pool) */
    atomic_uint *(*refs)(void *obj);
    void (*unref)(void *obj);            /* gives one back; may free */
    pthread_mutex_t *(*mu)(void *obj);   /* the lock that guards |obj| */
    int (*closed)(void *obj);            /* under that lock */
    void (*unlock)(void *obj);           /* lets it go */
} handle_class;

/* tl_handle_enter() flags. */
#define HANDLE_MAY_HOLD 0x1u   /* this thread's lock section serves */
#define HANDLE_CLOSED_OK 0x2u  /* a closed object is entered all the same */

/* The lock was this thread's already (HANDLE_MAY_HOLD only): held
 * through tickless_conn_lock() or, for tl_handle_lock() in a teardown, by
 * the call that tears down. The holder lets it go, not the guard. */
#define HANDLE_HELD 1

/* The guard (see above), for an object that must be a |kind|. Returns 0
 * or HANDLE_HELD, holding a reference and the lock; or
 * TICKLESS_ERR_INVALID, _FORKED, _CLOSED or _SYS, holding nothing. |fn| is
 * the public function, for the misuse log. */
int tl_handle_enter(void *obj, handle_kind kind, const char *fn,
                    unsigned flags);

/* Leaves what tl_handle_enter() entered; |entered| is what it returned:
 * the lock is let go unless it was HANDLE_HELD, then the reference, which
 * may free |obj|. */
void tl_handle_exit(void *obj, int entered);

/* Step 3 alone, for the few that lock an object they hold a reference on
 * but do not enter (a member's or a stream's last reference, the assist's
 * detach): 0 (locked), HANDLE_HELD (with HANDLE_MAY_HOLD), or
 * TICKLESS_ERR_INVALID / _SYS. */
int tl_handle_lock(pthread_mutex_t *mu, unsigned flags);

#endif
