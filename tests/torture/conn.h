/*
 * conn: one incarnation of a connection slot. A slot's connection is made,
 * tortured by its worker threads until one of them closes it (or the run
 * ends), checked, and made anew.
 *
 * It holds the tickless handle, its peer, the gate that keeps calls from
 * starting once a close has begun, and the ledger of what every call was
 * told (bytes credited to writes, bytes returned by reads) that the
 * verifier holds against what the peer saw.
 */
#ifndef TORTURE_CONN_H
#define TORTURE_CONN_H

#include <tickless/tickless.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "peer.h"
#include "torture.h"

namespace torture {

/* One tickless_conn_write() as it was told: writer |w|'s call |seq| wrote
 * stream offsets [off, off + len) and was credited |nw| of them. */
struct WriteCall {
    unsigned w;
    uint32_t seq;
    uint64_t off;
    size_t len;
    size_t nw;
    int rc;
};

/* A TLS write that was in progress for a second or more (t0, t1: when
 * the call began and returned), for the check that the peer, reading,
 * kept receiving meanwhile (verify.cc). */
struct LongWrite {
    int worker;
    uint64_t t0, t1;
    int rc;
    size_t len, nw;
};

/* One call of a TLS connection's workers, when and how it ended: a stall's
 * report lists those around it. */
struct CallRec {
    int worker;
    const char *fn;
    int timeout;
    uint64_t t0, t1;
    int rc;
};

/* A read's bytes, located in the peer's stream; short ones cannot be
 * located alone and keep their bytes for the end. */
struct ReadPiece {
    uint64_t off;
    size_t len;
    std::vector<uint8_t> bytes; /* only for pieces shorter than 15 bytes */
};

/* A read or write on a QUIC stream, timed, for the checks that relate it
 * to what the peer or another worker did to the stream meanwhile. */
struct StreamCall {
    bool write;
    int worker;
    uint64_t t0, t1;
    int rc;
    int timeout;
    size_t len, n;
    uint64_t cpu_ns; /* the calling thread's CPU time during the call */
};

/* One tickless_stream of an incarnation (stream mode), and its ledger.
 * The handle may be used only between sgate_enter() and sgate_exit()
 * (sops.cc), as the connection is between gate_enter() and gate_exit(). */
struct StreamEntry {
    tickless_stream *s = nullptr;
    uint64_t id = UINT64_MAX;
    bool local = true;            /* we opened it */
    bool can_read = true, can_write = true;
    uint64_t key_w = 0, key_rx = 0; /* our writers' / the peer's pattern */
    std::atomic<bool> closing{false};
    std::atomic<bool> ended{false}; /* we concluded or reset it */
    std::atomic<int> writing{0};    /* workers inside a write on it */
    std::atomic<uint64_t> close_ns{0}; /* when its close began */
    /* Per worker: its writer stream on this stream (that worker's only). */
    std::vector<uint64_t> w_off;
    std::vector<uint32_t> w_seq;
    /* Guarded by Incarnation::mu. */
    uint64_t ended_t0 = 0, ended_t1 = 0; /* our first successful conclude
                                            or reset: when it started and
                                            returned */
    bool ended_by_reset = false;
    std::vector<WriteCall> writes;
    std::vector<ReadPiece> reads;
    std::vector<StreamCall> calls;
    std::vector<uint64_t> peer_codes; /* tickless_stream_peer_error() = 1 */
    bool read_eof = false;
};

struct WorkerState;

struct Incarnation {
    Config cfg;
    int slot = 0, index = 0;
    bool server_role = false; /* tickless is the server */
    bool misbehave = false;   /* its peer hangs up after the hello */
    /* Its personality, so that some connections live long with one writer
     * and a quiet peer, others die under locks and closes at once. */
    unsigned close_weight = 1; /* how often its workers close it */
    unsigned lock_weight = 80;
    unsigned idle_weight = 50; /* high: an application that mostly does
                                  other work, leaving the connection to
                                  its assist */
    unsigned io_weight = 240;  /* reads, and writes of the writers */
    int writers = 1;           /* workers with id < writers write */
    int active = 64;           /* workers with id < active call at all: a
                                  connection with one reader and one writer
                                  and nobody else to wake them */
    /* A duplex connection: worker 0 only writes, worker 1 only reads, with
     * long timeouts, against a peer that sends rarely or never and reads
     * in long spells: a reader blocks a long time while a writer fills
     * the socket and waits for room (issue 15, failure 5). */
    bool duplex = false;
    tickless_conn *c = nullptr;
    uint64_t key_w = 0;       /* tickless writers' pattern key */
    Peer peer;

    /* The gate: a call may start only while |closing| is false; see
     * gate_enter() and close_conn() in ops.cc. */
    std::atomic<bool> closing{false};
    std::atomic<bool> closed{false};
    std::atomic<uint64_t> close_begin_ns{0};
    std::atomic<bool> quiesce{false}; /* the run is over: no new calls */
    std::atomic<bool> fatal{false};   /* some call saw PEER/SSL/SYS */
    std::atomic<bool> shutdown_ok{false};
    std::vector<WorkerState *> workers;

    /* The ledger. */
    std::mutex mu;
    std::vector<WriteCall> writes;
    std::vector<LongWrite> long_writes;
    std::vector<CallRec> calls; /* TLS */
    std::vector<ReadPiece> reads;
    std::set<int64_t> dgrams_read;
    std::vector<uint64_t> conn_keys; /* qserver client: its streams' keys */
    std::vector<std::shared_ptr<StreamEntry>> streams;
    std::atomic<bool> shutdown_begun{false};
    std::atomic<uint64_t> shutdown_ns{0}; /* when a shutdown began */
    /* When the first call that found the connection failed returned. */
    std::atomic<uint64_t> first_fatal_ns{UINT64_MAX};
};

/* Makes the sockets, both SSL objects, the tickless connection on |pool|
 * (NULL: dedicated) and starts the peer. 0, or -1 after fail(). */
int conn_setup(Incarnation *inc, tickless_pool *pool, SSL_CTX *server_ctx,
               SSL_CTX *client_ctx);

/* After the connection is closed and the peer joined: the checks of
 * verify.cc on this incarnation's ledger and the peer's record. */
void verify_incarnation(Incarnation *inc);

/* Stream mode (sops.cc): one random operation on |inc| or its streams;
 * and at the end, the close of every stream still open. */
void stream_op(Incarnation *inc, WorkerState *ws);
void close_all_streams(Incarnation *inc);
/* A stream's gate, as gate_enter() is the connection's: false once its
 * close has begun. close_stream() closes |e| once, after its users have
 * entered the library; the server scenarios (srv_quic.cc) use them too. */
bool sgate_enter(Incarnation *inc, WorkerState *ws, StreamEntry *e);
void sgate_exit(WorkerState *ws);
void close_stream(Incarnation *inc, StreamEntry *e, WorkerState *self);

} // namespace torture

#endif
