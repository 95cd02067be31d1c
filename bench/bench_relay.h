/*
 * bench_relay.h: a UDP relay in a process of its own that timestamps
 * datagrams and can be told to drop everything. Private to bench/.
 *
 * The client sends to 127.0.0.1:port; the relay forwards to the server and
 * the answers back (one client address: the latest one seen). Nothing is
 * delayed or lost unless asked. It exists to time, from outside the measured
 * process, when that process's QUIC stack put a datagram on the wire:
 *
 *  - a datagram from the client is stamped with the kernel's receive time
 *    (SO_TIMESTAMPNS, converted to CLOCK_MONOTONIC), which on loopback is
 *    the moment the client's sendmsg() handed it over, however late the
 *    relay itself is scheduled;
 *  - a datagram to the client is stamped right after sendto() returned: on
 *    loopback it is then already in the client's socket queue.
 *
 * Why not the test support's ts_relay: it is a thread of the process that
 * starts it (here: the measured client, whose threads and wake-ups must be
 * its own), and it keeps no timestamps. This relay is a single-threaded
 * process with no _Thread_local state (the bench binary must have no TLS
 * segment; see bench_server.c).
 *
 * The relay answers each command on the report pipe (RELAY_DONE with the
 * command's id) once it has taken effect, so a caller that waits for that
 * knows that every datagram it sends afterwards is seen in the new state.
 */
#ifndef TICKLESS_BENCH_RELAY_H
#define TICKLESS_BENCH_RELAY_H

#include <stdint.h>
#include <sys/types.h>

enum relay_op {
    /* Forward everything; remember nothing. The initial state. */
    RELAY_PASS = 1,
    /* Wake: forward everything. From now on, stamp the server's next
     * flight of datagrams to the client (those sent within 5 ms of the
     * first); at the first datagram from the client stamped after one of
     * them, report RELAY_WAKE_SEEN and go back to PASS. */
    RELAY_WAKE,
    /* Rearm: drop everything, both ways, until the next command. Report
     * RELAY_REARM_SEEN at the second datagram from the client (the first
     * is the original, the second the first retransmission). */
    RELAY_DROP
};

typedef struct relay_cmd {
    uint32_t op; /* enum relay_op */
    uint32_t id; /* echoed in the reports it causes */
} relay_cmd;

enum relay_report_kind { RELAY_DONE = 1, RELAY_WAKE_SEEN, RELAY_REARM_SEEN };

/* Times are CLOCK_MONOTONIC nanoseconds, comparable across processes. */
typedef struct relay_report {
    uint32_t kind; /* enum relay_report_kind */
    uint32_t id;
    uint64_t t_a;  /* WAKE: the last datagram of the flight sent to the
                      client before its answer was stamped;
                      REARM: the original datagram from the client */
    uint64_t t_b;  /* WAKE: the client's answer (its ACK); REARM: the
                      first retransmission */
    uint32_t n;    /* WAKE: datagrams of the flight up to t_a; DONE:
                      datagrams from the client a DROP state dropped */
    uint32_t kernel_ts; /* 1 if t_b (and REARM's t_a) are kernel stamps */
} relay_report;

typedef struct bench_relay {
    pid_t pid;      /* 0 when not running */
    uint16_t port;  /* 127.0.0.1:port, UDP: the client connects here */
    int cmd_fd;     /* write relay_cmd here */
    int report_fd;  /* read relay_report here (nonblocking) */
} bench_relay;

/*
 * Forks the relay to 127.0.0.1:|upstream_port| and waits until it reports
 * its port. It dies with the caller (PR_SET_PDEATHSIG). Fork it while
 * single-threaded. Returns 0 with |out| filled, or -1.
 */
int bench_relay_start(uint16_t upstream_port, bench_relay *out);

/*
 * Sends |op| with |id| and waits up to |timeout_ms| for the relay's
 * RELAY_DONE, copied to |done| if not NULL: its n is the number of
 * datagrams from the client that the RELAY_DROP state it ends dropped (0
 * after any other state). Reports of older ids still in the pipe are
 * discarded. Returns 0, or -1 (relay gone or not answering).
 */
int bench_relay_command(bench_relay *r, uint32_t op, uint32_t id,
                        int timeout_ms, relay_report *done);

/*
 * Reads the next report for |id| if one is waiting (never blocks; older
 * ids are discarded). Returns 1 with |out| filled, 0 if none yet, -1 if
 * the relay is gone. Wait for report_fd to turn readable in between.
 */
int bench_relay_poll_report(bench_relay *r, uint32_t id, relay_report *out);

/* Kills the relay process, reaps it and closes the pipes. Safe twice. */
void bench_relay_stop(bench_relay *r);

#endif /* TICKLESS_BENCH_RELAY_H */
