/* Turning OpenSSL's verdicts into tickless error codes, and keeping the
 * details with the connection so that any thread can read them. */
#include "core/core.h"
#include "base/log.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

void tl_conn_make_fatal(tickless_conn *c, int code)
{
    if (c->fatal != 0)
        return; /* sticky: the first cause stands */
    c->fatal = code;
    tl_log(TICKLESS_LOG_ERROR, c, "connection lost: %s: %s",
           tickless_err_name(code), c->err.message);
    /* Everyone blocked on the connection must hear the verdict now. The
     * call that found it wakes nobody else by itself, and the assist does
     * not tick a dead connection (tl_conn_tick() returns early,
     * tl_conn_publish() drops its timer and socket): a sleeper would wait
     * for its own timeout, for ever without one. Once per connection (sticky), so it
     * cannot start callers waking each other. */
    tl_engine_wake_owned(c->engine, c);
}

void tl_conn_set_error(tickless_conn *c, int code, int ssl_error,
                       const char *message)
{
    c->err.code = code;
    c->err.ssl_error = ssl_error;
    c->err.openssl_error = 0;
    c->err.sys_errno = 0;
    snprintf(c->err.message, sizeof(c->err.message), "%s",
             message != NULL ? message : tickless_strerror(code));
}

/* Copies entry |e| of this thread's OpenSSL error queue (0: the newest)
 * into c->err and empties the queue, so that it neither leaks into the next
 * call on this thread nor is lost to the thread that will report it. */
static void capture_queue_entry(tickless_conn *c, unsigned long e)
{
    if (e == 0)
        e = ERR_peek_last_error();
    if (e != 0) {
        c->err.openssl_error = e;
        ERR_error_string_n(e, c->err.message, sizeof(c->err.message));
    }
    ERR_clear_error();
}

static void capture_queue(tickless_conn *c)
{
    capture_queue_entry(c, 0);
}

static int is_peer_errno(int e)
{
    return e == ECONNRESET || e == EPIPE || e == ECONNREFUSED
           || e == ECONNABORTED || e == ENOTCONN || e == EHOSTUNREACH
           || e == ENETUNREACH;
}

#ifdef TICKLESS_HAVE_QUIC
# ifndef OSSL_QUIC_LOCAL_ERR_IDLE_TIMEOUT
#  define OSSL_QUIC_LOCAL_ERR_IDLE_TIMEOUT UINT64_MAX
# endif
/* The peer's reason phrase is bytes the peer chose, bound for the
 * application's logs: anything outside printable ASCII, and the
 * backslash, is written as \xNN (no line breaks, no terminal escapes, no
 * invalid UTF-8), and the result is cut at REASON_MAX characters ("..."
 * says so). */
