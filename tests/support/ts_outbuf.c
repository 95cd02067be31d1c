/* A byte queue for echo output: see ts_outbuf.h. */
#include "ts_outbuf.h"

#include <stdlib.h>
#include <string.h>

int ts_outbuf_append(ts_outbuf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (b->off + b->len + n > b->cap) {
        /* Grow to at least twice what it will hold, then slide the live
         * bytes to the front: each slide is paid for by as many bytes
         * consumed since the last one (sliding a nearly full buffer on
         * every append would copy it all per append). */
        size_t cap = b->cap ? b->cap : 16384;

        while (cap < 2 * (b->len + n))
            cap *= 2;
        if (cap > b->cap) {
            uint8_t *d = realloc(b->data, cap);

            if (d == NULL)
                return -1;
            b->data = d;
            b->cap = cap;
        }
        if (b->off > 0) {
            memmove(b->data, b->data + b->off, b->len);
            b->off = 0;
        }
    }
    memcpy(b->data + b->off + b->len, p, n);
    b->len += n;
    return 0;
}

void ts_outbuf_consume(ts_outbuf *b, size_t n)
{
    b->off += n;
    b->len -= n;
    if (b->len == 0)
        b->off = 0;
}

void ts_outbuf_free(ts_outbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}
