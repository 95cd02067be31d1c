/*
 * A byte queue for echo output: appended at the end, consumed at the front.
 * Owned by one connection, so by one thread. Shared by the test servers
 * and the benchmark's echo server.
 */
#ifndef TS_OUTBUF_H
#define TS_OUTBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct ts_outbuf {
    uint8_t *data;
    size_t off, len, cap; /* bytes [off, off + len) are pending */
} ts_outbuf;

int ts_outbuf_append(ts_outbuf *b, const void *p, size_t n); /* 0 or -1 */
void ts_outbuf_consume(ts_outbuf *b, size_t n);
void ts_outbuf_free(ts_outbuf *b);

#endif
