/* Held DTLS/TLS writes: see tx_held.h. */
#include "base/alloc.h"
#include "core/core.h"

#include <string.h>

#include <openssl/err.h>

int tl_conn_tx_init(tickless_conn *c)
{
    c->tx.off = c->tx.len = 0;
    c->tx.buf = NULL;
    if (c->proto == CONN_QUIC)
        return 0;
    c->tx.buf = tl_malloc(TX_HELD_MAX);
    return c->tx.buf != NULL ? 0 : TICKLESS_ERR_NOMEM;
}

void tl_conn_tx_free(tickless_conn *c)
{
    tl_free(c->tx.buf);
    c->tx.buf = NULL;
}

void tl_conn_tx_hold(tickless_conn *c, const unsigned char *chunk, size_t len,
                     unsigned want)
{
    memcpy(c->tx.buf, chunk, len);
    c->tx.off = 0;
    c->tx.len = len;
    c->tx.want = want;
}

int tl_conn_tx_flush(tickless_conn *c)
{
    while (c->tx.len > 0) {
        size_t n = 0;
        int rc;

        ERR_clear_error();
        /* The same bytes, the same length: OpenSSL's retry contract. */
        if (!SSL_write_ex(c->ssl, c->tx.buf + c->tx.off, c->tx.len, &n)) {
            rc = tl_conn_ssl_result(c, c->ssl, 0);
            if (rc > 0)
                c->tx.want = (unsigned)rc;
            return rc;
        }
        c->tx.off += n;
        c->tx.len -= n;
    }
    return 0;
}

void tl_conn_tx_step(tickless_conn *c)
{
    if (c->tx.len == 0 || conn_is_closed(c) || c->fatal)
        return;
    if (tl_conn_tx_flush(c) == TICKLESS_ERR_EOF)
        tl_conn_make_fatal(c, TICKLESS_ERR_PEER);
}
