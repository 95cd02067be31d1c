/* tickless_connect()'s name resolution: the addresses of a host, IPv6 and
 * IPv4 interleaved (RFC 8305 section 4), within the call's one deadline.
 *
 * getaddrinfo() has no timeout of its own and may wait on the network for
 * as long as the resolver's configuration says (resolv.conf: 5 s a try,
 * several tries). So when there is a deadline to keep, the lookup runs on
 * a short-lived detached helper thread, and the caller waits for it until
 * the deadline and no longer. The two share only a small request, counted
 * by reference: whichever lets go of it last frees it, so a lookup the
 * caller gave up on finishes on its own, frees what it holds and ends its
 * thread. The helper touches nothing else: no connection, no pool, no
 * memory of the caller's.
 *
 * Without a deadline (TICKLESS_FOREVER), or for an IP literal (which
 * getaddrinfo() parses without asking anyone), the lookup runs on the
 * caller's thread. */

#include "core/connect.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/sigpipe.h"
#include "base/sysfail.h"

/* ---- the test hooks ------------------------------------------------------ */

static pthread_mutex_t override_mu = PTHREAD_MUTEX_INITIALIZER;
static char override_host[256];  /* guarded by override_mu; "" = none */
static char override_addrs[512]; /* guarded by override_mu */
static atomic_int lookup_delay_ms; /* tl_connect_set_resolve_delay() */

void tl_connect_set_resolve_override(const char *host, const char *addrs)
{
    pthread_mutex_lock(&override_mu);
    snprintf(override_host, sizeof(override_host), "%s", host ? host : "");
    snprintf(override_addrs, sizeof(override_addrs), "%s",
             host && addrs ? addrs : "");
    pthread_mutex_unlock(&override_mu);
}

void tl_connect_set_resolve_delay(int ms)
{
    atomic_store(&lookup_delay_ms, ms > 0 ? ms : 0);
}

/* ---- one lookup ------------------------------------------------------------ */

typedef struct found_addr {
    struct sockaddr_storage addr;
    socklen_t len;
} found_addr;

/* The resolver's answers, sorted by family as they come. */
typedef struct found {
    int family; /* the one wanted, or AF_UNSPEC */
    int first;  /* the family of the first answer kept */
    found_addr v6[CONNECT_MAX_ATTEMPTS], v4[CONNECT_MAX_ATTEMPTS];
    size_t n6, n4;
} found;

/* What the caller and the helper thread share. */
typedef struct request {
    pthread_mutex_t mu;
    pthread_cond_t done_cv; /* CLOCK_MONOTONIC; signalled when done is set */
    int refs;               /* guarded by mu: the caller's, the helper's */
    int done;               /* guarded by mu */
    /* Set before the helper starts; read only after. */
    struct addrinfo hints;
    char port[8]; /* a number: the service is looked up by the caller */
    /* Written by whoever runs the lookup, before done; read after. */
    int rc;        /* 0 or an EAI_* code */
    int sys_errno; /* rc == EAI_SYSTEM: errno */
    found f;
    char host[]; /* the name to resolve */
} request;

/* getaddrinfo() for |name|; its addresses of the wanted family are
 * appended to f->v6 or f->v4. Returns 0 or an EAI_* code. */
static int resolve_into(found *f, const char *name, const char *port,
                        const struct addrinfo *hints)
{
    struct addrinfo *res, *ai;
    int rc = getaddrinfo(name, port, hints, &res);

    if (rc != 0)
        return rc;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        found_addr *a;

        if (ai->ai_addrlen > sizeof(a->addr)
            || (f->family != AF_UNSPEC && ai->ai_family != f->family))
            continue;
        if (ai->ai_family == AF_INET6 && f->n6 < CONNECT_MAX_ATTEMPTS)
            a = &f->v6[f->n6++];
        else if (ai->ai_family == AF_INET && f->n4 < CONNECT_MAX_ATTEMPTS)
            a = &f->v4[f->n4++];
        else
            continue;
        memcpy(&a->addr, ai->ai_addr, ai->ai_addrlen);
        a->len = ai->ai_addrlen;
        if (f->first == AF_UNSPEC)
            f->first = ai->ai_family;
    }
    freeaddrinfo(res);
    return 0;
}

/* getaddrinfo() for |r|'s name, or for each numeric address the test hook
 * gives it; the outcome in r->rc, r->sys_errno and r->f. */
