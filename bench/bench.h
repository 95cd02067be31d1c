/*
 * bench.h: what the tickless-bench scenarios share.
 *
 * tickless-bench is one program with one subcommand per scenario
 * (`tickless-bench scale ...`, `tickless-bench all`). Each scenario lives in a
 * file of its own and exports one bench_scenario; bench_main.c lists them.
 *
 * A benchmark measures; it never fails on a number. A scenario exits 0 when
 * it ran (whatever it measured), 1 when it could not run, 2 on bad usage.
 */
#ifndef TICKLESS_BENCH_H
#define TICKLESS_BENCH_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <openssl/ssl.h>

/* The QUIC scenarios need a QUIC server, which needs OpenSSL >= 3.5. */
#if OPENSSL_VERSION_NUMBER >= 0x30500000L && !defined(OPENSSL_NO_QUIC)
#define BENCH_HAVE_QUIC 1
#else
#define BENCH_HAVE_QUIC 0
#endif

#define BENCH_EXIT_OK 0
#define BENCH_EXIT_FAILED 1
#define BENCH_EXIT_USAGE 2

typedef struct bench_scenario {
    const char *name;
    const char *summary; /* one line for `tickless-bench --help` */
    /* argv[0] is the scenario name; returns a BENCH_EXIT_* code. */
    int (*run)(int argc, char **argv);
    /* Prints the scenario's options. */
    void (*usage)(FILE *out);
} bench_scenario;

extern const bench_scenario bench_scale;
extern const bench_scenario bench_busy;
extern const bench_scenario bench_dtls_handshake;
extern const bench_scenario bench_wake;
extern const bench_scenario bench_rearm;
extern const bench_scenario bench_rtt;
extern const bench_scenario bench_bulk;
extern const bench_scenario bench_tick_cost;
extern const bench_scenario bench_server_scale;

/* plot.c: SVG charts (gnuplot) from the CSV files in |csv_dir|, written to
 * |out_dir|; 0, or -1 (no gnuplot, or a chart failed). Also the `plot`
 * command, which is not a scenario (`all` does not run it). */
int bench_plot(const char *csv_dir, const char *out_dir);
extern const bench_scenario bench_plot_cmd;

/* ---- bench_opts.c: a scenario's command line ---------------------------- */

/* The options every scenario takes (`all` passes the first three on). */
typedef struct bench_common_opts {
    int quick;           /* --quick: the scenario's small, short run */
    int markdown;        /* --markdown: tables as Markdown */
    const char *csv_dir; /* --csv DIR: also write CSV files there; or NULL */
} bench_common_opts;

/* getopt_long() codes of the common options. A scenario numbers its own
 * from BENCH_OPT_OWN, so that no code means two options. */
enum { BENCH_OPT_QUICK = 256, BENCH_OPT_MARKDOWN, BENCH_OPT_CSV,
       BENCH_OPT_HELP, BENCH_OPT_OWN };

/* The common options' entries, for the end of a scenario's longopts. */
#define BENCH_COMMON_LONGOPTS                                   \
    { "quick", no_argument, NULL, BENCH_OPT_QUICK },            \
    { "markdown", no_argument, NULL, BENCH_OPT_MARKDOWN },      \
    { "csv", required_argument, NULL, BENCH_OPT_CSV },          \
    { "help", no_argument, NULL, BENCH_OPT_HELP }

/*
 * The `default:` of a scenario's getopt_long() switch: takes |c| if it is a
 * common option (--csv's DIR from optarg) into |co|. Returns 1 when parsing
 * goes on; 0 when the scenario returns *rc at once: after --help, with
 * |usage| on stdout and BENCH_EXIT_OK; after an option getopt_long() did
 * not know (it has said which), with |usage| on stderr and
 * BENCH_EXIT_USAGE.
 */
int bench_opts_common(int c, bench_common_opts *co, void (*usage)(FILE *),
                      int *rc);

/* A bad value or a stray argument: says "SCENARIO: bad option or value",
 * prints |usage| on stderr. Returns BENCH_EXIT_USAGE. */
int bench_opts_bad(const char *scenario, void (*usage)(FILE *));

