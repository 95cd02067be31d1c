#include "base/sigpipe.h"

#include <pthread.h>
#include <time.h>

static void sigpipe_set(sigset_t *s)
{
    sigemptyset(s);
    sigaddset(s, SIGPIPE);
}

void tl_sigpipe_block(sigpipe_guard *g)
{
    sigset_t s;

    sigpipe_set(&s);
    pthread_sigmask(SIG_BLOCK, &s, &g->old_mask);
    g->blocked_here = !sigismember(&g->old_mask, SIGPIPE);
}

void tl_sigpipe_restore(sigpipe_guard *g)
{
    sigset_t s, pending;
    struct timespec zero = { 0, 0 };

    if (!g->blocked_here)
        return;
    /* A SIGPIPE that our write raised is pending on this thread: take it,
     * so unblocking does not deliver it. */
    if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
        sigpipe_set(&s);
        (void)sigtimedwait(&s, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &g->old_mask, NULL);
}

void tl_sigpipe_block_all_signals(void)
{
    sigset_t all;

    sigfillset(&all);
    /* Synchronous faults must stay deliverable (a crash must still crash). */
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    sigdelset(&all, SIGABRT);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
}