static void run_lookup(request *r)
{
    struct addrinfo h = r->hints;
    char list[sizeof(override_addrs)], *save = NULL, *one;
    int rc = 0;

    pthread_mutex_lock(&override_mu);
    list[0] = '\0';
    if (override_host[0] != '\0' && strcmp(override_host, r->host) == 0)
        memcpy(list, override_addrs, sizeof(list));
    pthread_mutex_unlock(&override_mu);
    if (list[0] == '\0') {
        rc = resolve_into(&r->f, r->host, r->port, &h);
    } else {
        h.ai_flags |= AI_NUMERICHOST;
        for (one = strtok_r(list, ",", &save); one != NULL && rc == 0;
             one = strtok_r(NULL, ",", &save))
            rc = resolve_into(&r->f, one, r->port, &h);
    }
    r->rc = rc;
    r->sys_errno = rc == EAI_SYSTEM ? errno : 0;
}

static void request_release(request *r)
{
    int last;

    pthread_mutex_lock(&r->mu);
    last = --r->refs == 0;
    pthread_mutex_unlock(&r->mu);
    if (!last)
        return;
    pthread_cond_destroy(&r->done_cv);
    pthread_mutex_destroy(&r->mu);
    tl_free(r);
}

/* The helper thread: the lookup, then the request let go. */
static void *helper_main(void *arg)
{
    request *r = arg;
    int delay = atomic_load(&lookup_delay_ms);

    if (delay > 0) {
        struct timespec ts = tl_clock_to_timespec((uint64_t)delay * NS_PER_MS);

        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    run_lookup(r);
    pthread_mutex_lock(&r->mu);
    r->done = 1;
    pthread_cond_signal(&r->done_cv);
    pthread_mutex_unlock(&r->mu);
    request_release(r);
    return NULL;
}

/* A request for |host|, one reference held (the caller's); NULL if out of
 * memory. */
static request *request_new(const char *host, const char *port,
                            const struct addrinfo *hints, int family)
{
    size_t len = strlen(host) + 1;
    pthread_condattr_t ca;
    request *r = tl_calloc(1, sizeof(*r) + len);
    int ok;

    if (r == NULL)
        return NULL;
    memcpy(r->host, host, len);
    snprintf(r->port, sizeof(r->port), "%s", port);
    r->hints = *hints;
    r->f.family = family;
    r->f.first = AF_UNSPEC;
    r->refs = 1;
    ok = pthread_condattr_init(&ca) == 0;
    if (ok) {
        ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0
             && pthread_cond_init(&r->done_cv, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (ok && pthread_mutex_init(&r->mu, NULL) != 0) {
        pthread_cond_destroy(&r->done_cv);
        ok = 0;
    }
    if (!ok) {
        tl_free(r);
        return NULL;
    }
    return r;
}

/* Starts |r|'s lookup on a detached helper thread, which takes a
 * reference. 0, or the errno of the failure. */
static int start_helper(request *r)
{
    pthread_attr_t attr;
    pthread_t t;
    sigset_t saved;
    int rc;

    if (pthread_attr_init(&attr) != 0)
        return ENOMEM;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    r->refs++; /* no other thread sees |r| yet */
    /* Inherited: the application's handlers never run on the helper. */
    pthread_sigmask(SIG_SETMASK, NULL, &saved);
    tl_sigpipe_block_all_signals();
    rc = tl_sysfail_check(SYSFAIL_PTHREAD_CREATE);
    if (rc == 0)
        rc = pthread_create(&t, &attr, helper_main, r);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        r->refs--;
    return rc;
}

/* Waits for |r|'s lookup until |deadline| (CLOCK_MONOTONIC ns). 1 if it
 * finished. */
static int wait_done(request *r, uint64_t deadline)
{
    struct timespec ts = tl_clock_to_timespec(deadline);
    int done;

    pthread_mutex_lock(&r->mu);
    while (!r->done
           && pthread_cond_timedwait(&r->done_cv, &r->mu, &ts) != ETIMEDOUT)
        ;
    done = r->done;
    pthread_mutex_unlock(&r->mu);
    return done;
}

/* ---- the caller's side ------------------------------------------------------ */

/* |port| (a number or a service name) as a number, looked up on the
 * calling thread: a service name comes from a local file (/etc/services),
 * never from the network, and an unknown one is reported as such however
 * long the host's lookup would take. Returns 0 or an EAI_* code. */
static int port_number(const char *port, const struct addrinfo *hints,
                       char *num, size_t cap)
{
    struct addrinfo h = *hints, *res;
    unsigned p = 0;
    int rc;

    h.ai_flags |= AI_PASSIVE; /* no host: nothing but the service looked up */
    rc = getaddrinfo(NULL, port, &h, &res);
    if (rc != 0)
        return rc;
    if (res->ai_family == AF_INET6)
        p = ntohs(((const struct sockaddr_in6 *)res->ai_addr)->sin6_port);
    else if (res->ai_family == AF_INET)
        p = ntohs(((const struct sockaddr_in *)res->ai_addr)->sin_port);
    freeaddrinfo(res);
    snprintf(num, cap, "%u", p);
    return 0;
}

/* A failed lookup (EAI_* |rc|, or 0 with no address of the family) as a
 * TICKLESS_ERR_* in |err|. */
static int lookup_error(const connect_setup *s, int rc, int sys_errno,
                        tickless_error_info *err)
{
    switch (rc) {
    case EAI_SERVICE:
        err->code = TICKLESS_ERR_INVALID;
        break;
    case EAI_MEMORY:
        err->code = TICKLESS_ERR_NOMEM;
        break;
    case EAI_SYSTEM:
        err->code = TICKLESS_ERR_SYS;
        err->sys_errno = sys_errno;
        break;
    default:
        err->code = TICKLESS_ERR_NOT_FOUND;
        break;
    }
    snprintf(err->message, sizeof(err->message), "%s port %s: %s", s->host,
             s->port, rc != 0 ? gai_strerror(rc) : "no address of that family");
    return err->code;
}

/* |f|'s addresses into *out, interleaved from the family the resolver put
 * first. 0, or TICKLESS_ERR_NOMEM. */
static int interleave(const found *f, connect_attempt **out, size_t *n)
{
    const found_addr *first = f->first == AF_INET6 ? f->v6 : f->v4;
    const found_addr *second = f->first == AF_INET6 ? f->v4 : f->v6;
    size_t n1 = f->first == AF_INET6 ? f->n6 : f->n4;
    size_t n2 = f->first == AF_INET6 ? f->n4 : f->n6;
    size_t i, k = 0;
    connect_attempt *a = tl_calloc(CONNECT_MAX_ATTEMPTS, sizeof(*a));

    if (a == NULL)
        return TICKLESS_ERR_NOMEM;
    for (i = 0; i < CONNECT_MAX_ATTEMPTS && k < CONNECT_MAX_ATTEMPTS; i++) {
        if (i < n1) {
            memcpy(&a[k].addr, &first[i].addr, first[i].len);
            a[k++].addrlen = first[i].len;
        }
        if (i < n2 && k < CONNECT_MAX_ATTEMPTS) {
            memcpy(&a[k].addr, &second[i].addr, second[i].len);
            a[k++].addrlen = second[i].len;
        }
    }
    *out = a;
    *n = k;
    return 0;
}

int tl_connect_resolve(const connect_setup *s, uint64_t deadline,
                       connect_attempt **out, size_t *n,
                       tickless_error_info *err)
{
    struct addrinfo hints;
    char port[sizeof(((request *)0)->port)];
    request *r;
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = s->opts->family;
    hints.ai_socktype = s->proto == CONNECT_TLS ? SOCK_STREAM : SOCK_DGRAM;
    rc = port_number(s->port, &hints, port, sizeof(port));
    if (rc != 0)
        return lookup_error(s, rc, errno, err);
    hints.ai_flags |= AI_NUMERICSERV;
    r = request_new(s->host, port, &hints, s->opts->family);
    if (r == NULL) {
        err->code = TICKLESS_ERR_NOMEM;
        snprintf(err->message, sizeof(err->message), "%s port %s: %s",
                 s->host, s->port, tickless_strerror(err->code));
        return err->code;
    }
    if (deadline == CLOCK_NEVER || s->host_is_ip) {
        run_lookup(r); /* cannot take long, or may take as long as it takes */
    } else {
        rc = start_helper(r);
        if (rc != 0) {
            err->code = rc == ENOMEM ? TICKLESS_ERR_NOMEM : TICKLESS_ERR_SYS;
            err->sys_errno = rc;
            snprintf(err->message, sizeof(err->message),
                     "%s port %s: %s; name lookup: pthread_create(): %s",
                     s->host, s->port, tickless_strerror(err->code),
                     strerror(rc));
            request_release(r);
            return err->code;
        }
        if (!wait_done(r, deadline)) {
            err->code = TICKLESS_ERR_TIMEOUT;
            snprintf(err->message, sizeof(err->message),
                     "%s port %s: %s; name lookup did not finish", s->host,
                     s->port, tickless_strerror(err->code));
            request_release(r); /* the helper frees it when done */
            return err->code;
        }
    }
    /* Done: the helper, if any, writes no more. */
    if (r->rc != 0 || r->f.n6 + r->f.n4 == 0)
        rc = lookup_error(s, r->rc, r->sys_errno, err);
    else if ((rc = interleave(&r->f, out, n)) != 0)
        lookup_error(s, EAI_MEMORY, 0, err);
    request_release(r);
    return rc;
}
