#include "core/ossl.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <openssl/err.h>

#include "base/clock.h"
#include "tickless/tickless.h"

/* QUIC's SSL_version() on any line, even one built without QUIC support:
 * that is how a 3.0 build recognises a QUIC object it cannot drive. */
#define OSSL_QUIC1_VERSION_VALUE 0xFFFFFF01u

int tl_ossl_classify(SSL *ssl, conn_proto *out)
{
#ifdef TICKLESS_HAVE_QUIC
    if (SSL_is_quic(ssl)) {
# ifdef TICKLESS_HAVE_QUIC_SERVER
        if (SSL_is_listener(ssl))
            return TICKLESS_ERR_INVALID;
# endif
        if (!SSL_is_connection(ssl))
            return TICKLESS_ERR_INVALID; /* a stream object */
        *out = CONN_QUIC;
        return 0;
    }
#else
    if ((unsigned)SSL_version(ssl) == OSSL_QUIC1_VERSION_VALUE)
        return TICKLESS_ERR_UNSUPPORTED;
#endif
    *out = SSL_is_dtls(ssl) ? CONN_DTLS : CONN_TLS;
    return 0;
}

int tl_ossl_socket_fd(SSL *ssl, conn_proto proto)
{
    int fd = -1;
    int type;
    socklen_t len = sizeof(type);
    BIO *rbio;

#ifdef TICKLESS_HAVE_QUIC
    if (proto == CONN_QUIC) {
        BIO_POLL_DESCRIPTOR d;

        if (!SSL_get_rpoll_descriptor(ssl, &d)
            || d.type != BIO_POLL_DESCRIPTOR_TYPE_SOCK_FD)
            return -1;
        fd = d.value.fd;
    }
#endif
    if (proto != CONN_QUIC) {
        rbio = SSL_get_rbio(ssl);
        if (rbio == NULL || BIO_get_fd(rbio, &fd) <= 0)
            return -1;
    }
    /* BIO_get_fd() also answers for file BIOs: insist on a real socket. */
    if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
        return -1;
    if (proto == CONN_TLS && type != SOCK_STREAM)
        return -1;
    if (proto != CONN_TLS && type != SOCK_DGRAM)
        return -1;
    return fd;
}

/*
 * A zero-length datagram is a datagram, not the end of a stream: UDP has
 * none. DTLS drops what is not a valid record (RFC 6347, 4.1.2.7), so one
 * empty datagram from the peer's address must not end the connection.
 * OpenSSL's record layer asks the datagram BIO: a read that returns 0 with
 * no retry flag is BIO_eof() ? "unexpected eof" (fatal, with an alert to
 * the peer) : a failure with nothing queued (SSL_ERROR_SYSCALL). Up to 3.6
 * the datagram BIO never says EOF, so it was the latter, which
 * tl_conn_ssl_result() takes for the empty datagram it is. OpenSSL 4.0's
 * BIO_eof() also answers 1 after any read of 0 bytes (bread_conv() marks
 * the BIO), so the record layer kills the connection before tickless sees
 * a thing. This callback reads such a datagram as "nothing yet, retry":
 * it is consumed, the record layer waits for the next one, on every
 * version. A read that fails (ECONNREFUSED after an ICMP port unreachable)
 * returns -1, not 0, and is left as it is: a peer that is gone is still
 * reported. Stateless, so the BIO may outlive the connection.
 */
static long dgram_empty_is_retry(BIO *b, int oper, const char *argp,
                                 size_t len, int argi, long argl, int ret,
                                 size_t *processed)
{
    (void)argp;
    (void)len;
    (void)argi;
    (void)argl;
    (void)processed;
    if (oper != (BIO_CB_READ | BIO_CB_RETURN) || ret != 0)
        return ret;
    BIO_set_retry_read(b);
    return -1;
}

/* Installs dgram_empty_is_retry() on a DTLS connection's socket BIO. One
 * with a callback of the application's (BIO_set_callback_ex) keeps it:
 * then an empty datagram is left to tl_conn_ssl_result() (3.x), or ends the
 * connection (4.0). (The 3.0-deprecated BIO_set_callback() cannot be
 * asked about without a deprecated call; OpenSSL calls only the _ex one
 * when both are set.) */
static void dgram_hook_empty(SSL *ssl)
{
    BIO *rbio = SSL_get_rbio(ssl);

    if (rbio == NULL || BIO_method_type(rbio) != BIO_TYPE_DGRAM
        || BIO_get_callback_ex(rbio) != NULL)
        return;
    BIO_set_callback_ex(rbio, dgram_empty_is_retry);
}

