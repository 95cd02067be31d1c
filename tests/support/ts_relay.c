/* ts_relay: see ts_relay.h. */
#include "ts_relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ts_net.h"
#include "ts_util.h"

#define DEFAULT_MAX_CLIENTS 64
/* epoll tags: the wake-up, the front socket, then client i as FIRST + i. */
#define TAG_WAKE 0u
#define TAG_FRONT 1u
#define TAG_CLIENT_FIRST 2u
/* Readiness events taken per wake-up. */
#define MAX_EVENTS 64
/* Datagrams waiting in the delay queue at most; beyond, new ones drop. */
#define MAX_QUEUED 16384
/* Datagrams read per socket per wake-up, so no direction starves. */
#define READ_BURST 64
/* A held-back datagram goes out by itself after this if nothing follows. */
#define REORDER_HOLD_NS (50ull * 1000000ull)
#define NS_PER_MS 1000000ull

enum { TO_SERVER, TO_CLIENT };

typedef struct pkt {
    uint64_t due_ns;
    uint64_t seq;    /* arrival order: ties on due_ns keep FIFO order */
    int dir;         /* TO_SERVER or TO_CLIENT */
    int client;      /* index into clients[] */
    uint32_t gen;    /* clients[client].gen when queued: a slot given to
                        another client since then drops it */
    size_t len;
    uint8_t data[];
} pkt;

typedef struct client {
    struct sockaddr_in addr; /* the client's address, as seen on front_fd */
    int fd;                  /* connected to the upstream server */
    uint64_t last_ns;        /* last datagram either way */
    uint32_t gen;            /* bumped each time the slot is reused */
} client;

struct ts_relay {
    ts_relay_options opt;      /* read-only after start (loss: see below) */
    uint16_t port;             /* read-only after start */
    uint16_t upstream_port;    /* read-only after start */
    int front_fd;              /* clients talk to this one */
    int wake_fd;               /* eventfd: written by ts_relay_stop() */
    int ep;                    /* epoll: wake_fd, front_fd, client fds */
    int max_clients;           /* read-only after start */
    pthread_t thread;

    atomic_int stop;
    atomic_int blackhole;
    _Atomic double loss;
    atomic_uint_fast64_t forwarded;
    atomic_uint_fast64_t dropped;
    atomic_uint_fast64_t corrupted;

    /* A slot's addr and fd, and nclients, change on the relay thread only,
     * under slots_mu, which ts_relay_inject() takes to read them from any
     * thread; the relay thread itself reads them without it. */
    pthread_mutex_t slots_mu;
    client *clients;           /* max_clients slots */
    int nclients;

    /* Everything below: owned by the relay thread. */
    uint64_t rng;
    int *by_port;              /* client port -> slot + 1 (0: none), the
                                  usual hit without a search */
    int no_pwait2;             /* epoll_pwait2 said ENOSYS (valgrind) */
    pkt **heap;                /* min-heap on (due_ns, seq) */
    size_t hn, hcap;
    uint64_t seq;
    pkt *held[2];              /* reorder slot per direction, or NULL */
    uint8_t buf[65536];        /* one datagram of any size */
};

static double rand01(ts_relay *r)
{
    return (double)(ts_splitmix64(&r->rng) >> 11) * 0x1.0p-53;
}

/* ---- the delay queue: a binary heap ------------------------------------ */

static int pkt_before(const pkt *a, const pkt *b)
{
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static int heap_push(ts_relay *r, pkt *p)
{
    size_t i;

    if (r->hn == r->hcap) {
        size_t cap = r->hcap ? r->hcap * 2 : 256;
        pkt **h = realloc(r->heap, cap * sizeof(*h));

        if (h == NULL)
            return -1;
        r->heap = h;
        r->hcap = cap;
    }
    for (i = r->hn++; i > 0; i = (i - 1) / 2) {
        size_t parent = (i - 1) / 2;

        if (!pkt_before(p, r->heap[parent]))
            break;
        r->heap[i] = r->heap[parent];
    }
    r->heap[i] = p;
    return 0;
}

static pkt *heap_pop(ts_relay *r)
{
    pkt *top = r->heap[0], *last = r->heap[--r->hn];
    size_t i = 0;

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= r->hn)
            break;
        if (c + 1 < r->hn && pkt_before(r->heap[c + 1], r->heap[c]))
            c++;
        if (!pkt_before(r->heap[c], last))
            break;
        r->heap[i] = r->heap[c];
        i = c;
    }
    if (r->hn > 0)
        r->heap[i] = last;
    return top;
}

