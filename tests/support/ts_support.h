/*
 * ts_support: the tickless test support library in one include.
 *
 * Real OpenSSL, real sockets on 127.0.0.1, no mocks:
 *  - ts_util.h   clocks, sleeping, a position-checkable byte pattern
 *  - ts_net.h    loopback socket helpers
 *  - ts_certs.h  a generated identity, client/server contexts, client SSLs
 *  - ts_server.h in-process QUIC/DTLS/TLS echo and sink servers
 *  - ts_relay.h  a UDP relay with seeded loss, delay, reordering, duplication
 */
#ifndef TS_SUPPORT_H
#define TS_SUPPORT_H

#include "ts_certs.h"
#include "ts_net.h"
#include "ts_relay.h"
#include "ts_server.h"
#include "ts_util.h"

#endif /* TS_SUPPORT_H */
