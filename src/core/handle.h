/* Handles that outlive their object: catching a pool, connection,
 * listener or stream used after it was freed or closed.
 *
 * Every public object carries a tag that says what it is while it is alive,
 * and is changed to a dead tag when the application gives the handle back
 * (tickless_conn_close(), tickless_pool_free(), ...). Its memory is then not
 * returned to malloc at once: it waits in a quarantine of the last
 * HANDLE_QUARANTINE objects freed, so a late call still reads a dead tag
 * (well-defined, and clean under ASan and Valgrind) and is refused with
 * TICKLESS_ERR_INVALID and a log line instead of being followed.
 *
 * What cannot be caught: a handle used after its memory left the
 * quarantine (freed, or reused by a newer object), and a call that races
 * with the close of its own handle. Both remain undefined behaviour, as
 * any use after free. */
#ifndef TICKLESS_CORE_HANDLE_H
#define TICKLESS_CORE_HANDLE_H

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

typedef struct handle {
    _Atomic uint32_t tag; /* a handle_kind while live; ~kind once dead */
} handle;

/* Marks a new object of |kind| live. */
void tl_handle_init(handle *h, handle_kind kind);

/* Whether |h| is a live object of |kind|. When not, reports it through the
 * log callback as a misuse by |fn| (the public function called) and
 * returns 0. |h| must not be NULL. */
int tl_handle_live(const handle *h, handle_kind kind, const char *fn);

/* Marks |h| dead: from now on tl_handle_live() refuses it. */
void tl_handle_kill(handle *h);

/* Frees |obj|, an object whose handle is dead, through the quarantine:
 * the object freed HANDLE_QUARANTINE calls ago is what really goes back
 * to malloc now. Lock-free, so it is safe in a forked child too. */
void tl_handle_release(void *obj);

#endif
