/* A DTLS server's listening socket: see dtls_listener.h. */
#include "core/dtls_listener.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "core/dtls_accepted.h"
#include "core/dtls_cookie.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

/* DTLSv1_listen() failures in a row (each a datagram OpenSSL refused
 * outright) before an accept reports the listener broken rather than
 * trying the next datagram. */
#define LISTEN_FAILURES_MAX 100

struct dtls_listener {
    SSL_CTX *ctx;          /* a reference */
    tickless_pool *pool;   /* the accepted connections' assist */
    int fd;                /* the listening socket; owned */
    int wake_fd;           /* eventfd: the close wakes blocked accepts */
    struct sockaddr_storage local; /* its address: each client's socket's */
    socklen_t local_len;
    int v6only;            /* its IPV6_V6ONLY, for AF_INET6 */
    atomic_int closed;
    pthread_mutex_t mu;    /* one DTLSv1_listen() at a time; guards below */
    SSL *pending;          /* the object DTLSv1_listen() works with */
    BIO_ADDR *peer;        /* where its last datagram came from */
    cookie_jar cookies;
    unsigned failures;     /* DTLSv1_listen() errors in a row */
    accepted_set accepted; /* clients with sockets of their own */
};

/* Cookie callbacks are the SSL_CTX's: this index finds the listener an
 * object belongs to (NULL: not one of ours, and then no cookie). */
static int listener_index = -1;
static pthread_once_t listener_index_once = PTHREAD_ONCE_INIT;

static void make_listener_index(void)
{
    listener_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* |peer| as the cookie covers it (family, address, port), into |key|.
 * Returns its length, or 0. */
static size_t addr_key(const BIO_ADDR *peer, unsigned char key[ADDR_KEY_MAX])
{
    size_t alen = 0;
    unsigned short family, port;

    if (!BIO_ADDR_rawaddress(peer, NULL, &alen) || alen > 16)
        return 0;
    family = (unsigned short)BIO_ADDR_family(peer);
    port = BIO_ADDR_rawport(peer);
    memcpy(key, &family, 2);
    (void)BIO_ADDR_rawaddress(peer, key + 2, &alen);
    memcpy(key + 2 + alen, &port, 2);
    return alen + 4;
}

/* The address the datagram |ssl| is reading came from, as addr_key(). */
static size_t peer_key(SSL *ssl, unsigned char key[ADDR_KEY_MAX])
{
    BIO_ADDR *peer = BIO_ADDR_new();
    size_t len = 0;

    if (peer != NULL && BIO_dgram_get_peer(SSL_get_rbio(ssl), peer) > 0)
        len = addr_key(peer, key);
    BIO_ADDR_free(peer);
    return len;
}

static int generate_cookie(SSL *ssl, unsigned char *cookie, unsigned int *len)
{
    dtls_listener *d = SSL_get_ex_data(ssl, listener_index);
    unsigned char key[ADDR_KEY_MAX];
    size_t klen = peer_key(ssl, key);

    if (d == NULL || klen == 0
        || tl_cookie_make(&d->cookies, tl_clock_now_ns(), key, klen, cookie)
               != 0)
        return 0;
    *len = COOKIE_LEN;
    return 1;
}

static int verify_cookie(SSL *ssl, const unsigned char *cookie,
                         unsigned int len)
{
    dtls_listener *d = SSL_get_ex_data(ssl, listener_index);
    unsigned char key[ADDR_KEY_MAX];
    size_t klen = peer_key(ssl, key);

    return d != NULL && klen != 0
           && tl_cookie_check(&d->cookies, tl_clock_now_ns(), key, klen,
                              cookie, len);
}

/* Whether |ctx| makes DTLS objects. */
static int is_dtls_ctx(SSL_CTX *ctx)
{
    SSL *probe = SSL_new(ctx);
    int dtls = probe != NULL && SSL_is_dtls(probe);

    SSL_free(probe);
    ERR_clear_error();
    return dtls;
}

/* |fd| is a bound UDP socket: its address and options are noted, and it
 * is made non-blocking and shareable with the clients' sockets. */
static int take_socket(dtls_listener *d, int fd)
{
    int type = 0, one = 1, flags;
    socklen_t len = sizeof(type);

    d->local_len = sizeof(d->local);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0
        || type != SOCK_DGRAM
        || getsockname(fd, (struct sockaddr *)&d->local, &d->local_len) != 0
        || (d->local.ss_family != AF_INET && d->local.ss_family != AF_INET6))
        return TICKLESS_ERR_INVALID;
    if (d->local.ss_family == AF_INET6) {
        len = sizeof(d->v6only);
        if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &d->v6only, &len) != 0)
            return TICKLESS_ERR_SYS;
    }
    /* Port 0: never bound (the kernel binds it at the first send). */
    if ((d->local.ss_family == AF_INET
         && ((struct sockaddr_in *)&d->local)->sin_port == 0)
        || (d->local.ss_family == AF_INET6
            && ((struct sockaddr_in6 *)&d->local)->sin6_port == 0))
        return TICKLESS_ERR_INVALID;
    /* The first ask turns the kernel's receive stamps on (ENOENT, as the
     * datagrams before had none): dtls_accepted.h says what for. */
    {
        struct timespec ts;

        (void)ioctl(fd, SIOCGSTAMPNS, &ts);
    }
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0
        || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
        return TICKLESS_ERR_SYS;
    d->fd = fd;
    return 0;
}

