/*
 * kv_server: a key-value store over QUIC, one request per stream, served
 * by a fixed pool of worker threads written as plain blocking code. A
 * pool of two tickless threads keeps every connection on time; each
 * worker loops: take the next stream of any client
 * (tickless_listener_accept_stream()), read the request until the
 * client's FIN, reply, conclude, close. Needs OpenSSL 3.5.
 *
 *   kv_server CERT.pem KEY.pem PORT [WORKERS]
 *
 * Listens on UDP port PORT, IPv6 and IPv4 (quic_listen.c), ALPN "kv".
 * Each bidirectional stream carries one request, then the client's FIN:
 *
 *   PUT key value\n   ->  OK\n              (value: the rest of the line)
 *   GET key\n         ->  VALUE value\n  or  NOT_FOUND\n
 *   DEL key\n         ->  OK\n           or  NOT_FOUND\n
 *   anything else     ->  ERROR reason\n
 *
 * and the server's reply ends with its FIN. The store lives in memory and
 * is bounded: KV_MAX_KEYS keys of up to KV_MAX_KEY bytes, values of up to
 * KV_MAX_VALUE bytes; a request longer than KV_MAX_REQUEST gets
 * "ERROR too long". It stops when its standard input ends (or on Enter).
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <tickless/tickless.h>

#include "quic_listen.h"

#define KV_MAX_KEY 64
#define KV_MAX_VALUE 1024
#define KV_MAX_KEYS 1000
/* The longest valid request: "PUT key value\n" with both at their limit. */
#define KV_MAX_REQUEST (4 + KV_MAX_KEY + 1 + KV_MAX_VALUE + 1)
#define KV_BUCKETS 256

/* How long a stream may go without progress before its worker gives up on
 * it: a blocked worker is that client's until then. */
#define STALL_MS 10000
#define MAX_WORKERS 64

/*
 * The store: a chained hash table behind one mutex. Every operation is a
 * few string compares, so one lock for the whole table costs nothing
 * next to a network round trip, and it is obviously right.
 */
typedef struct kv_entry {
    struct kv_entry *next;
    char key[KV_MAX_KEY + 1];
    char value[KV_MAX_VALUE + 1];
} kv_entry;

static struct {
    pthread_mutex_t mu;
    kv_entry *buckets[KV_BUCKETS]; /* guarded by mu */
    int count;                     /* guarded by mu */
} store = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* FNV-1a: short, and good enough for a table of this size. */
static unsigned bucket_of(const char *key)
{
    uint32_t h = 2166136261u;

    for (; *key != '\0'; key++)
        h = (h ^ (unsigned char)*key) * 16777619u;
    return h % KV_BUCKETS;
}