/* ---- forwarding --------------------------------------------------------- */

static void pkt_send(ts_relay *r, const pkt *p)
{
    const client *c = &r->clients[p->client];
    ssize_t n;

    if (c->gen != p->gen) {
        atomic_fetch_add(&r->dropped, 1); /* its client was forgotten */
        return;
    }
    if (p->dir == TO_SERVER)
        n = send(c->fd, p->data, p->len, MSG_DONTWAIT);
    else
        n = sendto(r->front_fd, p->data, p->len, MSG_DONTWAIT,
                   (const struct sockaddr *)&c->addr, sizeof(c->addr));
    if (n == (ssize_t)p->len)
        atomic_fetch_add(&r->forwarded, 1);
    else
        atomic_fetch_add(&r->dropped, 1); /* full buffer, peer gone: lost */
}

static pkt *pkt_new(ts_relay *r, int dir, int cl, const uint8_t *d, size_t n,
                    uint64_t due)
{
    pkt *p = malloc(sizeof(*p) + n);

    if (p == NULL)
        return NULL;
    p->due_ns = due;
    p->seq = r->seq++;
    p->dir = dir;
    p->client = cl;
    p->gen = r->clients[cl].gen;
    p->len = n;
    memcpy(p->data, d, n);
    return p;
}

static void enqueue(ts_relay *r, pkt *p)
{
    if (p == NULL || heap_push(r, p) != 0) {
        free(p);
        atomic_fetch_add(&r->dropped, 1);
    }
}

/* Applies the impairment to one arriving datagram and queues the result. */
static void impair(ts_relay *r, int dir, int cl, const uint8_t *d, size_t n)
{
    uint64_t now = ts_now_ns(), due = now + r->opt.delay_ms * NS_PER_MS;
    int copies = 1, i;
    pkt *first = NULL;

    if (atomic_load(&r->blackhole) || rand01(r) < atomic_load(&r->loss) ||
        r->hn >= MAX_QUEUED) {
        atomic_fetch_add(&r->dropped, 1);
        return;
    }
    if (r->opt.jitter_ms > 0)
        due += (uint64_t)(rand01(r) * (double)(r->opt.jitter_ms * NS_PER_MS));
    if (r->opt.duplicate > 0 && rand01(r) < r->opt.duplicate)
        copies = 2;
    for (i = 0; i < copies; i++) {
        pkt *p = pkt_new(r, dir, cl, d, n, due);

        if (i == 0)
            first = p;
        else
            enqueue(r, p);
    }
    if (first == NULL) {
        atomic_fetch_add(&r->dropped, 1);
        return;
    }
    if (r->opt.corrupt > 0 && rand01(r) < r->opt.corrupt && first->len > 0) {
        size_t at = (size_t)(rand01(r) * (double)first->len);

        if (at >= first->len)
            at = first->len - 1;
        first->data[at] ^= (uint8_t)(1u + (unsigned)(rand01(r) * 254.0));
        atomic_fetch_add(&r->corrupted, 1);
    }
    if (r->held[dir] != NULL) {
        /* Release the held one right behind this one (seq is later). */
        pkt *h = r->held[dir];

        r->held[dir] = NULL;
        enqueue(r, first);
        h->due_ns = due;
        h->seq = r->seq++;
        enqueue(r, h);
        return;
    }
    if (r->opt.reorder > 0 && rand01(r) < r->opt.reorder) {
        first->due_ns = due + REORDER_HOLD_NS;
        r->held[dir] = first;
        return;
    }
    enqueue(r, first);
}

