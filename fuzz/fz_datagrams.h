/*
 * fz_datagrams: one fuzz input, decoded as datagrams, thrown at a victim
 * (fz_victim.h). Shared by fuzz_quic_datagrams and fuzz_dtls_datagrams.
 *
 * The input is a sequence of records:
 *
 *   op (1 byte) | length (2 bytes, big-endian; 11 bits used) | payload
 *
 * op bits 0-1, where it goes:
 *   0  to the server, from the relay's socket of the real client (the
 *      established connection's 4-tuple)
 *   1  to the client, from the relay's port (the server's 4-tuple)
 *   2  to the server from a stranger: a new peer (QUIC: the listener;
 *      DTLS: a tickless server connection waiting for its ClientHello)
 *   3  no datagram: an echo through the connection now
 * op bits 2-3, what is sent:
 *   0  the payload
 *   1  the latest real datagram that way, cut to payload[0] bytes, then
 *      the rest of the payload (a real header, fuzzed content)
 *   2  the first real datagram that way (QUIC Initial, DTLS ClientHello;
 *      the server's first flight towards the client), with the payload
 *      from byte 2 on XORed in at offset payload[0..1]
 *   3  the same on the latest real datagram that way
 * op bits 4-5: sent 1 + that many times. op bit 6: then 1 ms of quiet
 * (at most 20 per input). Bit 7 is ignored. Each receiving socket is sent
 * at most about 150 KiB (kernel accounting) between two echoes, so that
 * no datagram is lost to a full buffer; the rest of the input is not sent.
 *
 * After the records the connection must echo, or have died as the
 * protocol allows and be reconnected (see fz_victim.h).
 */
#ifndef FZ_DATAGRAMS_H
#define FZ_DATAGRAMS_H

#include <stddef.h>
#include <stdint.h>

#include "fz_victim.h"

void fz_datagrams_run(fz_victim *v, const uint8_t *data, size_t size);

#endif /* FZ_DATAGRAMS_H */
