/* Keeping SIGPIPE away from the application.
 *
 * OpenSSL writes TLS records to a stream socket with write(2); when the peer
 * has reset the connection that raises SIGPIPE, whose default action kills
 * the process. A library must not do that to its user, and must not change
 * the process-wide disposition either (that belongs to the application). So
 * around each OpenSSL call on a TLS connection the calling thread blocks
 * SIGPIPE, and afterwards consumes one that the call raised, before
 * restoring its mask: the write then just fails with EPIPE. Assist threads
 * block all signals for their whole life instead. */
#ifndef TICKLESS_BASE_SIGPIPE_H
#define TICKLESS_BASE_SIGPIPE_H

#include <signal.h>

typedef struct sigpipe_guard {
    sigset_t old_mask;
    int blocked_here; /* 0 if SIGPIPE was already blocked by the caller */
} sigpipe_guard;

void tl_sigpipe_block(sigpipe_guard *g);
void tl_sigpipe_restore(sigpipe_guard *g);

/* Blocks every asynchronous signal on the calling (assist) thread, so that
 * the application's handlers run on the application's own threads. */
void tl_sigpipe_block_all_signals(void);

#endif
