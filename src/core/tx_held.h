/* Bytes a DTLS/TLS write was credited with that OpenSSL has not taken yet.
 *
 * When SSL_write_ex() says WANT_WRITE, OpenSSL may already have encrypted
 * the chunk into a record it could not send, and its documented contract
 * is that the next SSL_write_ex() on the object repeats the same bytes:
 * with SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER it does not even look at the
 * buffer then, but sends the held record and reports it as that call's.
 * Left to whoever writes next, the record would be credited to another
 * writer (who then loses as many bytes of its own), or fail with
 * BAD_WRITE_RETRY if the next write is shorter.
 *
 * So tickless keeps the contract itself. The chunk that met WANT_WRITE is
 * copied here and credited to its write call at once: those bytes will
 * reach the peer, ahead of anything written later, for as long as the
 * connection lives. Every later SSL_write_ex(), SSL_shutdown() and the
 * assist's readiness tick first repeats the held bytes, exactly as they
 * were, until OpenSSL has taken them; meanwhile the assist watches the
 * socket for room, so they go out even if nobody writes again.
 *
 * QUIC needs none of this: its SSL_write_ex() copies what fits into the
 * stream's buffer and takes nothing it reports as WANT_WRITE. */
#ifndef TICKLESS_CORE_TX_HELD_H
#define TICKLESS_CORE_TX_HELD_H

#include <stddef.h>

/* The largest chunk a DTLS/TLS write hands to one SSL_write_ex(): one
 * full TLS record, the most OpenSSL may hold back. */
#define TX_HELD_MAX 16384

typedef struct tx_held {
    unsigned char *buf; /* TX_HELD_MAX bytes; DTLS/TLS only, else NULL */
    size_t off, len;    /* held: buf[off .. off + len) */
    unsigned want;      /* IO_READ, IO_WRITE or CONN_RETRY: what the
                           last attempt to hand them over waited for */
} tx_held;

#endif
