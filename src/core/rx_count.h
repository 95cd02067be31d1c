/* Counting the datagrams a QUIC engine takes off its socket.
 *
 * In OpenSSL's default (implicit) event mode every QUIC call may tick the
 * engine, and a tick reads whatever the socket holds. When one application
 * thread's call does that, the datagram another blocked thread waits for is
 * consumed without the assist ever seeing the socket readable: the sleeper
 * would stay asleep until the next timer. Counting receptions on the
 * connection's network BIO tells the caller that its call did consume
 * input, so it wakes the others (see conn_io.c). */
#ifndef TICKLESS_CORE_RX_COUNT_H
#define TICKLESS_CORE_RX_COUNT_H

#include <stdatomic.h>
#include <stdint.h>

#include <openssl/bio.h>

typedef struct rx_count {
    atomic_uint_fast64_t datagrams; /* received through |bio| so far */
    BIO *bio;                       /* watched; a reference is held */
    BIO_callback_fn_ex chained;     /* the application's own callback */
} rx_count;

/* Starts counting receptions on |bio| (a reference is taken), keeping any
 * callback the application set. Returns 0 or TICKLESS_ERR_NOMEM. Without
 * BIO_recvmmsg (OpenSSL < 3.2) there is nothing to count: returns 0. */
int tl_rx_count_watch(rx_count *rc, BIO *bio);

/* Stops counting and gives the BIO its own callback back. Idempotent. */
void tl_rx_count_unwatch(rx_count *rc);

static inline uint64_t rx_count_get(rx_count *rc)
{
    return atomic_load_explicit(&rc->datagrams, memory_order_relaxed);
}

#endif