#define REASON_MAX 96
static void escape_reason(char out[REASON_MAX + 4], const char *in,
                          size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i;

    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)in[i];
        int plain = ch >= 0x20 && ch < 0x7f && ch != '\\';

        if (o + (plain ? 1 : 4) > REASON_MAX)
            break;
        if (plain) {
            out[o++] = (char)ch;
            continue;
        }
        out[o++] = '\\';
        out[o++] = 'x';
        out[o++] = hex[ch >> 4];
        out[o++] = hex[ch & 0xf];
    }
    if (i < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* A QUIC connection that has terminated. Returns 0 if it has not, else:
 * CLOSED after our own shutdown; PEER when the peer closed it or it was lost
 * (the idle timeout, which OpenSSL records as a local close); SSL for a
 * local failure such as a certificate that did not verify. */
static int quic_termination(tickless_conn *c)
{
    SSL_CONN_CLOSE_INFO info;
    char reason[REASON_MAX + 4];
    int local;

    if (!SSL_get_conn_close_info(c->ssl, &info, sizeof(info)))
        return 0;
    local = (info.flags & SSL_CONN_CLOSE_FLAG_LOCAL) != 0;
    c->err.quic_error_code = info.error_code;
    if (local && info.error_code == OSSL_QUIC_LOCAL_ERR_IDLE_TIMEOUT) {
        snprintf(c->err.message, sizeof(c->err.message),
                 "QUIC idle timeout: no packet from the peer in time");
        return TICKLESS_ERR_PEER;
    }
    escape_reason(reason, info.reason != NULL ? info.reason : "",
                  info.reason != NULL ? info.reason_len : 0);
    if (c->err.openssl_error == 0 || !local)
        snprintf(c->err.message, sizeof(c->err.message),
                 "QUIC connection closed by %s (%s error 0x%llx%s%s)",
                 local ? "us" : "the peer",
                 (info.flags & SSL_CONN_CLOSE_FLAG_TRANSPORT) ? "transport"
                                                             : "application",
                 (unsigned long long)info.error_code,
                 reason[0] != '\0' ? ": " : "", reason);
    if (!local)
        return TICKLESS_ERR_PEER;
    return c->shutting_down ? TICKLESS_ERR_CLOSED : TICKLESS_ERR_SSL;
}
#endif

/* An SSL_R_* reason at or above SSL_AD_REASON_OFFSET is an alert the peer
 * sent us: the peer ended the connection, not a local failure. */
static int is_peer_alert(unsigned long e)
{
    return ERR_GET_LIB(e) == ERR_LIB_SSL
           && ERR_GET_REASON(e) >= SSL_AD_REASON_OFFSET;
}

/* DTLS: OpenSSL gave up after 12 unanswered retransmissions. It checks the
 * timer in the assist's tick (DTLSv1_handle_timeout) and inside
 * SSL_do_handshake()/SSL_read() too, so either thread may be the one to
 * see it; it is the peer's silence either way. */
static int is_dtls_give_up(unsigned long e)
{
    return ERR_GET_LIB(e) == ERR_LIB_SSL
           && ERR_GET_REASON(e) == SSL_R_READ_TIMEOUT_EXPIRED;
}

/* An entry of the error queue that says the peer ended the connection or
 * is gone, rather than that something failed on our side. */
static int is_peer_verdict(unsigned long e)
{
    return is_peer_alert(e) || is_dtls_give_up(e)
           || (ERR_GET_LIB(e) == ERR_LIB_SSL
               && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING);
}

/*
 * Which entry of a failed call's error queue to judge by. The oldest is the
 * cause (SSL_get_error() judges by it too); what follows may be its
 * consequences. A TLS peer that closed its socket and then reset the
 * connection (a server process that exited, or restarted on the same port)
 * makes the read see the end of stream, "unexpected eof while reading";
 * OpenSSL then sends its fatal alert, which fails with EPIPE and queues
 * "Broken pipe" after the cause. So a peer verdict at either end of the
 * queue stands; otherwise the newest entry, as before, which is where the
 * DTLS "read timeout expired" lands.
 */
static unsigned long verdict_entry(void)
{
    unsigned long first = ERR_peek_error();
    unsigned long last = ERR_peek_last_error();

    if (!is_peer_verdict(last) && is_peer_verdict(first))
        return first;
    return last;
}

int tl_conn_ssl_result(tickless_conn *c, SSL *ssl, int ret)
{
    int saved_errno = errno;
    int ssl_error = SSL_get_error(ssl, ret);

    switch (ssl_error) {
    case SSL_ERROR_WANT_READ:
        return (int)IO_READ;
    case SSL_ERROR_WANT_WRITE:
        return (int)IO_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        c->read_eof = 1;
        return TICKLESS_ERR_EOF;
    /* An application callback (or async job) put the call off, to be
     * called again: not a failure. */
    case SSL_ERROR_WANT_X509_LOOKUP:
    case SSL_ERROR_WANT_CLIENT_HELLO_CB:
    case SSL_ERROR_WANT_ASYNC:
    case SSL_ERROR_WANT_ASYNC_JOB:
#ifdef SSL_ERROR_WANT_RETRY_VERIFY
    case SSL_ERROR_WANT_RETRY_VERIFY:
#endif
        /* Nothing on the socket will say when it is ready: whether or not
         * a caller waits for it, the assist ticks the engine again after
         * the pause a blocked caller makes, and carries a handshake on
         * (hs_step() in tick.c). Only a handshake: that is all hs_step()
         * retries, and what clears the mark. */
        if (tl_ossl_handshake_underway(c->engine->ssl, c->engine->proto))
            c->engine->hs_retry_at_ns = c->engine->now() + CONN_RETRY_NS;
        return (int)CONN_RETRY;
    default:
        break;
    }

    if (ssl_error == SSL_ERROR_SYSCALL && c->proto == CONN_DTLS
        && ERR_peek_last_error() == 0
        && saved_errno == 0) {
        /* A zero-length datagram, on a socket BIO whose callback is the
         * application's (ossl.c hooks the others, so that they say
         * "retry"): OpenSSL 3.x reads it as 0 bytes and reports
         * SSL_ERROR_SYSCALL with nothing queued, though the connection is
         * intact (UDP has no end of stream). DTLS drops invalid records
         * silently (RFC 6347, 4.1.2.7), and so do we, or one datagram from
         * the peer's address would end the connection. It has been
         * consumed: the next attempt reads the next one. (OpenSSL 4.0
         * takes it for EOF instead and fails the connection itself.) */
        return (int)IO_READ;
    }
    return tl_conn_ssl_error(c, ssl_error, saved_errno);
}

int tl_conn_ssl_error(tickless_conn *c, int ssl_error, int saved_errno)
{
    unsigned long e = ERR_peek_last_error();
    int code;

    /* This thread's queue has the details, unless the failure happened
     * inside the assist's tick: then tl_conn_capture_assist_error() already
     * stored them and they are kept. */
    c->err.ssl_error = ssl_error;
    c->err.sys_errno = 0;
    if (e != 0) {
        c->err.openssl_error = 0;
        c->err.message[0] = '\0';
    }

    if (ssl_error == SSL_ERROR_SYSCALL) {
        if (e == 0 && saved_errno != 0 && !is_peer_errno(saved_errno)) {
            code = TICKLESS_ERR_SYS;
            c->err.sys_errno = saved_errno;
            snprintf(c->err.message, sizeof(c->err.message), "%s",
                     strerror(saved_errno));
        } else {
            /* No errno, or a reset: the transport went away under us. */
            code = TICKLESS_ERR_PEER;
            c->err.sys_errno = saved_errno;
            snprintf(c->err.message, sizeof(c->err.message), "%s",
                     saved_errno != 0 ? strerror(saved_errno)
                                      : "unexpected EOF from the peer");
        }
        capture_queue(c);
    } else {
        unsigned long cause = verdict_entry();

        code = is_peer_verdict(cause) ? TICKLESS_ERR_PEER : TICKLESS_ERR_SSL;
        capture_queue_entry(c, cause);
#ifdef TICKLESS_HAVE_QUIC
        if (c->proto == CONN_QUIC) {
            int term = quic_termination(c);

            if (term != 0)
                code = term;
        }
#endif
        if (c->err.message[0] == '\0' && c->err.openssl_error == 0) {
            /* The assist may have seen the cause; keep its words. */
            snprintf(c->err.message, sizeof(c->err.message), "%s",
                     "OpenSSL reported a failure with no details");
        }
    }
    c->err.code = code;
    if (code != TICKLESS_ERR_CLOSED)
        tl_conn_make_fatal(c, code);
    return code;
}

int tl_conn_quic_ended(tickless_conn *c)
{
#ifdef TICKLESS_HAVE_QUIC
    int code = c->proto == CONN_QUIC ? quic_termination(c) : 0;

    if (code == 0)
        return 0;
    c->err.code = code;
    if (code != TICKLESS_ERR_CLOSED)
        tl_conn_make_fatal(c, code);
    return code;
#else
    (void)c;
    return 0;
#endif
}

void tl_conn_capture_assist_error(tickless_conn *c)
{
    unsigned long e = verdict_entry();
    int code;

    if (e == 0)
        return;
    c->err.openssl_error = e;
    c->err.ssl_error = SSL_ERROR_SSL;
    ERR_error_string_n(e, c->err.message, sizeof(c->err.message));
    ERR_clear_error();
    if (c->proto == CONN_QUIC)
        return; /* QUIC reports its end through the calls (quic_termination) */
    /* DTLS: a failed timer tick is the end of the connection. OpenSSL has
     * given up (after 12 unanswered retransmissions: "read timeout
     * expired") and left its timer expired, yet a caller's next SSL_read
     * would only say WANT_READ again: make it sticky here, or the caller
     * sleeps until its own timeout while the assist ticks a dead timer. */
    code = is_peer_verdict(e) ? TICKLESS_ERR_PEER : TICKLESS_ERR_SSL;
    c->err.code = code;
    tl_conn_make_fatal(c, code);
}

int tickless_conn_error(tickless_conn *c, tickless_error_info *out)
{
    size_t n;
    int rc;

    if (out == NULL || out->size < sizeof(out->size) + sizeof(int))
        return TICKLESS_ERR_INVALID;
    n = out->size < sizeof(*out) ? out->size : sizeof(*out);
    /* From inside tickless_conn_lock() the error-checking mutex says
     * EDEADLK: refused (INVALID), as every other call does. A connection
     * closed while we waited for it still has its record to read. */
    rc = tl_conn_enter(c, __func__, HANDLE_CLOSED_OK);
    if (rc != 0)
        return rc;
    memcpy((char *)out + sizeof(out->size),
           (char *)&c->err + sizeof(c->err.size), n - sizeof(out->size));
    tl_conn_exit(c, 0);
    /* A struct that ends inside |message| still gets a string: cut it. */
    if (n > offsetof(tickless_error_info, message)
        && n < offsetof(tickless_error_info, message) + sizeof(out->message))
        ((char *)out)[n - 1] = '\0';
    return 0;
}