int tl_ossl_make_nonblocking(SSL *ssl, conn_proto proto, int fd)
{
    int flags;

    SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE
                          | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
#ifdef TICKLESS_HAVE_QUIC
    if (proto == CONN_QUIC) {
        /* OpenSSL's QUIC network BIO is already nonblocking; what must be
         * switched is the SSL object's own blocking emulation. */
        if (!SSL_set_blocking_mode(ssl, 0))
            return TICKLESS_ERR_SSL;
# ifdef SSL_VALUE_EVENT_HANDLING_MODE
        /* Implicit event handling (OpenSSL's default), whatever the
         * application chose: tickless relies on every call ticking the
         * engine. A call with timeout 0 must look at the socket, and the
         * hand-off (HANDOFF_NS) leaves the socket to the calls that
         * follow one. In explicit mode those calls would never read it,
         * and their data would wait for the assist. Rather than not
         * handing off (every call then a wake-up of the assist), keep
         * the mode that made the hand-off worth having. */
        if (!SSL_set_event_handling_mode(
                ssl, SSL_VALUE_EVENT_HANDLING_MODE_IMPLICIT))
            return TICKLESS_ERR_SSL;
# endif
        return 0;
    }
#endif
    if (proto == CONN_DTLS)
        dgram_hook_empty(ssl);
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return TICKLESS_ERR_SYS;
    return 0;
}

uint64_t tl_ossl_timeout_ns(SSL *ssl, conn_proto proto)
{
    struct timeval tv;

#ifdef TICKLESS_HAVE_HANDLE_EVENTS
    int infinite = 1;

    (void)proto;
    if (!SSL_get_event_timeout(ssl, &tv, &infinite) || infinite)
        return CLOCK_NEVER;
#else
    if (proto != CONN_DTLS || DTLSv1_get_timeout(ssl, &tv) <= 0)
        return CLOCK_NEVER;
#endif
    return (uint64_t)tv.tv_sec * NS_PER_SEC + (uint64_t)tv.tv_usec * 1000u;
}

int tl_ossl_handle_events(SSL *ssl, conn_proto proto)
{
#ifdef TICKLESS_HAVE_HANDLE_EVENTS
    (void)proto;
    return SSL_handle_events(ssl);
#else
    /* DTLSv1_handle_timeout(): 1 retransmitted, 0 nothing due, -1 failed. */
    if (proto == CONN_DTLS)
        return DTLSv1_handle_timeout(ssl) >= 0;
    return 1;
#endif
}

unsigned tl_ossl_net_interest(SSL *ssl, conn_proto proto)
{
    unsigned want = 0;

#ifdef TICKLESS_HAVE_QUIC
    if (proto == CONN_QUIC) {
        if (SSL_net_read_desired(ssl))
            want |= IO_READ;
        if (SSL_net_write_desired(ssl))
            want |= IO_WRITE;
    }
#else
    (void)ssl;
    (void)proto;
#endif
    return want;
}

int tl_ossl_handshake_underway(SSL *ssl, conn_proto proto)
{
    return proto != CONN_QUIC && SSL_in_init(ssl) && !SSL_in_before(ssl);
}

size_t tl_ossl_max_write(SSL *ssl, conn_proto proto)
{
    size_t mtu;

#ifdef TICKLESS_HAVE_QUIC
# ifdef SSL_get_stream_write_buf_avail
    if (proto == CONN_QUIC) {
        uint64_t avail, size;

        /* OpenSSL grows a stream's send buffer by exactly what a write
         * lacks, copying all it holds: offering more than max(free, size)
         * would make every write of a writer that runs ahead copy the
         * buffer again (megabytes per 64 KiB). This bound makes it grow
         * by doubling at most. No stream yet: no bound. */
        ERR_set_mark();
        if (SSL_get_stream_write_buf_avail(ssl, &avail)
            && SSL_get_stream_write_buf_size(ssl, &size)) {
            ERR_pop_to_mark();
            size = avail > size ? avail : size;
            return size > 0 && size < SIZE_MAX ? (size_t)size : SIZE_MAX;
        }
        ERR_pop_to_mark();
        return SIZE_MAX;
    }
# endif
#endif
    if (proto != CONN_DTLS)
        return SIZE_MAX;
    /* A DTLS record is one datagram and OpenSSL refuses records larger
     * than the data MTU (or 16 KiB), so tickless splits big writes. */
    mtu = DTLS_get_data_mtu(ssl);
    if (mtu == 0)
        mtu = 1200;
    return mtu < 16384 ? mtu : 16384;
}