/* The slot to give a new client: a free one, else (with client_idle_ms)
 * the one silent longest, if for long enough; -1 if none. */
static int client_slot(ts_relay *r, uint64_t now)
{
    uint64_t idle_ns = (uint64_t)r->opt.client_idle_ms * NS_PER_MS;
    int i, best = -1;

    if (r->nclients < r->max_clients)
        return r->nclients; /* counted once it is filled in */
    for (i = 0; i < r->nclients; i++) {
        if (r->clients[i].fd < 0)
            return i; /* its upstream socket could not be made */
        if (best < 0 || r->clients[i].last_ns < r->clients[best].last_ns)
            best = i;
    }
    if (idle_ns == 0 || best < 0 || now - r->clients[best].last_ns < idle_ns)
        return -1;
    pthread_mutex_lock(&r->slots_mu);
    close(r->clients[best].fd); /* also leaves the epoll set */
    r->clients[best].fd = -1;
    pthread_mutex_unlock(&r->slots_mu);
    if (r->by_port[ntohs(r->clients[best].addr.sin_port)] == best + 1)
        r->by_port[ntohs(r->clients[best].addr.sin_port)] = 0;
    return best;
}

static int client_find_or_add(ts_relay *r, const struct sockaddr_in *a)
{
    uint64_t now = ts_now_ns();
    struct epoll_event ev;
    int i = r->by_port[ntohs(a->sin_port)] - 1, fd;

    if (i >= 0 && r->clients[i].fd >= 0 &&
        r->clients[i].addr.sin_port == a->sin_port &&
        r->clients[i].addr.sin_addr.s_addr == a->sin_addr.s_addr) {
        r->clients[i].last_ns = now;
        return i;
    }
    for (i = 0; i < r->nclients; i++) {
        if (r->clients[i].fd >= 0 &&
            r->clients[i].addr.sin_port == a->sin_port &&
            r->clients[i].addr.sin_addr.s_addr == a->sin_addr.s_addr) {
            r->clients[i].last_ns = now;
            return i;
        }
    }
    if ((i = client_slot(r, now)) < 0)
        return -1;
    fd = ts_net_connect(SOCK_DGRAM, r->upstream_port);
    pthread_mutex_lock(&r->slots_mu);
    r->clients[i].gen++;
    r->clients[i].addr = *a;
    r->clients[i].last_ns = now;
    r->clients[i].fd = fd;
    if (i == r->nclients)
        r->nclients++;
    pthread_mutex_unlock(&r->slots_mu);
    r->by_port[ntohs(a->sin_port)] = i + 1;
    if (fd < 0)
        return -1; /* the slot stays free (fd -1) for the next one */
    (void)ts_net_set_nonblock(fd, 1);
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.u32 = TAG_CLIENT_FIRST + (uint32_t)i;
    if (epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        pthread_mutex_lock(&r->slots_mu);
        close(fd);
        r->clients[i].fd = -1;
        pthread_mutex_unlock(&r->slots_mu);
        return -1;
    }
    return i;
}

static void read_front(ts_relay *r)
{
    int i;

    for (i = 0; i < READ_BURST; i++) {
        struct sockaddr_in a;
        socklen_t alen = sizeof(a);
        ssize_t n = recvfrom(r->front_fd, r->buf, sizeof(r->buf), MSG_DONTWAIT,
                             (struct sockaddr *)&a, &alen);
        int cl;

        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            continue; /* e.g. a stale ICMP error: read on */
        }
        if (alen != sizeof(a) || (cl = client_find_or_add(r, &a)) < 0) {
            atomic_fetch_add(&r->dropped, 1);
            continue;
        }
        if (r->opt.tap != NULL)
            r->opt.tap(r->opt.tap_arg, 1, cl, r->buf, (size_t)n);
        impair(r, TO_SERVER, cl, r->buf, (size_t)n);
    }
}

