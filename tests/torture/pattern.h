/*
 * pattern: the bytes the harness sends, built so that any received piece
 * tells where it came from.
 *
 * Writer streams (tickless -> peer): writer w's call number s covering
 * stream offsets [off, off + len) carries bytes that depend on (key, w, s,
 * offset). Because the call number is in them, a record that a timed-out
 * call left behind and a later call sent cannot pass for the later call's
 * bytes, even at the same offsets.
 *
 * Peer streams (peer -> tickless): 8-byte word j is a keyed bijection of j,
 * so any piece of 15 bytes or more is located by inverting one word.
 *
 * Peer datagrams (DTLS): datagram d starts with a word that inverts to d;
 * its length and the rest of its bytes follow from (key, d).
 */
#ifndef TORTURE_PATTERN_H
#define TORTURE_PATTERN_H

#include <cstddef>
#include <cstdint>

namespace torture {

uint64_t mix64(uint64_t x);
uint64_t unmix64(uint64_t x);

/* Writer streams. */
void writer_fill(uint8_t *buf, size_t len, uint64_t key, unsigned w,
                 uint32_t seq, uint64_t off);
/* Number of leading bytes of |buf| equal to the writer pattern. */
size_t writer_match(const uint8_t *buf, size_t len, uint64_t key, unsigned w,
                    uint32_t seq, uint64_t off);

/* Peer streams. */
void stream_fill(uint8_t *buf, size_t len, uint64_t key, uint64_t off);
/* Finds the offset of |buf| in the stream; needs len >= 15. Returns 0 with
 * *off set when every byte matches there, -1 otherwise. */
int stream_locate(const uint8_t *buf, size_t len, uint64_t key, uint64_t *off);
/* 1 if |buf| is the stream at |off|. */
bool stream_is_at(const uint8_t *buf, size_t len, uint64_t key, uint64_t off);

/* Peer datagrams: 8 to kDgramMax bytes. */
constexpr size_t kDgramMax = 400;
size_t dgram_len(uint64_t key, uint64_t d);
void dgram_fill(uint8_t *buf, uint64_t key, uint64_t d); /* dgram_len bytes */
/* Returns the datagram number if |buf| is exactly datagram d, else -1. */
int64_t dgram_identify(const uint8_t *buf, size_t len, uint64_t key);

} // namespace torture

#endif