int tl_dtls_listener_new(SSL_CTX *ctx, int fd, tickless_pool *pool,
                         dtls_listener **out)
{
    dtls_listener *d;
    int rc;

    if (pthread_once(&listener_index_once, make_listener_index) != 0
        || listener_index < 0)
        return TICKLESS_ERR_SSL;
    if (!is_dtls_ctx(ctx))
        return TICKLESS_ERR_INVALID;
    d = tl_calloc(1, sizeof(*d));
    if (d == NULL)
        return TICKLESS_ERR_NOMEM;
    d->fd = d->wake_fd = -1;
    rc = take_socket(d, fd);
    if (rc == 0 && tl_cookie_jar_init(&d->cookies, tl_clock_now_ns()) != 0)
        rc = TICKLESS_ERR_SSL;
    if (rc == 0) {
        d->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (d->wake_fd < 0)
            rc = TICKLESS_ERR_SYS;
    }
    if (rc == 0 && pthread_mutex_init(&d->mu, NULL) != 0)
        rc = TICKLESS_ERR_SYS;
    if (rc != 0) {
        if (d->wake_fd >= 0)
            close(d->wake_fd);
        tl_free(d); /* |fd| stays the caller's */
        return rc;
    }
    SSL_CTX_up_ref(ctx);
    d->ctx = ctx;
    d->pool = pool;
    atomic_init(&d->closed, 0);
    SSL_CTX_set_cookie_generate_cb(ctx, generate_cookie);
    SSL_CTX_set_cookie_verify_cb(ctx, verify_cookie);
    *out = d;
    return 0;
}

/* A new object for DTLSv1_listen() on the listening socket. */
static int new_pending(dtls_listener *d)
{
    SSL *ssl = SSL_new(d->ctx);
    BIO *bio = ssl != NULL ? BIO_new_dgram(d->fd, BIO_NOCLOSE) : NULL;

    if (bio == NULL) {
        SSL_free(ssl);
        ERR_clear_error();
        return TICKLESS_ERR_NOMEM;
    }
    SSL_set_bio(ssl, bio, bio);
    SSL_set_options(ssl, SSL_OP_COOKIE_EXCHANGE);
    SSL_set_ex_data(ssl, listener_index, d);
    d->pending = ssl;
    return 0;
}

/* When the datagram last read from |fd| arrived (the kernel's stamp,
 * CLOCK_REALTIME), or, without a stamp, now: the latest it can have. */
