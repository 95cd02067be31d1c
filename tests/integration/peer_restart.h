// Shared by the tests of a peer restarting on the same port
// (peer_restart_test.cc, peer_restart_in_flight_test.cc): the restart
// itself, the bounds a call must keep on a connection whose peer
// restarted, and the verdict it must reach.
//
// How: ts_server_stop(), then at once ts_server_start() on the port it
// had. That is what a server process that dies and is started again looks
// like from the client: the old connections vanish without a word (no
// CONNECTION_CLOSE, no alert; TCP gets the FIN that the kernel sends for a
// process that exits), and the new server, with new keys, knows none of
// them. The client's datagrams now reach a server that cannot read them.
#ifndef TICKLESS_TESTS_PEER_RESTART_H
#define TICKLESS_TESTS_PEER_RESTART_H

#include "harness.h"

#include <string>

// Short, so that each case takes a few seconds: OpenSSL declares a silent
// QUIC peer gone after max(this, 3 PTO), and sends keep-alive PINGs in
// between, so a healthy connection never reaches it.
constexpr uint64_t kQuicIdleMs = 1500;

// How long a call on a connection whose peer restarted may wait for the
// verdict. QUIC and TLS must report PEER before it (by the idle timeout, by
// the FIN): reaching it is a failure. DTLS reads end here.
int VerdictTimeoutMs(ts_proto p);

// The latest a call may return after the restart: QUIC by its idle
// timeout (OpenSSL may stretch it to 3 PTOs, tens of ms on loopback), DTLS
// by the call's own timeout, TLS at once (the FIN is already there); each
// with slack for a loaded machine.
double DeadlineMs(ts_proto p);

// The clients' SSL tweak: fast DTLS retransmissions, the short QUIC idle
// timeout.
SslTweak ClientTweak();

// A test server of |proto| on |port| (0: any); nullptr, with a test
// failure added, on failure.
ts_server *StartOn(ts_proto proto, uint16_t port);

// The restart: the old server's state is lost, a new one binds its port.
ts_server *Restart(ts_server *old, ts_proto proto);

// A call's outcome for the log: its error, how long it took and the
// connection's error message.
std::string Describe(tickless_conn *c, int rc, double ms);

// Prints |what| happened to |v|'s connection.
void Report(const Variant &v, const std::string &what);

// The verdict on a call made on a connection whose peer has restarted.
void ExpectLost(ts_proto p, int rc);

// Reads until |len| bytes of the pattern at |offset| came back or a call
// fails; *got says how many came. Every byte is checked: a mismatch fails
// the test. Returns 0 or the failing call's error.
int ReadUpTo(tickless_conn *c, uint64_t offset, size_t len, int timeout_ms,
             size_t *got);

#endif
