/* fz_victim: see fz_victim.h. The protocol-independent half: connecting
 * through a fresh relay, the echo check, the captures. */
#include "fz_victim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fz.h"

/* Per call of the echo; loopback answers in well under a millisecond.
 * Generous where a lost echo is a finding; shorter where the echo may be
 * lost for good (each of FZ_ECHO_TRIES tries waits this long). */
#define ECHO_TIMEOUT_MS 5000
#define LOSSY_ECHO_TIMEOUT_MS 1000
/* Connection attempts before the server counts as no longer serving. */
#define CONNECT_TRIES 3

static void tap(void *arg, int to_server, int client, const uint8_t *data,
                size_t len)
{
    fz_victim *v = arg;

    if (client != 0)
        return; /* only the real client's traffic is worth replaying */
    if (len > FZ_CAPTURE_MAX)
        len = FZ_CAPTURE_MAX;
    pthread_mutex_lock(&v->tap_mu);
    if (v->first[to_server].len == 0) {
        memcpy(v->first[to_server].data, data, len);
        v->first[to_server].len = len;
    }
    memcpy(v->last[to_server].data, data, len);
    v->last[to_server].len = len;
    pthread_mutex_unlock(&v->tap_mu);
}

size_t fz_victim_capture(fz_victim *v, int first, int to_server, uint8_t *out)
{
    const fz_capture *c;
    size_t n;

    pthread_mutex_lock(&v->tap_mu);
    c = first ? &v->first[to_server != 0] : &v->last[to_server != 0];
    n = c->len;
    memcpy(out, c->data, n);
    pthread_mutex_unlock(&v->tap_mu);
    return n;
}

void fz_victim_drop(fz_victim *v)
{
    tickless_conn_close(v->client);
    v->client = NULL;
    if (v->server != NULL)
        v->ops->disconnect(v);
    v->server = NULL;
    ts_relay_stop(v->relay);
    v->relay = NULL;
}

static int victim_connect(fz_victim *v)
{
    ts_relay_options o;

    memset(&o, 0, sizeof(o));
    o.tap = tap;
    o.tap_arg = v;
    pthread_mutex_lock(&v->tap_mu);
    memset(v->first, 0, sizeof(v->first));
    memset(v->last, 0, sizeof(v->last));
    pthread_mutex_unlock(&v->tap_mu);
    if (ts_relay_start(v->server_port, &o, &v->relay) != 0) {
        snprintf(v->why, sizeof(v->why), "ts_relay_start failed");
        return -1;
    }
    if (v->ops->connect(v) != 0)
        return -1;
    v->connects++;
    return fz_victim_echo(v) == 0 ? 0 : -1;
}

void fz_victim_ensure(fz_victim *v)
{
    int i;

    if (v->client != NULL)
        return;
    for (i = 0; i < CONNECT_TRIES; i++) {
        if (victim_connect(v) == 0)
            return;
        fz_note("%s: connect failed: %s", v->name, v->why);
        fz_victim_drop(v);
    }
    fz_die("%s server stopped serving: %d connection attempts failed, the "
           "last with: %s", v->name, CONNECT_TRIES, v->why);
}

/* Writes one record (fz_datagrams.h) as a file of |dir|. */
static void write_seed(const char *dir, const char *name, uint8_t op,
                       const uint8_t *data, size_t len)
{
    char path[4096];
    uint8_t head[3] = { op, (uint8_t)(len >> 8), (uint8_t)len };
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((f = fopen(path, "wb")) == NULL ||
        fwrite(head, 1, sizeof(head), f) != sizeof(head) ||
        fwrite(data, 1, len, f) != len || fclose(f) != 0)
        fz_die("could not write the seed %s", path);
}

/* TICKLESS_FUZZ_SEEDS_OUT=dir: the real datagrams of the first
 * connection, as seed inputs (how fuzz/corpus was made). */
static void save_seeds(fz_victim *v, const char *dir)
{
    static uint8_t d[FZ_CAPTURE_MAX];
    size_t n;

    if ((n = fz_victim_capture(v, 1, 1, d)) > 0) {
        write_seed(dir, "first-to-server-from-stranger", 0x02, d, n);
        write_seed(dir, "first-to-server-replayed", 0x00, d, n);
    }
    if ((n = fz_victim_capture(v, 1, 0, d)) > 0)
        write_seed(dir, "first-to-client-replayed", 0x01, d, n);
    if ((n = fz_victim_capture(v, 0, 1, d)) > 0)
        write_seed(dir, "latest-to-server-replayed", 0x00, d, n);
    if ((n = fz_victim_capture(v, 0, 0, d)) > 0)
        write_seed(dir, "latest-to-client-replayed", 0x01, d, n);
}

void fz_victim_init(fz_victim *v)
{
    const char *seeds = getenv("TICKLESS_FUZZ_SEEDS_OUT");

    v->stranger_fd = -1;
    pthread_mutex_init(&v->tap_mu, NULL);
    if (v->ops->setup(v) != 0)
        fz_die("%s: setup failed: %s", v->name, v->why);
    fz_victim_ensure(v);
    if (seeds != NULL)
        save_seeds(v, seeds);
}

/* Why |c| failed, for the notes. */
static void describe(fz_victim *v, tickless_conn *c, const char *step, int rc)
{
    tickless_error_info ei = TICKLESS_ERROR_INFO_INIT;

    (void)tickless_conn_error(c, &ei);
    snprintf(v->why, sizeof(v->why), "%s: %s (%s)", step,
             tickless_err_name(rc), ei.message);
}

/* Judges one step of the echo: 0 to go on, 1 if the connection died in a
 * way the protocol allows (dropped), 2 if a lossy one lost the echo, or
 * dies. */
