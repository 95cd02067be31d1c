/* One address of tickless_connect(): its socket, its SSL object set up the
 * way a careful client sets one up by hand, and its handshake. Every path
 * leaves each resource with exactly one owner: the socket is ours until
 * its BIO takes it, the BIO the SSL object's, the SSL object ours until
 * tickless_conn_new() takes it; an attempt that ends holds nothing. */

#include "core/connect.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "core/ossl.h"
#include "base/sysfail.h"

/* Ends |a| with |outcome|, describing it as |code|, |sys_errno| and a
 * message "NAME: WHAT". */
static void end(connect_attempt *a, connect_outcome outcome, int code,
                int sys_errno, const char *what)
{
    a->state = ATTEMPT_DONE;
    a->outcome = outcome;
    a->err.code = code;
    a->err.sys_errno = sys_errno;
    /* Precision: GCC cannot tell a cut message from a mistake. */
    snprintf(a->err.message, sizeof(a->err.message), "%s: %.180s", a->name,
             what);
}

/* A connect() or SO_ERROR errno: the address said no, or our side failed. */
static void end_errno(connect_attempt *a, int err)
{
    switch (err) {
    case ECONNREFUSED:
    case ENETUNREACH:
    case EHOSTUNREACH:
    case EADDRNOTAVAIL:
    case ECONNRESET:
    case ETIMEDOUT:
    case EACCES:
    case EPERM:
        end(a, CONNECT_REFUSED, TICKLESS_ERR_REFUSED, err, strerror(err));
        return;
    case ENOMEM:
    case ENOBUFS:
        end(a, CONNECT_LOCAL, TICKLESS_ERR_NOMEM, err, strerror(err));
        return;
    default:
        end(a, CONNECT_LOCAL, TICKLESS_ERR_SYS, err, strerror(err));
        return;
    }
}

/* The failure OpenSSL queued on this thread, taken off the queue. */
static void end_openssl(connect_attempt *a, int code, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char buf[160];

    if (e != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        what = buf;
    }
    end(a, code == TICKLESS_ERR_NOMEM ? CONNECT_LOCAL : CONNECT_HANDSHAKE,
        code, 0, what);
    a->err.openssl_error = e;
    ERR_clear_error();
}

static BIO_ADDR *bio_addr_of(const connect_attempt *a)
{
    BIO_ADDR *b = BIO_ADDR_new();
    int ok = 0;

    if (b == NULL)
        return NULL;
    if (a->addr.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&a->addr;

        ok = BIO_ADDR_rawmake(b, AF_INET, &in->sin_addr,
                              sizeof(in->sin_addr), in->sin_port);
    } else if (a->addr.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 =
            (const struct sockaddr_in6 *)&a->addr;

        ok = BIO_ADDR_rawmake(b, AF_INET6, &in6->sin6_addr,
                              sizeof(in6->sin6_addr), in6->sin6_port);
    }
    if (!ok) {
        BIO_ADDR_free(b);
        return NULL;
    }
    return b;
}

/* Names, verification and ALPN on a fresh client SSL object. 1 or 0. */
static int configure(const connect_setup *s, SSL *ssl)
{
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    const tickless_connect_options *o = s->opts;

    /* RFC 6066: SNI carries host names, never address literals. */
    if (!s->host_is_ip && !SSL_set_tlsext_host_name(ssl, s->host))
        return 0;
    if (o->insecure_no_verify) {
        SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
    } else {
        /* The context's callback stays: it may add checks of its own. */
        SSL_set_verify(ssl, SSL_get_verify_mode(ssl) | SSL_VERIFY_PEER,
                       SSL_get_verify_callback(ssl));
        X509_VERIFY_PARAM_set_hostflags(param,
                                        X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (!(s->host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, s->host)
                            : X509_VERIFY_PARAM_set1_host(param, s->host, 0)))
            return 0;
    }
    /* SSL_set_alpn_protos() returns 0 on success. */
    if (s->alpn != NULL && SSL_set_alpn_protos(ssl, s->alpn, s->alpn_len) != 0)
        return 0;
    SSL_set_connect_state(ssl);
    return 1;
}

/* The SSL object for |a|'s connected socket, which it takes over (also on
 * failure: then the socket is closed). NULL with |a| ended on failure. */
static SSL *new_ssl(const connect_setup *s, connect_attempt *a)
{
    SSL *ssl = SSL_new(s->ctx);
    BIO *bio = NULL;
    BIO_ADDR *peer = NULL;
    int ok;

    if (ssl == NULL) {
        close(a->fd);
        a->fd = -1;
        end_openssl(a, TICKLESS_ERR_NOMEM, "SSL_new failed");
        return NULL;
    }
    bio = s->proto == CONNECT_TLS ? BIO_new_socket(a->fd, BIO_CLOSE)
                                  : BIO_new_dgram(a->fd, BIO_CLOSE);
    if (bio == NULL) {
        close(a->fd);
        a->fd = -1;
        SSL_free(ssl);
        end_openssl(a, TICKLESS_ERR_NOMEM, "BIO_new failed");
        return NULL;
    }
    a->fd = -1; /* the BIO's, and with it the SSL object's */
    SSL_set_bio(ssl, bio, bio);
    ok = 1;
    if (s->proto != CONNECT_TLS) {
        /* The socket is connected: the BIO sends with send(), and QUIC
         * needs to know where its first packet goes. */
        peer = bio_addr_of(a);
        ok = peer != NULL
             && BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, peer) > 0;
#ifdef TICKLESS_HAVE_QUIC
        if (ok && s->proto == CONNECT_QUIC)
            ok = SSL_set1_initial_peer_addr(ssl, peer);
#endif
        BIO_ADDR_free(peer);
    }
    if (ok)
        ok = configure(s, ssl);
    if (!ok) {
        SSL_free(ssl);
        end_openssl(a, TICKLESS_ERR_SSL, "setting up the SSL object failed");
        return NULL;
    }
    if (s->opts->ssl_setup != NULL
        && s->opts->ssl_setup(ssl, s->opts->ssl_setup_arg) != 1) {
        SSL_free(ssl);
        end_openssl(a, TICKLESS_ERR_SSL, "ssl_setup refused the SSL object");
        return NULL;
    }
    return ssl;
}