static void read_upstream(ts_relay *r, int cl)
{
    int i;

    for (i = 0; i < READ_BURST; i++) {
        ssize_t n = recv(r->clients[cl].fd, r->buf, sizeof(r->buf),
                         MSG_DONTWAIT);

        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            continue; /* ECONNREFUSED: the server is not there (yet) */
        }
        r->clients[cl].last_ns = ts_now_ns();
        if (r->opt.tap != NULL)
            r->opt.tap(r->opt.tap_arg, 0, cl, r->buf, (size_t)n);
        impair(r, TO_CLIENT, cl, r->buf, (size_t)n);
    }
}

/* Sends everything due; returns the next due time, or UINT64_MAX. */
static uint64_t send_due(ts_relay *r)
{
    uint64_t now = ts_now_ns(), next = UINT64_MAX;
    int d;

    for (d = 0; d < 2; d++) {
        if (r->held[d] != NULL && r->held[d]->due_ns <= now) {
            enqueue(r, r->held[d]);
            r->held[d] = NULL;
        }
    }
    while (r->hn > 0 && r->heap[0]->due_ns <= now) {
        pkt *p = heap_pop(r);

        pkt_send(r, p);
        free(p);
    }
    if (r->hn > 0)
        next = r->heap[0]->due_ns;
    for (d = 0; d < 2; d++)
        if (r->held[d] != NULL && r->held[d]->due_ns < next)
            next = r->held[d]->due_ns;
    return next;
}

/* Waits for readiness until |next| (CLOCK_MONOTONIC ns, UINT64_MAX: no
 * limit), to the nanosecond where the kernel has epoll_pwait2. */
static int relay_wait(ts_relay *r, struct epoll_event *ev, uint64_t next)
{
    uint64_t now, wait;
    struct timespec ts;
    int n;

    if (next == UINT64_MAX)
        return epoll_wait(r->ep, ev, MAX_EVENTS, -1);
    now = ts_now_ns();
    wait = next > now ? next - now : 0;
    if (!r->no_pwait2) {
        ts.tv_sec = (time_t)(wait / 1000000000u);
        ts.tv_nsec = (long)(wait % 1000000000u);
        n = epoll_pwait2(r->ep, ev, MAX_EVENTS, &ts, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        r->no_pwait2 = 1;
    }
    wait = (wait + NS_PER_MS - 1) / NS_PER_MS; /* round up: never early */
    return epoll_wait(r->ep, ev, MAX_EVENTS,
                      wait > 1000000u ? 1000000 : (int)wait);
}

static void *relay_thread(void *arg)
{
    ts_relay *r = arg;
    struct epoll_event ev[MAX_EVENTS];

    while (!atomic_load(&r->stop)) {
        int i, n = relay_wait(r, ev, send_due(r));

        if (n < 0 && errno != EINTR)
            break;
        /* The wake-up only matters for stop: the loop condition sees it. */
        for (i = 0; i < n; i++) {
            uint32_t tag = ev[i].data.u32;

            if (tag == TAG_FRONT)
                read_front(r);
            else if (tag >= TAG_CLIENT_FIRST &&
                     r->clients[tag - TAG_CLIENT_FIRST].fd >= 0)
                read_upstream(r, (int)(tag - TAG_CLIENT_FIRST));
        }
    }
    return NULL;
}

/* Adds |fd| to the epoll set under |tag|; 0 or -1. */
static int relay_watch(ts_relay *r, int fd, uint32_t tag)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.u32 = tag;
    return epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev);
}

/*
 * Hundreds of clients share the front socket: the default receive buffer
 * (212 KB) holds only some hundred datagrams, each charged its whole
 * kernel buffer, and a burst beyond that would be lost on top of the loss
 * asked for. Ask for more (capped by net.core.rmem_max); best effort.
 */