static int echo_timeout(const fz_victim *v)
{
    return v->lossy ? LOSSY_ECHO_TIMEOUT_MS : ECHO_TIMEOUT_MS;
}

static int judge(fz_victim *v, tickless_conn *c, const char *step, int rc,
                 uint64_t t0)
{
    fz_bounded(step, t0, echo_timeout(v));
    if (rc == 0)
        return 0;
    describe(v, c, step, rc);
    switch (rc) {
    case TICKLESS_ERR_PEER:
    case TICKLESS_ERR_SSL:
    case TICKLESS_ERR_EOF:
        v->deaths++;
        fz_note("%s: connection died: %s", v->name, v->why);
        fz_victim_drop(v);
        return 1;
    case TICKLESS_ERR_TIMEOUT:
        if (!v->lossy)
            fz_die("%s: the echo never came back, yet the connection "
                   "lives: %s", v->name, v->why);
        v->lost++;
        fz_note("%s: an echo was lost: %s", v->name, v->why);
        return 2;
    default:
        fz_die("%s: echo step %s", v->name, v->why);
    }
}

/* Whether |got| is an earlier echo's message: on a lossy connection one
 * whose echo timed out may still arrive, late. */
static int stale(const fz_victim *v, const char *got, size_t len)
{
    char want[32];

    return v->lossy && len == 26 && memcmp(got, "echo ", 5) == 0 &&
           strtoull(got + 5, NULL, 10) < v->echo_seq &&
           (size_t)snprintf(want, sizeof(want), "echo %020llu\n",
                            strtoull(got + 5, NULL, 10)) == len &&
           memcmp(want, got, len) == 0;
}

/* Reads the |len|-byte message |msg| from |c|, skipping stale ones.
 * Returns as judge() does. */
static int read_msg(fz_victim *v, tickless_conn *c, const char *step,
                    const char *msg, size_t len)
{
    char got[64];
    size_t have = 0;
    int r;

    for (;;) {
        size_t n = 0;
        uint64_t t0 = fz_now_ns();
        int rc = tickless_conn_read(c, got + have, len - have, &n,
                                    echo_timeout(v));

        fz_expect_rc(step, rc,
                     FZ_RC(0) | FZ_RC(TICKLESS_ERR_EOF) |
                         FZ_RC(TICKLESS_ERR_TIMEOUT) |
                         FZ_RC(TICKLESS_ERR_PEER) | FZ_RC(TICKLESS_ERR_SSL) |
                         FZ_RC(TICKLESS_ERR_SYS));
        if ((r = judge(v, c, step, rc, t0)) != 0)
            return r;
        if (n == 0 || n > len - have)
            fz_die("%s: %s returned 0 with %zu bytes for a %zu-byte buffer",
                   v->name, step, n, len - have);
        have += n;
        if (have < len)
            continue;
        got[have] = '\0';
        if (memcmp(got, msg, len) == 0)
            return 0;
        if (!stale(v, got, len))
            fz_die("%s: %s got \"%.*s\", not \"%.*s\"", v->name, step,
                   (int)len - 1, got, (int)len - 1, msg);
        have = 0; /* a late one: the one we want may follow */
    }
}

static int write_all(fz_victim *v, tickless_conn *c, const char *step,
                     const char *buf, size_t len)
{
    size_t n = 0;
    uint64_t t0 = fz_now_ns();
    int rc = tickless_conn_write(c, buf, len, &n, echo_timeout(v));

    fz_expect_rc(step, rc,
                 FZ_RC(0) | FZ_RC(TICKLESS_ERR_TIMEOUT) |
                     FZ_RC(TICKLESS_ERR_PEER) | FZ_RC(TICKLESS_ERR_SSL) |
                     FZ_RC(TICKLESS_ERR_SYS));
    if (rc == 0 && n != len)
        fz_die("%s: %s returned 0 having written %zu of %zu bytes", v->name,
               step, n, len);
    return judge(v, c, step, rc, t0);
}

int fz_victim_echo(fz_victim *v)
{
    char msg[32];
    size_t len;
    int r;

    if (v->client == NULL)
        return 1;
    len = (size_t)snprintf(msg, sizeof(msg), "echo %020llu\n",
                           (unsigned long long)++v->echo_seq);
    if ((r = write_all(v, v->client, "client write", msg, len)) != 0 ||
        (r = read_msg(v, v->server, "server read", msg, len)) != 0 ||
        (r = write_all(v, v->server, "server write", msg, len)) != 0 ||
        (r = read_msg(v, v->client, "client read", msg, len)) != 0)
        return r;
    v->echoes++;
    return 0;
}

void fz_victim_check(fz_victim *v)
{
    int i, r = 1;

    for (i = 0; i < (v->lossy ? FZ_ECHO_TRIES : 1); i++)
        if ((r = fz_victim_echo(v)) != 2)
            break;
    if (r == 2)
        fz_die("%s: %d echoes in a row were lost: the connection no longer "
               "serves (%s)", v->name, FZ_ECHO_TRIES, v->why);
    fz_victim_ensure(v);
}

void fz_victim_report(const fz_victim *v)
{
    fprintf(stderr,
            "fuzz: %s: inputs %llu, datagrams injected %llu, echoes %llu, "
            "connections %llu, died (as the protocol allows) %llu, "
            "echoes lost %llu\n",
            v->name, (unsigned long long)v->inputs,
            (unsigned long long)v->datagrams, (unsigned long long)v->echoes,
            (unsigned long long)v->connects, (unsigned long long)v->deaths,
            (unsigned long long)v->lost);
}
