/*
 * report: how a run says what went wrong.
 *
 * Every check that fails calls fail(): the message is printed at once (with
 * the run's seed, so a log line alone identifies the run) and counted; the
 * run's process exits non-zero at its end. A hang cannot wait for the end:
 * hang() prints every worker's last call and aborts.
 */
#ifndef TORTURE_REPORT_H
#define TORTURE_REPORT_H

#include "torture.h"

namespace torture {

void report_init(const Config &c);
/* A failed check: printf-style message, one line. Thread-safe. */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A note that is not a failure (e.g. what a run did). */
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int failures();

/* What a run did, printed at its end so that a pass means something. */
enum Counter { C_CONNS, C_CALLS, C_TIMEOUTS, C_ERRORS, C_CLOSES, C_GRACEFUL,
               C_WRITTEN, C_READ, C_PEER_RX, C_PEER_TX,
               /* closes made inside a lock section (op_lock); duplex
                * connections (scenario.cc); TLS writes in progress for a
                * second or more, held against the peer's quiet spells */
               C_LOCK_CLOSES, C_DUPLEX, C_LONG_WRITES,
               /* stream mode: what its checks had to bite on */
               C_STREAMS, C_BLOCKED_WRITES, C_MULTI_BLOCKED, C_RESET_READS,
               C_STOP_WRITES, C_RESET_BOTH, C_ENDS_UNDER_WRITE,
               /* server scenarios (srv.h) */
               C_LISTENERS, C_SERVED, C_SERVER_ENDS, C_ACCEPT_CLOSED, C_COUNT_ };
void count(Counter c, uint64_t n = 1);
void count_code(int rc);
void print_counts();
/* Prints the message and the replay line, then aborts the run. */
[[noreturn]] void hang(const char *what);

} // namespace torture

#endif