/* Parse a decimal |min|..|max| into |out|. Return 0 or -1. */
int bench_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out);
int bench_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * Parses "all" or a list like "app-driven,pool-1" into a mask of
 * 1u << (index in a scenario's mode table). The table is any array of
 * structs with a name: |name0| is &table[0].name, |stride| sizeof(table[0])
 * and |n| the number of modes ("all": every one). Returns 0, or -1 on an
 * unknown name or an empty list.
 */
int bench_parse_modes(const char *s, const char *const *name0, size_t stride,
                      size_t n, unsigned *mask);

/*
 * Parses "100,1000,5000" into |out| (at most |max| values, each 1..|limit|).
 * Returns the number of values, or -1 on a malformed list.
 */
int bench_parse_counts(const char *s, unsigned *out, size_t max,
                       unsigned limit);

/* ---- bench_util.c: the process as the kernel sees it -------------------- */

/* Memory of the calling process, in bytes (/proc/self/statm), and its
 * open descriptors. */
typedef struct bench_mem {
    uint64_t rss; /* resident set */
    uint64_t vm;  /* virtual size: every mapping, reserved or touched */
    uint64_t fds; /* bench_fds() */
} bench_mem;

/* A tickless pool of |threads| assist threads named |name|-<n>, into
 * |out|; 0 or a TICKLESS_ERR_* code (tickless_pool_new()). */
struct tickless_pool;
int bench_pool_new(unsigned threads, const char *name,
                   struct tickless_pool **out);

/* Returns 0, or -1 if /proc/self/statm or /proc/self/fd cannot be read. */
int bench_mem_read(bench_mem *out);

/* Threads of the calling process (/proc/self/task), or -1. */
int bench_threads(void);

/* Open descriptors of the calling process (/proc/self/fd), or -1. */
int bench_fds(void);

/* CPU time used by every thread of the calling process so far, in ns. */
uint64_t bench_process_cpu_ns(void);

/* Times any thread of the calling process went to sleep (voluntary context
 * switches, getrusage RUSAGE_SELF): one per wake-up that follows. */
uint64_t bench_process_sleeps(void);

/* A counter of the system calls made by the calling thread and by the
 * threads it starts afterwards (their sum, live or exited): perf's
 * raw_syscalls:sys_enter tracepoint. -1 where the machine offers none
 * (tracefs not mounted: `mount -t tracefs nodev /sys/kernel/tracing`;
 * perf_event_paranoid; a seccomp filter). Close it with close(). */
int bench_syscalls_open(void);
/* Its count so far; UINT64_MAX if |fd| is -1 or the read fails. */
uint64_t bench_syscalls_read(int fd);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* The |pct|th percentile (nearest rank; 100: the maximum) of |v|, sorting
 * |v| in place; 0 if n == 0. */
uint64_t bench_percentile(uint64_t *v, size_t n, unsigned pct);

/* Where that percentile stands in |n| > 0 sorted values: the 0-based index
 * of the nearest rank, ceil(n * pct / 100), kept within 1..n. */
size_t bench_rank_index(size_t n, unsigned pct);

/*
 * Raises RLIMIT_NOFILE as far as it goes: the hard limit to fs.nr_open if
 * the process may (CAP_SYS_RESOURCE), then the soft limit to the hard one.
 * Returns the soft limit in force afterwards (raised or not).
 */
uint64_t bench_raise_nofile(void);

/* Whether the hard RLIMIT_NOFILE is below what the kernel allows: after
 * bench_raise_nofile(), that this process may not raise it. */
int bench_nofile_held_down(void);

/* Writes "12.3 KiB" or "8.02 MiB" (binary units) for |bytes|. */
void bench_fmt_bytes(char *buf, size_t len, double bytes);

/* One line describing the machine: CPUs, kernel, OpenSSL, tickless. */
void bench_print_environment(FILE *out, const char *prefix);

/*
 * Whether QUIC scenario |scenario| must be skipped: this build has no QUIC
 * server (OpenSSL < 3.5 at build time), or the OpenSSL or tickless loaded
 * at run time has no QUIC. Skipped, it says why on stdout, and the scenario
 * returns BENCH_EXIT_OK: a machine without QUIC is not a failure. Returns
 * 1 (skip) or 0 (run).
 */
int bench_quic_skipped(const char *scenario);

/*
 * Forks a child that runs |fn| and sends back |len| bytes of result through
 * a pipe. Waits for it; returns 0 with |result| filled, or -1 if the child
 * died or sent less (a description goes to |why|, which may be NULL).
 */
int bench_run_child(int (*fn)(void *arg, void *result, size_t len), void *arg,
                    void *result, size_t len, char *why, size_t why_len);

/* 0 once |fd| is readable (or at EOF), -1 after |ms| or on error. */
int bench_wait_readable(int fd, int ms);

/* A child process that runs beside the caller: a server that the measured
 * process talks to. */
typedef struct bench_peer {
    pid_t pid; /* 0: none */
    int fd;    /* the caller's end of a stream socketpair with the child */
} bench_peer;

/*
 * Forks a child that runs |fn|(|arg|, fd) beside the caller, where
 * bench_run_child() waits for its child instead. |fn| gets its end of a
 * stream socketpair: it sends |hello_len| bytes once it is ready (its port,
 * say), serves until a read on the socket returns 0 (bench_peer_finish()),
 * may then send a result, and returns 0 (exit status 0) or -1. The child
 * dies with the caller (PR_SET_PDEATHSIG). Waits up to |timeout_ms| for the
 * hello, into |hello|. Returns 0 with |p| filled, or -1 with the child
 * killed and reaped.
 */
int bench_peer_start(int (*fn)(void *arg, int fd), void *arg, void *hello,
                     size_t hello_len, int timeout_ms, bench_peer *p);

/*
 * Tells the child to finish (shuts our side of the socket for writing: a
 * copy of the descriptor that another child inherited does not delay it),
 * reads |len| bytes of result into |result| within |timeout_ms| (none if
 * |len| is 0), closes the socket and reaps the child, killing it first if
 * it has not exited by then. Returns 0, or -1 (no whole result). Safe on a
 * peer that never started.
 */
int bench_peer_finish(bench_peer *p, void *result, size_t len,
                      int timeout_ms);

/*
 * Opens DIR/NAME.csv for writing (creating DIR if it does not exist) for a
 * scenario's --csv output. Returns the stream, or NULL with a message on
 * stderr.
 */
FILE *bench_csv_open(const char *dir, const char *name);

/* ---- bench_ssl.c: what the scenarios' OpenSSL clients share ------------- */

/* Appends ": " and OpenSSL's reason for this thread's last error to the
 * string |msg| (a buffer of |size| bytes), if there is one and room; clears
 * the thread's error queue either way. */
void bench_ssl_add_reason(char *msg, size_t size);

/* Whether |ret|, from an SSL call on nonblocking |ssl|, means "try again
 * when the socket is ready" (SSL_ERROR_WANT_READ or _WANT_WRITE). */
int bench_ssl_would_block(SSL *ssl, int ret);

#if BENCH_HAVE_QUIC
/* The "native" mode's context: OpenSSL's thread-assisted QUIC client
 * method, trusting the generated certificate only, as ts_client_ctx() does
 * for the plain method. NULL on failure. */
SSL_CTX *bench_ssl_native_ctx(void);
#endif

/* ---- bench_table.c: aligned text or Markdown tables --------------------- */

#define BENCH_TABLE_MAX_COLS 16
#define BENCH_TABLE_CELL 96

typedef struct bench_table bench_table;

/* A table with |ncols| columns titled |titles|; NULL on out of memory. */
bench_table *bench_table_new(size_t ncols, const char *const *titles);

/* Appends a row; takes exactly ncols strings (copied, cut to the cell size).
 * Returns 0 or -1 (out of memory). */
int bench_table_add(bench_table *t, const char *const *cells);

/* As bench_table_add(), from a row of cell buffers (ncols of them). */
int bench_table_add_cells(bench_table *t,
                          char (*cells)[BENCH_TABLE_CELL]);

/* Prints the table: columns padded to their widest cell, or, with
 * |markdown|, as a GitHub-flavoured Markdown table. */
void bench_table_print(const bench_table *t, FILE *out, int markdown);

void bench_table_free(bench_table *t);

/* ---- bench_server.c: a QUIC echo server in a process of its own ---------- */

#define BENCH_SERVER_MAX_PROCS 8

typedef struct bench_server {
    uint16_t port; /* 127.0.0.1:port, UDP; 0 when not running */
    pid_t pids[BENCH_SERVER_MAX_PROCS]; /* the server processes ... */
    unsigned nprocs;                    /* ... this many */
} bench_server;

/*
 * Forks a process that runs a QUIC echo server on an OpenSSL 3.5 listener
 * with a server idle timeout of |idle_timeout_ms|, and waits until it
 * reports its port. The server's CPU time is its own and never appears in
 * the caller's rusage or /proc/self figures. Fork it while single-threaded,
 * after ts_cert_get0().
 * Returns 0 with |out| filled, or -1 (no QUIC in this build, fork failed, or
 * the server did not start).
 */
int bench_server_start(uint64_t idle_timeout_ms, bench_server *out);

/*
 * As bench_server_start(), with |processes| (1 to BENCH_SERVER_MAX_PROCS)
 * server processes sharing the port (SO_REUSEPORT): the kernel sends each
 * client, by its address, always to the same one. OpenSSL's listener ticks
 * every connection it holds on each wake-up, so one process serving N
 * connections handshakes slower as N grows (55 per second at N = 10,000
 * here); k processes each hold about N/k. With |idle_priority| they run
 * at SCHED_IDLE: at N = 10,000 they want more CPU than the machine has,
 * and must not take it from the client being measured (bench_server.c
 * says more). Not for a smoke run, which other tests may starve.
 */
int bench_server_start_shared(uint64_t idle_timeout_ms, unsigned processes,
                              int idle_priority, bench_server *out);

/* Kills the server processes and reaps them. Safe on a stopped server. */
void bench_server_stop(bench_server *s);

/* ---- bench_server.c: data pushed on demand (wake scenario) -------------- */

/*
 * As bench_server_start(), and the server also reads |ctl_fd| (the read end
 * of a pipe, which the child makes nonblocking): each uint32_t written to
 * the pipe makes it send that many bytes on every connection's stream at
 * once, unasked. The parent keeps its copy of |ctl_fd| and closes it.
 */
int bench_server_start_ctl(uint64_t idle_timeout_ms, int ctl_fd,
                           bench_server *out);

#endif /* TICKLESS_BENCH_H */