static uint64_t arrival_rt_ns(int fd)
{
    struct timespec ts;

    if (ioctl(fd, SIOCGSTAMPNS, &ts) != 0)
        clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_rt_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One DTLSv1_listen() step, d->mu held: 1 with *ssl and *peer (a
 * ClientHello with a valid cookie came from *peer; both the caller's, and
 * the client is in d->accepted, its socket being made), 0 if there is
 * nothing to take yet (no datagram, a hello answered with a cookie, a
 * copy of a hello already accepted), or a TICKLESS_ERR_* code. */
static int listen_once(dtls_listener *d, SSL **ssl, BIO_ADDR **peer)
{
    unsigned char key[ADDR_KEY_MAX];
    size_t len;
    int rc;

    if (d->pending == NULL && (rc = new_pending(d)) != 0)
        return rc;
    if (d->peer == NULL && (d->peer = BIO_ADDR_new()) == NULL)
        return TICKLESS_ERR_NOMEM;
    ERR_clear_error();
    rc = DTLSv1_listen(d->pending, d->peer);
    if (rc > 0) {
        len = addr_key(d->peer, key);
        if (tl_accepted_is_copy(&d->accepted, key, len,
                                arrival_rt_ns(d->fd))) {
            SSL_free(d->pending); /* spent on a copy: dropped */
            d->pending = NULL;
            d->failures = 0;
            return 0;
        }
        tl_accepted_add(&d->accepted, key, len);
        *ssl = d->pending;
        *peer = d->peer;
        d->pending = NULL;
        d->peer = NULL;
        d->failures = 0;
        return 1;
    }
    if (rc == 0) {
        d->failures = 0;
        return 0;
    }
    /* The object is spent: the next datagram gets a fresh one. */
    ERR_clear_error();
    SSL_free(d->pending);
    d->pending = NULL;
    return ++d->failures < LISTEN_FAILURES_MAX ? 0 : TICKLESS_ERR_SSL;
}

/* |peer| as a sockaddr for connect(). */
static int to_sockaddr(const BIO_ADDR *peer, struct sockaddr_storage *ss,
                       socklen_t *len)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    void *addr;
    size_t alen;

    memset(ss, 0, sizeof(*ss));
    ss->ss_family = (sa_family_t)BIO_ADDR_family(peer);
    if (ss->ss_family == AF_INET) {
        sin->sin_port = BIO_ADDR_rawport(peer);
        addr = &sin->sin_addr;
        alen = sizeof(sin->sin_addr);
        *len = sizeof(*sin);
    } else if (ss->ss_family == AF_INET6) {
        sin6->sin6_port = BIO_ADDR_rawport(peer);
        addr = &sin6->sin6_addr;
        alen = sizeof(sin6->sin6_addr);
        *len = sizeof(*sin6);
    } else
        return 0;
    return BIO_ADDR_rawaddress(peer, addr, &alen);
}

/* A socket on the listener's address connected to |peer|: the kernel
 * gives it the client's datagrams from now on. -1 with errno. */
static int client_socket(const dtls_listener *d, const BIO_ADDR *peer)
{
    struct sockaddr_storage ss;
    socklen_t slen;
    int one = 1, fd, saved;

    if (!to_sockaddr(peer, &ss, &slen)) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    fd = socket(d->local.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0
        && (d->local.ss_family != AF_INET6
            || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &d->v6only,
                          sizeof(d->v6only))
                   == 0)
        && bind(fd, (const struct sockaddr *)&d->local, d->local_len) == 0
        && connect(fd, (const struct sockaddr *)&ss, slen) == 0)
        return fd;
    saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

/* Moves |ssl| (its hello's cookie checked) to a socket of its own and
 * makes it a connection. */
