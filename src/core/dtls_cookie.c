/* DTLS cookies: see dtls_cookie.h. */
#include "core/dtls_cookie.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

int tl_cookie_jar_init(cookie_jar *j, uint64_t now_ns)
{
    if (RAND_bytes(j->secret[0], COOKIE_SECRET_LEN) != 1
        || RAND_bytes(j->secret[1], COOKIE_SECRET_LEN) != 1)
        return -1;
    j->rotated_ns = now_ns;
    return 0;
}

/* A new secret once the current one is a period old; two periods or more:
 * both are replaced, as the previous one is too old to honour. */
static int rotate_if_due(cookie_jar *j, uint64_t now_ns)
{
    uint64_t age = now_ns - j->rotated_ns;

    if (now_ns < j->rotated_ns || age < COOKIE_ROTATE_NS)
        return 0;
    if (age >= 2 * COOKIE_ROTATE_NS) {
        if (RAND_bytes(j->secret[1], COOKIE_SECRET_LEN) != 1)
            return -1;
    } else {
        memcpy(j->secret[1], j->secret[0], COOKIE_SECRET_LEN);
    }
    if (RAND_bytes(j->secret[0], COOKIE_SECRET_LEN) != 1)
        return -1;
    j->rotated_ns = now_ns;
    return 0;
}

static int hmac(const unsigned char *secret, const unsigned char *addr,
                size_t len, unsigned char *out)
{
    size_t n = 0;

    return EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret,
                     COOKIE_SECRET_LEN, addr, len, out, COOKIE_LEN, &n)
                   != NULL
                   && n == COOKIE_LEN
               ? 0
               : -1;
}

int tl_cookie_make(cookie_jar *j, uint64_t now_ns, const unsigned char *addr,
                   size_t len, unsigned char *out)
{
    if (rotate_if_due(j, now_ns) != 0)
        return -1;
    return hmac(j->secret[0], addr, len, out);
}

int tl_cookie_check(cookie_jar *j, uint64_t now_ns, const unsigned char *addr,
                    size_t len, const unsigned char *cookie,
                    size_t cookie_len)
{
    unsigned char want[COOKIE_LEN];
    int i;

    if (cookie_len != COOKIE_LEN || rotate_if_due(j, now_ns) != 0)
        return 0;
    for (i = 0; i < 2; i++)
        if (hmac(j->secret[i], addr, len, want) == 0
            && CRYPTO_memcmp(want, cookie, COOKIE_LEN) == 0)
            return 1;
    return 0;
}
