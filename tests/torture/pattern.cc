/* pattern: see pattern.h. */
#include "pattern.h"

#include <cstring>

namespace torture {

namespace {
/* Inverse of an odd number modulo 2^64 (Newton's iteration). */
constexpr uint64_t inv_odd(uint64_t a)
{
    uint64_t x = a;
    for (int i = 0; i < 6; i++)
        x *= 2 - a * x;
    return x;
}
constexpr uint64_t kM1 = 0xbf58476d1ce4e5b9ull, kM2 = 0x94d049bb133111ebull;
constexpr uint64_t kI1 = inv_odd(kM1), kI2 = inv_odd(kM2);

uint64_t unshift(uint64_t y, int s) /* inverts y = x ^ (x >> s) */
{
    uint64_t x = y;
    for (int i = s; i < 64; i += s)
        x = y ^ (x >> s);
    return x;
}

uint64_t writer_word(uint64_t key, unsigned w, uint32_t seq, uint64_t j)
{
    return mix64(mix64(key ^ ((uint64_t)w << 40) ^ seq) + j);
}
} // namespace

uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * kM1;
    z = (z ^ (z >> 27)) * kM2;
    return z ^ (z >> 31);
}

uint64_t unmix64(uint64_t z)
{
    z = unshift(z, 31) * kI2;
    z = unshift(z, 27) * kI1;
    return unshift(z, 30);
}

static uint8_t byte_of(uint64_t word, uint64_t pos)
{
    return (uint8_t)(word >> (8 * (pos & 7)));
}

void writer_fill(uint8_t *buf, size_t len, uint64_t key, unsigned w,
                 uint32_t seq, uint64_t off)
{
    for (size_t i = 0; i < len;) {
        uint64_t pos = off + i, word = writer_word(key, w, seq, pos >> 3);
        for (; i < len && ((off + i) >> 3) == (pos >> 3); i++)
            buf[i] = byte_of(word, off + i);
    }
}

size_t writer_match(const uint8_t *buf, size_t len, uint64_t key, unsigned w,
                    uint32_t seq, uint64_t off)
{
    for (size_t i = 0; i < len;) {
        uint64_t pos = off + i, word = writer_word(key, w, seq, pos >> 3);
        for (; i < len && ((off + i) >> 3) == (pos >> 3); i++)
            if (buf[i] != byte_of(word, off + i))
                return i;
    }
    return len;
}

void stream_fill(uint8_t *buf, size_t len, uint64_t key, uint64_t off)
{
    for (size_t i = 0; i < len;) {
        uint64_t pos = off + i, word = mix64((pos >> 3) ^ key);
        for (; i < len && ((off + i) >> 3) == (pos >> 3); i++)
            buf[i] = byte_of(word, off + i);
    }
}

bool stream_is_at(const uint8_t *buf, size_t len, uint64_t key, uint64_t off)
{
    for (size_t i = 0; i < len;) {
        uint64_t pos = off + i, word = mix64((pos >> 3) ^ key);
        for (; i < len && ((off + i) >> 3) == (pos >> 3); i++)
            if (buf[i] != byte_of(word, off + i))
                return false;
    }
    return true;
}

int stream_locate(const uint8_t *buf, size_t len, uint64_t key, uint64_t *off)
{
    /* Some index a < 8 starts a whole word at an offset that is a multiple
     * of 8; each candidate is checked against every byte. */
    for (size_t a = 0; a < 8 && a + 8 <= len; a++) {
        uint64_t word;
        memcpy(&word, buf + a, 8); /* little-endian, as byte_of() */
        uint64_t j = unmix64(word) ^ key;
        if (j > (UINT64_MAX >> 4) || j * 8 < a)
            continue;
        uint64_t start = j * 8 - a;
        if (stream_is_at(buf, len, key, start)) {
            *off = start;
            return 0;
        }
    }
    return -1;
}

size_t dgram_len(uint64_t key, uint64_t d)
{
    return 8 + (size_t)(mix64(key ^ (d * 0x9e3779b97f4a7c15ull) ^ 0x5555)
                        % (kDgramMax - 8 + 1));
}

void dgram_fill(uint8_t *buf, uint64_t key, uint64_t d)
{
    size_t n = dgram_len(key, d);
    uint64_t first = mix64(d ^ key);
    memcpy(buf, &first, 8);
    writer_fill(buf + 8, n - 8, key, 0xdd, (uint32_t)d, 0);
}

int64_t dgram_identify(const uint8_t *buf, size_t len, uint64_t key)
{
    if (len < 8)
        return -1;
    uint64_t first;
    memcpy(&first, buf, 8);
    uint64_t d = unmix64(first) ^ key;
    if (d > (uint64_t)INT64_MAX || dgram_len(key, d) != len
        || writer_match(buf + 8, len - 8, key, 0xdd, (uint32_t)d, 0) != len - 8)
        return -1;
    return (int64_t)d;
}

} // namespace torture
