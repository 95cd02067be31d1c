/* ts_util: see ts_util.h. */
#include "ts_util.h"

#include <errno.h>
#include <time.h>

uint64_t ts_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void ts_sleep_ms(unsigned ms)
{
    struct timespec req = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

    /* nanosleep writes the remainder back, so a signal just resumes it. */
    while (nanosleep(&req, &req) != 0 && errno == EINTR)
        ;
}

uint64_t ts_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/*
 * Byte i of the stream is byte (i mod 8) of splitmix64 applied to i / 8: one
 * hash per 8 bytes keeps filling fast enough for benchmarks.
 */
static uint64_t pattern_word(uint64_t word_index)
{
    uint64_t state = word_index;

    return ts_splitmix64(&state);
}

void ts_fill_pattern(uint8_t *buf, size_t len, uint64_t offset)
{
    size_t i = 0;

    while (i < len) {
        uint64_t pos = offset + i;
        uint64_t w = pattern_word(pos >> 3);
        unsigned k;

        for (k = (unsigned)(pos & 7); k < 8 && i < len; k++, i++)
            buf[i] = (uint8_t)(w >> (k * 8));
    }
}

size_t ts_check_pattern(const uint8_t *buf, size_t len, uint64_t offset)
{
    size_t i = 0;

    while (i < len) {
        uint64_t pos = offset + i;
        uint64_t w = pattern_word(pos >> 3);
        unsigned k;

        for (k = (unsigned)(pos & 7); k < 8 && i < len; k++, i++)
            if (buf[i] != (uint8_t)(w >> (k * 8)))
                return i;
    }
    return len;
}