static int hand_over(dtls_listener *d, SSL *ssl, const BIO_ADDR *peer,
                     tickless_conn **out)
{
    int fd = client_socket(d, peer);
    unsigned char key[ADDR_KEY_MAX];
    size_t len = addr_key(peer, key);
    int rc;

    /* From now on the kernel gives the client's datagrams to |fd|. (d->mu
     * is no handle's: see tl_dtls_listener_accept().) */
    pthread_mutex_lock(&d->mu);
    tl_accepted_connected(&d->accepted, key, len, fd < 0 ? 0 : now_rt_ns());
    pthread_mutex_unlock(&d->mu);
    if (fd < 0) {
        tl_log(TICKLESS_LOG_ERROR, NULL,
               "tickless_listener_accept: no socket for a DTLS client: %s",
               strerror(errno));
        SSL_free(ssl);
        return TICKLESS_ERR_SYS;
    }
    /* The same BIO now reads and writes the client's socket. */
    BIO_set_fd(SSL_get_rbio(ssl), fd, BIO_CLOSE);
    (void)BIO_ctrl(SSL_get_rbio(ssl), BIO_CTRL_DGRAM_SET_CONNECTED, 0,
                   (void *)peer);
    /* Its cookie is checked. SSL_accept() would check it again (the
     * listener may be gone by then): the option off, it does not. */
    SSL_clear_options(ssl, SSL_OP_COOKIE_EXCHANGE);
    SSL_set_ex_data(ssl, listener_index, NULL);
    rc = tickless_conn_new(ssl, d->pool, out);
    if (rc != 0)
        SSL_free(ssl); /* closes |fd| too */
    return rc;
}

/* Until the listening socket is readable, the listener is closed (0) or
 * |deadline| passes (TICKLESS_ERR_TIMEOUT). */
static int wait_readable(dtls_listener *d, uint64_t deadline)
{
    struct pollfd p[2] = { { d->fd, POLLIN, 0 }, { d->wake_fd, POLLIN, 0 } };
    uint64_t now = tl_clock_now_ns();
    int ms = -1;

    if (deadline != CLOCK_NEVER) {
        if (now >= deadline)
            return TICKLESS_ERR_TIMEOUT;
        ms = (int)((deadline - now + NS_PER_MS - 1) / NS_PER_MS);
    }
    if (poll(p, 2, ms) < 0 && errno != EINTR)
        return TICKLESS_ERR_SYS;
    return 0;
}

int tl_dtls_listener_accept(dtls_listener *d, tickless_conn **out,
                            int timeout_ms)
{
    uint64_t deadline = tl_clock_deadline_after_ms(timeout_ms);

    for (;;) {
        SSL *ssl = NULL;
        BIO_ADDR *peer = NULL;
        int rc;

        if (atomic_load(&d->closed))
            return TICKLESS_ERR_CLOSED;
        /* Not entered (handle.h): one DTLSv1_listen() at a time, not the
         * handle's lock; tickless_listener_accept() checked the handle. */
        pthread_mutex_lock(&d->mu);
        rc = listen_once(d, &ssl, &peer);
        pthread_mutex_unlock(&d->mu);
        if (rc == 1) {
            rc = hand_over(d, ssl, peer, out);
            BIO_ADDR_free(peer);
            return rc;
        }
        if (rc == 0)
            rc = wait_readable(d, deadline);
        if (rc != 0)
            return rc;
    }
}

int tl_dtls_listener_fd(const dtls_listener *d)
{
    return d->fd;
}

void tl_dtls_listener_close(dtls_listener *d)
{
    uint64_t one = 1;

    if (atomic_exchange(&d->closed, 1))
        return;
    /* The counter stays non-zero: every poll sees it, now and later. */
    if (write(d->wake_fd, &one, sizeof(one)) < 0) {
        /* Only EAGAIN (counter full) is possible: it is readable anyway. */
    }
}

void tl_dtls_listener_free(dtls_listener *d)
{
    tl_dtls_listener_close(d);
    SSL_free(d->pending);
    BIO_ADDR_free(d->peer);
    SSL_CTX_free(d->ctx);
    pthread_mutex_destroy(&d->mu);
    close(d->wake_fd);
    close(d->fd);
    tl_free(d);
}
