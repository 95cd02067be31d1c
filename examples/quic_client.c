/*
 * quic_client: one QUIC connection, K streams, K threads. Each thread opens
 * its own stream, sends BYTES of a pattern in 16 KiB requests, reads each
 * one's echo back and checks it, then finishes the stream and waits for the
 * server's FIN -- all blocking calls, all at once on one connection, while
 * a tickless assist thread keeps the connection on time.
 *
 *   quic_client HOST PORT [STREAMS] [BYTES]
 *
 * HOST is a name or an address. tickless_connect() tries every address a
 * name has, IPv6 and IPv4 (Happy Eyeballs: a silent one is overtaken
 * after 250 ms), until a handshake completes; if none does, the message
 * says what each address did. Talks to quic_echo_server (ALPN "echo").
 * Certificates are verified against the system store unless
 * TICKLESS_EXAMPLE_CAFILE names a PEM file to trust instead. Exit status
 * 0 only if every stream came back intact.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include <tickless/tickless.h>

#define CHUNK 16384
#define TIMEOUT_MS 10000
#define MAX_STREAMS 64

typedef struct stream_job {
    tickless_conn *conn;
    int index;
    size_t bytes;
    int rc;        /* the first failure, 0 if none */
    int corrupted; /* an echo differed from what was sent */
} stream_job;

/* The byte at |offset| of stream |index|'s data: streams differ, so a
 * reply delivered on the wrong stream is caught. */
static unsigned char pattern(int index, size_t offset)
{
    return (unsigned char)((offset * 31u + (size_t)index * 7u) >> 3);
}

/* Reads exactly |len| bytes. */
static int read_full(tickless_stream *s, unsigned char *buf, size_t len)
{
    size_t got = 0, n;
    int rc;

    while (got < len) {
        rc = tickless_stream_read(s, buf + got, len - got, &n, TIMEOUT_MS);
        if (rc != 0)
            return rc;
        got += n;
    }
    return 0;
}

static void *run_stream(void *arg)
{
    stream_job *job = arg;
    unsigned char out[CHUNK], in[CHUNK];
    tickless_stream *s;
    size_t off, len, n, i;
    int rc;

    rc = tickless_stream_open(job->conn, 0, &s, TIMEOUT_MS);
    if (rc != 0) {
        job->rc = rc;
        return NULL;
    }
    for (off = 0; rc == 0 && off < job->bytes; off += len) {
        len = job->bytes - off < CHUNK ? job->bytes - off : CHUNK;
        for (i = 0; i < len; i++)
            out[i] = pattern(job->index, off + i);
        rc = tickless_stream_write(s, out, len, &n, TIMEOUT_MS);
        if (rc == 0)
            rc = read_full(s, in, len);
        if (rc == 0 && memcmp(in, out, len) != 0)
            job->corrupted = 1;
    }
    /* Our FIN, then the server's: a clean end of stream both ways. */
    if (rc == 0)
        rc = tickless_stream_conclude(s);
    if (rc == 0) {
        rc = tickless_stream_read(s, in, 1, &n, TIMEOUT_MS);
        rc = rc == TICKLESS_ERR_EOF ? 0 : rc == 0 ? TICKLESS_ERR_SSL : rc;
    }
    job->rc = rc;
    tickless_stream_close(s);
    return NULL;
}

int main(int argc, char **argv)
{
    stream_job jobs[MAX_STREAMS];
    pthread_t threads[MAX_STREAMS];
    const char *cafile = getenv("TICKLESS_EXAMPLE_CAFILE");
    tickless_error_info err = TICKLESS_ERROR_INFO_INIT;
    tickless_connect_options opts;
    tickless_conn *conn;
    int nstreams, i, rc, failed = 0;
    size_t bytes;
    SSL_CTX *ctx;

    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST PORT [STREAMS] [BYTES]\n", argv[0]);
        return 2;
    }
    nstreams = argc > 3 ? atoi(argv[3]) : 4;
    bytes = argc > 4 ? (size_t)strtoull(argv[4], NULL, 10) : 100000;
    if (nstreams < 1 || nstreams > MAX_STREAMS) {
        fprintf(stderr, "STREAMS must be 1 to %d\n", MAX_STREAMS);
        return 2;
    }

    /* Resolve, try every address, verify, ALPN "echo", handshake. */
    ctx = SSL_CTX_new(OSSL_QUIC_client_method());
    if (ctx == NULL
        || !(cafile != NULL ? SSL_CTX_load_verify_file(ctx, cafile)
                            : SSL_CTX_set_default_verify_paths(ctx))) {
        fprintf(stderr, "cannot make the SSL_CTX\n");
        SSL_CTX_free(ctx);
        return 1;
    }
    tickless_connect_options_defaults(&opts);
    opts.alpn = "echo";
    opts.error = &err;
    rc = tickless_connect(ctx, argv[1], argv[2], &opts, NULL, &conn,
                          TIMEOUT_MS);
    SSL_CTX_free(ctx);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", tickless_err_name(rc), err.message);
        return 1;
    }

    for (i = 0; i < nstreams; i++) {
        jobs[i].conn = conn;
        jobs[i].index = i;
        jobs[i].bytes = bytes;
        jobs[i].rc = 0;
        jobs[i].corrupted = 0;
        if (pthread_create(&threads[i], NULL, run_stream, &jobs[i]) != 0) {
            nstreams = i;
            failed = 1;
            break;
        }
    }
    for (i = 0; i < nstreams; i++) {
        pthread_join(threads[i], NULL);
        if (jobs[i].rc != 0 || jobs[i].corrupted) {
            failed = 1;
            printf("stream %d: %s\n", i,
                   jobs[i].corrupted ? "echo differs from what was sent"
                                     : tickless_strerror(jobs[i].rc));
        } else {
            printf("stream %d: %zu bytes echoed intact\n", i, bytes);
        }
    }
    (void)tickless_conn_shutdown(conn, 2000);
    tickless_conn_close(conn);
    return failed ? 1 : 0;
}