/* The connected socket becomes a tickless connection, its handshake
 * started. */
static void begin_handshake(const connect_setup *s, connect_attempt *a)
{
    SSL *ssl = new_ssl(s, a);
    int rc;

    if (ssl == NULL)
        return;
    rc = tickless_conn_new(ssl, s->pool, &a->conn);
    if (rc != 0) {
        SSL_free(ssl); /* still ours: closes the socket */
        a->conn = NULL;
        end(a,
            rc == TICKLESS_ERR_NOMEM || rc == TICKLESS_ERR_SYS
                ? CONNECT_LOCAL
                : CONNECT_HANDSHAKE,
            rc, rc == TICKLESS_ERR_SYS ? errno : 0, tickless_strerror(rc));
        return;
    }
    a->state = ATTEMPT_HANDSHAKING;
    tl_connect_attempt_wait(a, 0); /* sends the first flight */
}

void tl_connect_attempt_start(const connect_setup *s, connect_attempt *a)
{
    int type = s->proto == CONNECT_TLS ? SOCK_STREAM : SOCK_DGRAM;
    int err;

    a->fd = tl_sysfail_check(SYSFAIL_SOCKET)
                ? -1
                : socket(a->addr.ss_family,
                         type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (a->fd < 0) {
        char what[96];

        err = errno;
        snprintf(what, sizeof(what), "socket(): %s", strerror(err));
        if (err == EAFNOSUPPORT) /* a family this host lacks: no route */
            end(a, CONNECT_REFUSED, TICKLESS_ERR_REFUSED, err, what);
        else
            end(a, CONNECT_LOCAL,
                err == ENOMEM || err == ENOBUFS ? TICKLESS_ERR_NOMEM
                                                : TICKLESS_ERR_SYS,
                err, what);
        return;
    }
    if (tl_sysfail_check(SYSFAIL_CONNECT) != 0
        || connect(a->fd, (const struct sockaddr *)&a->addr, a->addrlen)
               != 0) {
        err = errno;
        if (type == SOCK_STREAM && err == EINPROGRESS) {
            a->state = ATTEMPT_CONNECTING;
            return;
        }
        close(a->fd);
        a->fd = -1;
        end_errno(a, err);
        return;
    }
    /* UDP (or a TCP connect that completed at once). */
    begin_handshake(s, a);
}

void tl_connect_attempt_connected(const connect_setup *s, connect_attempt *a)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0) {
        close(a->fd);
        a->fd = -1;
        end_errno(a, err);
        return;
    }
    begin_handshake(s, a);
}

/* Why the handshake of |a| failed: tickless's record, and the certificate
 * check's result if that is what failed. */
static void end_handshake(connect_attempt *a, int rc)
{
    tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
    long verify = X509_V_OK;
    SSL *ssl;
    char what[sizeof(info.message)];

    (void)tickless_conn_error(a->conn, &info);
    ssl = tickless_conn_lock(a->conn);
    if (ssl != NULL) {
        verify = SSL_get_verify_result(ssl);
        tickless_conn_unlock(a->conn);
    }
    tickless_conn_close(a->conn);
    a->conn = NULL;
    if (verify != X509_V_OK) {
        snprintf(what, sizeof(what), "certificate verify failed: %s (%ld)",
                 X509_verify_cert_error_string(verify), verify);
    } else {
        snprintf(what, sizeof(what), "%s",
                 info.message[0] ? info.message : tickless_strerror(rc));
    }
    if (verify == X509_V_OK && info.sys_errno == ECONNREFUSED) {
        /* DTLS: the ICMP port unreachable a connected socket reports. */
        end(a, CONNECT_REFUSED, TICKLESS_ERR_REFUSED, ECONNREFUSED,
            strerror(ECONNREFUSED));
        return;
    }
    if (verify != X509_V_OK)
        rc = TICKLESS_ERR_SSL;
    end(a,
        rc == TICKLESS_ERR_NOMEM || rc == TICKLESS_ERR_SYS ? CONNECT_LOCAL
                                                           : CONNECT_HANDSHAKE,
        rc, info.sys_errno, what);
    a->err.ssl_error = info.ssl_error;
    a->err.openssl_error = info.openssl_error;
    a->err.quic_error_code = info.quic_error_code;
    a->err.verify_result = verify;
}

void tl_connect_attempt_wait(connect_attempt *a, int timeout_ms)
{
    int rc = tickless_conn_handshake(a->conn, timeout_ms);

    if (rc == TICKLESS_ERR_TIMEOUT)
        return;
    if (rc == 0) {
        a->state = ATTEMPT_DONE;
        a->outcome = CONNECT_WON;
        return;
    }
    end_handshake(a, rc);
}

void tl_connect_attempt_abandon(connect_attempt *a)
{
    if (a->fd >= 0)
        close(a->fd);
    a->fd = -1;
    tickless_conn_close(a->conn);
    a->conn = NULL;
}