static void relay_grow_buffers(int fd)
{
    int size = 8 * 1024 * 1024;

    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

static void relay_free(ts_relay *r)
{
    int i;

    for (i = 0; i < r->nclients; i++)
        if (r->clients[i].fd >= 0)
            close(r->clients[i].fd);
    if (r->front_fd >= 0)
        close(r->front_fd);
    if (r->wake_fd >= 0)
        close(r->wake_fd);
    if (r->ep >= 0)
        close(r->ep);
    free(r->clients);
    free(r->by_port);
    pthread_mutex_destroy(&r->slots_mu);
    free(r);
}

int ts_relay_start(uint16_t upstream_port, const ts_relay_options *o,
                   ts_relay **out)
{
    ts_relay *r;

    if (out == NULL)
        return -1;
    *out = NULL;
    if ((r = calloc(1, sizeof(*r))) == NULL)
        return -1;
    if (o != NULL)
        r->opt = *o;
    r->upstream_port = upstream_port;
    r->rng = r->opt.seed;
    pthread_mutex_init(&r->slots_mu, NULL);
    r->max_clients = r->opt.max_clients > 0 && r->opt.max_clients < 65536
                         ? (int)r->opt.max_clients
                         : DEFAULT_MAX_CLIENTS;
    atomic_store(&r->loss, r->opt.loss);
    r->ep = epoll_create1(EPOLL_CLOEXEC);
    r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    r->front_fd = ts_net_bind(SOCK_DGRAM, 0, 0, &r->port);
    r->clients = calloc((size_t)r->max_clients, sizeof(*r->clients));
    r->by_port = calloc(65536, sizeof(*r->by_port));
    if (r->ep < 0 || r->wake_fd < 0 || r->front_fd < 0 || r->clients == NULL ||
        r->by_port == NULL ||
        relay_watch(r, r->wake_fd, TAG_WAKE) != 0 ||
        relay_watch(r, r->front_fd, TAG_FRONT) != 0) {
        relay_free(r);
        return -1;
    }
    relay_grow_buffers(r->front_fd);
    if (pthread_create(&r->thread, NULL, relay_thread, r) != 0) {
        relay_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

uint16_t ts_relay_port(const ts_relay *r)
{
    return r->port;
}

void ts_relay_set_blackhole(ts_relay *r, int on)
{
    atomic_store(&r->blackhole, on != 0);
}

void ts_relay_set_loss(ts_relay *r, double loss)
{
    atomic_store(&r->loss, loss);
}

uint64_t ts_relay_forwarded(ts_relay *r)
{
    return atomic_load(&r->forwarded);
}

uint64_t ts_relay_dropped(ts_relay *r)
{
    return atomic_load(&r->dropped);
}

uint64_t ts_relay_corrupted(ts_relay *r)
{
    return atomic_load(&r->corrupted);
}

int ts_relay_inject(ts_relay *r, int cl, int to_server, const void *data,
                    size_t len)
{
    struct sockaddr_in addr;
    ssize_t n = -1;
    int fd = -1;

    pthread_mutex_lock(&r->slots_mu);
    if (cl >= 0 && cl < r->nclients) {
        fd = r->clients[cl].fd;
        addr = r->clients[cl].addr;
    }
    /* Sent under the lock: the relay thread cannot close the socket under
     * us (a slot reused for a new client). */
    if (fd >= 0 && to_server)
        n = send(fd, data, len, MSG_DONTWAIT);
    else if (fd >= 0)
        n = sendto(r->front_fd, data, len, MSG_DONTWAIT,
                   (const struct sockaddr *)&addr, sizeof(addr));
    pthread_mutex_unlock(&r->slots_mu);
    return n == (ssize_t)len ? 0 : -1;
}

void ts_relay_stop(ts_relay *r)
{
    uint64_t one = 1;

    if (r == NULL)
        return;
    atomic_store(&r->stop, 1);
    if (write(r->wake_fd, &one, sizeof(one)) < 0) {
        /* only fails if the counter is saturated: the thread is awake */
    }
    pthread_join(r->thread, NULL);
    while (r->hn > 0)
        free(heap_pop(r));
    free(r->heap);
    free(r->held[0]);
    free(r->held[1]);
    relay_free(r);
}
