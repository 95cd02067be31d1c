/* Stateless DTLS cookies (RFC 6347, 4.2.1) for tickless's DTLS listener:
 * an HMAC-SHA256 of the client's address under a secret of the listener,
 * so that only a client that can receive at its address gets any state.
 *
 * The secret is random and replaced every COOKIE_ROTATE_NS: a cookie is
 * accepted under the current secret or the one before, so it lives from
 * one to two periods, enough for a client that retransmits its hello over
 * a lossy path, and a cookie seen on the wire is useless soon after. */
#ifndef TICKLESS_CORE_DTLS_COOKIE_H
#define TICKLESS_CORE_DTLS_COOKIE_H

#include <stddef.h>
#include <stdint.h>

#define COOKIE_SECRET_LEN 32
#define COOKIE_LEN 32 /* HMAC-SHA256; DTLS allows up to 255 */
#define COOKIE_ROTATE_NS (60ull * 1000000000ull)

typedef struct cookie_jar {
    unsigned char secret[2][COOKIE_SECRET_LEN]; /* current, previous */
    uint64_t rotated_ns; /* when secret[0] became current */
} cookie_jar;

/* A fresh jar at time |now_ns|: 0, or -1 if no random bytes were had. */
int tl_cookie_jar_init(cookie_jar *j, uint64_t now_ns);

/* The cookie for the client at |addr| (|len| bytes: family, address and
 * port, as the caller lays them out) at |now_ns|, into |out|
 * (COOKIE_LEN bytes). Returns 0, or -1 (no randomness for a new secret, or
 * HMAC failed). */
int tl_cookie_make(cookie_jar *j, uint64_t now_ns, const unsigned char *addr,
                   size_t len, unsigned char *out);

/* Whether |cookie| (|cookie_len| bytes) is what tl_cookie_make() gives
 * |addr| under the current or the previous secret at |now_ns|. */
int tl_cookie_check(cookie_jar *j, uint64_t now_ns, const unsigned char *addr,
                    size_t len, const unsigned char *cookie,
                    size_t cookie_len);

#endif
