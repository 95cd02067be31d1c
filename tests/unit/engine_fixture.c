#include "engine_fixture.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "assist/assist.h"
#include "assist/shard.h"
#include "core/core.h"

struct fx_engine {
    tickless_conn c;
    tickless_conn other; /* a second owner for wait queues */
    SSL_CTX *ctx;
    waitq q[4];
    int nq;
};

struct fx_shard {
    shard s;
};

uint64_t fx_clock_ns;

static uint64_t fx_now(void)
{
    return fx_clock_ns;
}

fx_shard *fx_shard_new(void)
{
    fx_shard *s = calloc(1, sizeof(*s));

    if (s == NULL || tl_shard_init(&s->s, 0) != 0) {
        free(s);
        return NULL;
    }
    s->s.now = fx_now;
    return s;
}

void fx_shard_free(fx_shard *s)
{
    tl_shard_destroy(&s->s);
    free(s);
}

void fx_shard_set_sleep_until(fx_shard *s, uint64_t t)
{
    s->s.sleep_until = t;
}

uint64_t fx_shard_timer_armed(const fx_shard *s)
{
    return s->s.timer_armed;
}

uint64_t fx_shard_earliest(fx_shard *s)
{
    return tl_shard_earliest(&s->s);
}

int fx_shard_run_once(fx_shard *s, uint64_t max_wait_ns)
{
    return tl_shard_run_once(&s->s, max_wait_ns);
}

int fx_shard_batch_entry(const fx_shard *s, int i, fx_engine *const *engines,
                         int n)
{
    int k;

    for (k = 0; k < n; k++)
        if (s->s.work[i] == &engines[k]->c.link)
            return k;
    return -1;
}

fx_engine *fx_engine_new(int quic)
{
    fx_engine *e = calloc(1, sizeof(*e));

    if (e == NULL)
        return NULL;
    e->ctx = SSL_CTX_new(DTLS_client_method());
    e->c.ssl = e->ctx != NULL ? SSL_new(e->ctx) : NULL;
    e->c.fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (e->c.ssl == NULL || e->c.fd < 0) {
        fx_engine_free(e);
        return NULL;
    }
    e->c.proto = quic ? CONN_QUIC : CONN_DTLS;
    e->c.engine = &e->c;
    e->c.now = fx_now;
    /* Two: the shard's reference comes and goes, this one stays. */
    atomic_init(&e->c.refs, 2);
    e->c.deadline_ns = CLOCK_NEVER;
    e->c.err.size = sizeof(e->c.err);
    tl_lathist_init(&e->c.lateness);
    atomic_init(&e->c.app_held, 0);
    tl_assist_link_init(&e->c.link, &tl_conn_assist_client, e->c.fd, 0,
                        &e->c.mu);
    if (pthread_mutex_init(&e->c.mu, NULL) != 0) {
        fx_engine_free(e);
        return NULL;
    }
    return e;
}

void fx_engine_free(fx_engine *e)
{
    int i;

    for (i = 0; i < e->nq; i++)
        tl_waitq_destroy(&e->q[i]);
    pthread_mutex_destroy(&e->c.mu);
    if (e->c.fd >= 0)
        close(e->c.fd);
    SSL_free(e->c.ssl);
    SSL_CTX_free(e->ctx);
    free(e);
}

void fx_app_hold(fx_engine *e, int hold)
{
    if (hold) {
        pthread_mutex_lock(&e->c.mu);
        atomic_store(&e->c.app_held, 1);
    } else {
        atomic_store(&e->c.app_held, 0);
        pthread_mutex_unlock(&e->c.mu);
    }
}

int fx_attach(fx_shard *s, fx_engine *e)
{
    return tl_shard_attach(&s->s, &e->c.link);
}

void fx_detach(fx_shard *s, fx_engine *e)
{
    tl_shard_detach(&s->s, &e->c.link);
    e->c.link.shard = NULL;
}

void fx_kick(fx_engine *e)
{
    e->c.kicked = 1;
}

void fx_set_immediate_ticks(fx_engine *e, unsigned n)
{
    e->c.immediate_ticks = n;
}

void fx_set_driven_until(fx_engine *e, uint64_t t)
{
    e->c.driven_until_ns = t;
}

void fx_hand_off(fx_engine *e)
{
    tl_conn_hand_off(&e->c, fx_clock_ns);
}

void fx_set_fatal(fx_engine *e)
{
    e->c.fatal = TICKLESS_ERR_PEER;
}

void fx_set_closed(fx_engine *e)
{
    e->c.closed = 1;
}

void fx_set_deadline(fx_engine *e, uint64_t t)
{
    e->c.deadline_ns = t;
}

int fx_tick(fx_engine *e, unsigned *reasons, uint64_t *next_deadline)
{
    tick_decision d;
    uint64_t due = CLOCK_NEVER;
    int rc = tl_conn_tick(&e->c, reasons, &due, &d);

    *next_deadline = d.seq != 0 ? d.deadline_ns : 0;
    return rc;
}

uint64_t fx_timer_ticks(const fx_engine *e)
{
    return e->c.timer_ticks;
}

uint64_t fx_io_ticks(const fx_engine *e)
{
    return e->c.io_ticks;
}

uint64_t fx_lateness_max(const fx_engine *e)
{
    return e->c.lateness.max_ns;
}

void fx_queues(fx_engine *e, int n, const int *owner)
{
    int i;

    for (i = 0; i < n && i < 4; i++)
        (void)tl_waitq_init(&e->q[i], WQ_IO, e->c.ssl,
                            owner[i] ? &e->other : &e->c);
    e->nq = i;
    e->other.engine = &e->c;
}

void fx_enter(fx_engine *e, int q, int reader)
{
    tl_waitq_enter(&e->c, &e->q[q], reader ? IO_READ : 0);
}

void fx_leave(fx_engine *e, int q, int reader)
{
    tl_waitq_leave(&e->c, &e->q[q], reader ? IO_READ : 0);
}

uint64_t fx_gen(const fx_engine *e, int q)
{
    return e->q[q].gen;
}

int fx_sleeping(const fx_engine *e)
{
    int n = 0;
    const waitq *wq;

    for (wq = e->c.sleeping; wq != NULL; wq = wq->next)
        n++;
    return n;
}

unsigned fx_readers(const fx_engine *e, int q)
{
    return e->q[q].readers;
}

void fx_wake_ready(fx_engine *e)
{
    tl_engine_wake_ready(&e->c);
}

void fx_wake_owned(fx_engine *e, int owner)
{
    tl_engine_wake_owned(&e->c, owner ? &e->other : &e->c);
}

uint64_t fx_decide(fx_engine *e, uint64_t *deadline_ns, unsigned *interest)
{
    tick_decision d;

    memset(&d, 0, sizeof(d));
    tl_conn_decide(&e->c, fx_clock_ns, &d);
    *deadline_ns = d.deadline_ns;
    *interest = d.interest;
    return d.seq;
}

void fx_publish(fx_engine *e)
{
    pthread_mutex_lock(&e->c.mu);
    tl_conn_publish(&e->c);
    pthread_mutex_unlock(&e->c.mu);
}

uint64_t fx_wakeups(const fx_engine *e)
{
    return e->c.wakeups;
}

int fx_sync(fx_shard *s, fx_engine *e, uint64_t deadline_ns,
            unsigned interest, uint64_t seq)
{
    tick_decision d;

    d.deadline_ns = deadline_ns;
    d.interest = interest;
    d.seq = seq;
    return tl_shard_sync(&s->s, &e->c.link, &d);
}