int tl_ossl_readable(SSL *ssl, conn_proto proto)
{
    /* TLS: SSL_has_pending() also counts half a record, which needs more
     * from the socket: only decrypted bytes count. DTLS reads whole
     * datagrams, so anything buffered is complete records. */
    if (proto == CONN_DTLS)
        return SSL_has_pending(ssl);
    return SSL_pending(ssl) > 0;
}

int tl_ossl_quic_terminated(SSL *ssl)
{
#ifdef TICKLESS_HAVE_QUIC
    SSL_CONN_CLOSE_INFO info;

    return SSL_get_conn_close_info(SSL_get0_connection(ssl), &info,
                                   sizeof(info)) == 1;
#else
    (void)ssl;
    return 0;
#endif
}

int tl_ossl_read_ready(SSL *ssl)
{
#ifdef TICKLESS_HAVE_QUIC
    if (SSL_is_quic(ssl)) {
        int state = SSL_get_stream_read_state(ssl);

        /* No stream yet (a connection's default stream before either side
         * made it) is nothing to read: a reader waits for the peer's
         * first data, which a tick brings. */
        return SSL_has_pending(ssl)
               || (state != SSL_STREAM_STATE_OK
                   && state != SSL_STREAM_STATE_NONE);
    }
#endif
    (void)ssl;
    return 1;
}

uint64_t tl_ossl_write_room(SSL *ssl)
{
#if defined(TICKLESS_HAVE_QUIC) && defined(SSL_get_stream_write_buf_avail)
    uint64_t avail = 0;

    if (SSL_is_quic(ssl) && SSL_get_stream_write_buf_avail(ssl, &avail))
        return avail;
#endif
    (void)ssl;
    return 0;
}

int tl_ossl_write_ready(SSL *ssl, uint64_t room_seen, int input_seen)
{
#ifdef TICKLESS_HAVE_QUIC
    if (SSL_is_quic(ssl)) {
# ifdef SSL_get_stream_write_buf_avail
        uint64_t avail = 0, size = 0;

        if (SSL_get_stream_write_state(ssl) != SSL_STREAM_STATE_OK)
            return 1;
        /* More room than the writer found when it was refused: free
         * space alone is no sign (OpenSSL refuses a write while the
         * peer's flow control credit is spent, buffer room or not). */
        if (!SSL_get_stream_write_buf_avail(ssl, &avail) || avail > room_seen)
            return 1;
        /* But once everything sent is acknowledged the buffer is empty
         * and its room cannot grow: only the credit can, and no getter
         * shows it. New credit comes in a packet: after a tick that took
         * input, such a writer looks again. */
        return input_seen && SSL_get_stream_write_buf_size(ssl, &size)
               && avail >= size;
# else
        (void)room_seen;
        (void)input_seen;
        return 1;
# endif
    }
#endif
    (void)input_seen;
    (void)ssl;
    (void)room_seen;
    return 1;
}

int tl_ossl_streams_queued(SSL *conn)
{
    size_t queued = 0;

#ifdef TICKLESS_HAVE_QUIC
    queued = SSL_get_accept_stream_queue_len(conn);
#else
    (void)conn;
#endif
    return queued > 0;
}

int tl_ossl_accept_stream_ready(SSL *conn)
{
    return tl_ossl_streams_queued(conn) || tl_ossl_quic_terminated(conn);
}

int tl_ossl_accept_conn_ready(SSL *listener)
{
#ifdef TICKLESS_HAVE_QUIC_SERVER
    return SSL_get_accept_connection_queue_len(listener) > 0;
#else
    (void)listener;
    return 1;
#endif
}

int tl_ossl_is_accepted(SSL *ssl)
{
#ifdef TICKLESS_HAVE_QUIC_SERVER
    return SSL_is_quic(ssl) && SSL_is_connection(ssl)
           && SSL_get0_listener(ssl) != NULL;
#else
    (void)ssl;
    return 0;
#endif
}

int tl_ossl_is_listener(SSL *ssl)
{
#ifdef TICKLESS_HAVE_QUIC_SERVER
    return SSL_is_quic(ssl) && SSL_is_listener(ssl);
#else
    (void)ssl;
    return 0;
#endif
}