/* The entry for |key|, or NULL. Caller holds store.mu (unchecked). */
static kv_entry *find(const char *key)
{
    kv_entry *e;

    for (e = store.buckets[bucket_of(key)]; e != NULL; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

/* Sets |key| to |value| (both within their limits, checked by the
 * caller). 0, or -1 when the store is full or out of memory. */
static int kv_put(const char *key, const char *value)
{
    kv_entry *e;
    int rc = 0;

    pthread_mutex_lock(&store.mu);
    e = find(key);
    if (e == NULL && store.count < KV_MAX_KEYS
        && (e = calloc(1, sizeof(*e))) != NULL) {
        strcpy(e->key, key);
        e->next = store.buckets[bucket_of(key)];
        store.buckets[bucket_of(key)] = e;
        store.count++;
    }
    if (e != NULL)
        strcpy(e->value, value);
    else
        rc = -1;
    pthread_mutex_unlock(&store.mu);
    return rc;
}

/* Copies |key|'s value into |value| (KV_MAX_VALUE + 1 bytes): a copy made
 * under the lock, as another worker may replace or delete the entry the
 * moment the lock is released. 0, or -1 if there is no such key. */
static int kv_get(const char *key, char *value)
{
    kv_entry *e;

    pthread_mutex_lock(&store.mu);
    e = find(key);
    if (e != NULL)
        strcpy(value, e->value);
    pthread_mutex_unlock(&store.mu);
    return e != NULL ? 0 : -1;
}

/* Frees every entry: at exit, once no worker runs. */
static void kv_free_all(void)
{
    kv_entry *e, *next;
    int b;

    for (b = 0; b < KV_BUCKETS; b++) {
        for (e = store.buckets[b]; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
        store.buckets[b] = NULL;
    }
    store.count = 0;
}

/* Removes |key|. 0, or -1 if there was no such key. */
static int kv_del(const char *key)
{
    kv_entry **p, *e = NULL;

    pthread_mutex_lock(&store.mu);
    for (p = &store.buckets[bucket_of(key)]; *p != NULL; p = &(*p)->next) {
        if (strcmp((*p)->key, key) == 0) {
            e = *p;
            *p = e->next;
            store.count--;
            break;
        }
    }
    pthread_mutex_unlock(&store.mu);
    free(e);
    return e != NULL ? 0 : -1;
}

/* Runs the one-line request in |req| (NUL-terminated, |len| bytes, may be
 * changed) and writes the reply into |reply| (KV_MAX_VALUE + 16 bytes). */
static void handle(char *req, size_t len, char *reply)
{
    char value[KV_MAX_VALUE + 1];
    char *cmd = req, *key, *arg;

    /* One line, ended by its newline; strlen() also catches a NUL byte. */
    if (len == 0 || req[len - 1] != '\n' || strlen(req) != len
        || memchr(req, '\n', len - 1) != NULL) {
        strcpy(reply, "ERROR not one line\n");
        return;
    }
    req[len - 1] = '\0';
    /* "CMD key" or "CMD key value...": split at the first two spaces. */
    key = strchr(cmd, ' ');
    if (key != NULL)
        *key++ = '\0';
    if (strcmp(cmd, "PUT") != 0 && strcmp(cmd, "GET") != 0
        && strcmp(cmd, "DEL") != 0) {
        strcpy(reply, "ERROR unknown command\n");
        return;
    }
    if (key == NULL || key[0] == '\0') {
        strcpy(reply, "ERROR no key\n");
        return;
    }
    arg = strchr(key, ' ');
    if (arg != NULL)
        *arg++ = '\0';
    if (strlen(key) > KV_MAX_KEY) {
        strcpy(reply, "ERROR key too long\n");
        return;
    }

    if (strcmp(cmd, "PUT") == 0) {
        if (arg == NULL || arg[0] == '\0')
            strcpy(reply, "ERROR no value\n");
        else if (strlen(arg) > KV_MAX_VALUE)
            strcpy(reply, "ERROR value too long\n");
        else if (kv_put(key, arg) != 0)
            strcpy(reply, "ERROR store full\n");
        else
            strcpy(reply, "OK\n");
    } else if (arg != NULL) {
        strcpy(reply, "ERROR one key only\n"); /* GET and DEL */
    } else if (strcmp(cmd, "GET") == 0) {
        if (kv_get(key, value) == 0)
            sprintf(reply, "VALUE %s\n", value);
        else
            strcpy(reply, "NOT_FOUND\n");
    } else {
        strcpy(reply, kv_del(key) == 0 ? "OK\n" : "NOT_FOUND\n");
    }
}

static atomic_ulong answered; /* requests replied to, FIN included */

/* Serves one stream: the request until the client's FIN, the reply, ours. */
static void serve(tickless_stream *s)
{
    char req[KV_MAX_REQUEST + 2], reply[KV_MAX_VALUE + 16];
    size_t len = 0, n;
    int rc = 0;

    /* Read one byte more than the limit allows, so that a request of
     * exactly KV_MAX_REQUEST bytes fits and a longer one shows. */
    while (len <= KV_MAX_REQUEST
           && (rc = tickless_stream_read(s, req + len,
                                         KV_MAX_REQUEST + 1 - len, &n,
                                         STALL_MS)) == 0)
        len += n;
    if (len > KV_MAX_REQUEST) {
        /* Refused without reading the rest, whose length only the
         * client knows: closing the stream below drops it. */
        strcpy(reply, "ERROR too long\n");
    } else if (rc == TICKLESS_ERR_EOF) {
        req[len] = '\0';
        handle(req, len, reply);
    } else {
        /* A stall (TICKLESS_ERR_TIMEOUT): let it go. Otherwise the client
         * reset the stream or the connection is gone: nobody to answer. */
        if (rc == TICKLESS_ERR_TIMEOUT)
            (void)tickless_stream_reset(s, 0);
        return;
    }
    if (tickless_stream_write(s, reply, strlen(reply), &n, STALL_MS) == 0
        && tickless_stream_conclude(s) == 0)
        atomic_fetch_add(&answered, 1);
}

static void *worker(void *arg)
{
    tickless_listener *l = arg;
    tickless_stream *s;

    /* Ends when main() closes the listener. */
    while (tickless_listener_accept_stream(l, &s, TICKLESS_FOREVER) == 0) {
        serve(s);
        tickless_stream_close(s);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t threads[MAX_WORKERS];
    tickless_pool_options opts;
    tickless_pool *pool = NULL;
    tickless_listener *l;
    int nworkers, nstarted, i, rc;
    SSL *ssl;

    if (argc < 4) {
        fprintf(stderr,
                "usage: %s CERT.pem KEY.pem PORT [WORKERS]\n"
                "  serves a key-value store over QUIC (ALPN \"kv\") on UDP "
                "PORT, IPv6 and IPv4;\n  WORKERS threads (default 4); the "
                "end of stdin (or Enter) stops it\n",
                argv[0]);
        return 2;
    }
    nworkers = argc > 4 ? atoi(argv[4]) : 4;
    if (nworkers < 1 || nworkers > MAX_WORKERS)
        nworkers = 4;

    tickless_pool_options_defaults(&opts);
    opts.threads = 2;
    opts.thread_name = "kv-assist";
    if ((rc = tickless_pool_new(&opts, &pool)) != 0) {
        fprintf(stderr, "pool: %s\n", tickless_strerror(rc));
        return 1;
    }
    ssl = quic_listen(argv[1], argv[2], atoi(argv[3]), "kv");
    if (ssl == NULL) {
        ERR_print_errors_fp(stderr);
        tickless_pool_free(pool);
        return 1;
    }
    if ((rc = tickless_listener_new(ssl, pool, &l)) != 0) {
        fprintf(stderr, "listener: %s\n", tickless_strerror(rc));
        SSL_free(ssl);
        tickless_pool_free(pool);
        return 1;
    }
    for (nstarted = 0; nstarted < nworkers; nstarted++)
        if (pthread_create(&threads[nstarted], NULL, worker, l) != 0)
            break;
    printf("kv server on UDP port %s with %d workers; end of stdin stops "
           "it\n",
           argv[3], nstarted);
    fflush(stdout);
    if (nstarted == nworkers)
        (void)getchar();

    /* Wakes the workers' accepts with TICKLESS_ERR_CLOSED and ends every
     * connection; then nothing else touches the listener or the store. */
    tickless_listener_close(l);
    for (i = 0; i < nstarted; i++)
        pthread_join(threads[i], NULL);
    tickless_listener_free(l);
    printf("answered %lu requests; %d keys stored\n",
           (unsigned long)atomic_load(&answered), store.count);
    kv_free_all();
    rc = tickless_pool_free(pool);
    return nstarted == nworkers && rc == 0 ? 0 : 1;
}
