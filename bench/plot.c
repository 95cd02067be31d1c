/*
 * plot: SVG charts from the scenarios' CSV files, drawn by gnuplot.
 *
 *   tickless-bench all --csv DIR --plot OUT   run everything, then chart it
 *   tickless-bench plot CSV_DIR OUT_DIR       chart CSVs of an earlier run
 *
 * Charts (each one only if its CSV is there):
 *  - wake-cdf.svg, rearm-cdf.svg: the distribution of every sample per
 *    mode (from <scenario>-samples.csv), log time axis; a sample that timed
 *    out sits at the cap, so native's curve ends there;
 *  - scale-rss.svg, scale-cpu.svg: RSS per connection and idle CPU against
 *    the number of connections, per mode (scale.csv);
 *  - server-scale.svg: the handshake rate against the connections the
 *    server holds, per shard count (server-scale.csv);
 *  - busy-quic.svg, busy-dtls.svg: bytes the server had received over time
 *    while the application computed, per mode (busy.csv).
 * For each chart the data (.dat) and the gnuplot script (.gp) are left next
 * to the SVG, so a chart can be redrawn or restyled by hand.
 */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FIELDS 32
#define MAX_SERIES 16
#define LINE_MAX_LEN 4096

typedef struct csv_row {
    char *fields[MAX_FIELDS];
    int n;
} csv_row;

typedef struct csv_file {
    csv_row header;
    csv_row *rows;
    size_t nrows;
    char *text; /* the fields point into it */
} csv_file;

/* Reads a CSV of ours (no quoting); NULL if it cannot be read. */
static csv_file *csv_read(const char *path)
{
    FILE *f = fopen(path, "r");
    csv_file *c;
    long len;
    char *p, *line;

    if (f == NULL)
        return NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0
        || (c->text = malloc((size_t)len + 1)) == NULL
        || fread(c->text, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        if (c != NULL)
            free(c->text);
        free(c);
        return NULL;
    }
    fclose(f);
    c->text[len] = '\0';
    for (p = c->text; *p != '\0'; p++)
        c->nrows += *p == '\n';
    c->rows = calloc(c->nrows + 1, sizeof(*c->rows));
    if (c->rows == NULL) {
        free(c->text);
        free(c);
        return NULL;
    }
    c->nrows = 0;
    for (line = strtok(c->text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        csv_row *r = c->header.n == 0 ? &c->header : &c->rows[c->nrows++];
        char *field = line;

        for (;;) {
            char *comma = strchr(field, ',');

            if (r->n < MAX_FIELDS)
                r->fields[r->n++] = field;
            if (comma == NULL)
                break;
            *comma = '\0';
            field = comma + 1;
        }
    }
    return c;
}

static void csv_free(csv_file *c)
{
    if (c == NULL)
        return;
    free(c->rows);
    free(c->text);
    free(c);
}

/* The column named |name|, or -1. */
static int csv_col(const csv_file *c, const char *name)
{
    int i;

    for (i = 0; i < c->header.n; i++)
        if (strcmp(c->header.fields[i], name) == 0)
            return i;
    return -1;
}

static const char *field(const csv_row *r, int col)
{
    return col >= 0 && col < r->n ? r->fields[col] : "";
}

/* The distinct values of column |col|, in order of appearance. */
static int distinct(const csv_file *c, int col, const char **out, int max)
{
    size_t i;
    int n = 0, k;

    for (i = 0; i < c->nrows; i++) {
        const char *v = field(&c->rows[i], col);

        for (k = 0; k < n && strcmp(out[k], v) != 0; k++)
            ;
        if (k == n && n < max && v[0] != '\0')
            out[n++] = v;
    }
    return n;
}

/* Writes the gnuplot script |gp| for |svg| with |body| (the plot
 * commands), runs gnuplot on it; 0 or -1. */
static int render(const char *out_dir, const char *name, const char *title,
                  const char *xlabel, const char *ylabel, const char *extra,
                  const char *plot_cmd)
{
    char gp[4096], svg[4096], cmd[8300];
    FILE *f;

    snprintf(gp, sizeof(gp), "%s/%s.gp", out_dir, name);
    snprintf(svg, sizeof(svg), "%s/%s.svg", out_dir, name);
    if ((f = fopen(gp, "w")) == NULL) {
        fprintf(stderr, "plot: %s: %s\n", gp, strerror(errno));
        return -1;
    }
    fprintf(f,
            "set terminal svg size 860,520 dynamic enhanced font 'sans,12'\n"
            "set output '%s'\n"
            "set title \"%s\"\n"
            "set xlabel \"%s\"\nset ylabel \"%s\"\n"
            "set grid\nset key outside right top\n"
            "set datafile separator whitespace\n"
            "%s\n%s\n",
            svg, title, xlabel, ylabel, extra, plot_cmd);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "gnuplot '%s'", gp);
    if (system(cmd) != 0) {
        fprintf(stderr, "plot: gnuplot failed on %s\n", gp);
        return -1;
    }
    printf("plot: %s\n", svg);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* <scenario>-samples.csv -> <scenario>-cdf.svg */
static int plot_cdf(const char *csv_dir, const char *out_dir,
                    const char *scenario, const char *title)
{
    char path[4096], dat[4096], plot_cmd[8192] = "plot ";
    const char *modes[MAX_SERIES];
    csv_file *c;
    int nmodes, m, ms_col, mode_col, rc;

    snprintf(path, sizeof(path), "%s/%s-samples.csv", csv_dir, scenario);
    if ((c = csv_read(path)) == NULL)
        return 0; /* that scenario did not run */
    mode_col = csv_col(c, "mode");
    ms_col = csv_col(c, "ms");
    nmodes = distinct(c, mode_col, modes, MAX_SERIES);
    for (m = 0; m < nmodes; m++) {
        double *v = calloc(c->nrows + 1, sizeof(*v));
        size_t i, n = 0;
        FILE *f;

        if (v == NULL)
            break;
        for (i = 0; i < c->nrows; i++)
            if (strcmp(field(&c->rows[i], mode_col), modes[m]) == 0)
                v[n++] = strtod(field(&c->rows[i], ms_col), NULL);
        qsort(v, n, sizeof(*v), cmp_double);
        snprintf(dat, sizeof(dat), "%s/%s-cdf-%s.dat", out_dir, scenario,
                 modes[m]);
        if ((f = fopen(dat, "w")) != NULL) {
            for (i = 0; i < n; i++)
                fprintf(f, "%.6f %.6f\n", v[i] > 0 ? v[i] : 1e-3,
                        (double)(i + 1) / (double)n);
            fclose(f);
            snprintf(plot_cmd + strlen(plot_cmd),
                     sizeof(plot_cmd) - strlen(plot_cmd),
                     "%s'%s' using 1:2 with steps lw 2 title '%s'",
                     m > 0 ? ", " : "", dat, modes[m]);
        }
        free(v);
    }
    csv_free(c);
    if (nmodes == 0)
        return 0;
    snprintf(path, sizeof(path), "%s-cdf", scenario);
    rc = render(out_dir, path, title, "ms (log scale)", "fraction of samples",
                "set logscale x\nset yrange [0:1.02]", plot_cmd);
    return rc;
}

/* A line chart of one column against another, a line per value of a
 * third: <csv>.csv -> <name>.svg. */
typedef struct line_chart {
    const char *csv;        /* "scale": CSV_DIR/scale.csv */
    const char *x_col;      /* log scale */
    const char *series_col; /* a line per value, titled series_prefix value */
    const char *series_prefix;
    const char *y_col;
    double divide;          /* y is shown / this */
    const char *name, *title, *xlabel, *ylabel;
} line_chart;

static int plot_lines(const char *csv_dir, const char *out_dir,
                      const line_chart *lc)
{
    char path[4096], dat[4096], plot_cmd[8192] = "plot ";
    const char *series[MAX_SERIES];
    csv_file *c;
    int nseries, m, series_col, x_col, v_col, ok_col, rc;

    snprintf(path, sizeof(path), "%s/%s.csv", csv_dir, lc->csv);
    if ((c = csv_read(path)) == NULL)
        return 0;
    series_col = csv_col(c, lc->series_col);
    x_col = csv_col(c, lc->x_col);
    v_col = csv_col(c, lc->y_col);
    ok_col = csv_col(c, "ok");
    nseries = distinct(c, series_col, series, MAX_SERIES);
    for (m = 0; m < nseries; m++) {
        FILE *f;
        size_t i;

        snprintf(dat, sizeof(dat), "%s/%s-%s.dat", out_dir, lc->name,
                 series[m]);
        if ((f = fopen(dat, "w")) == NULL)
            continue;
        for (i = 0; i < c->nrows; i++) {
            const csv_row *r = &c->rows[i];

            if (strcmp(field(r, series_col), series[m]) != 0
                || strcmp(field(r, ok_col), "1") != 0
                || field(r, v_col)[0] == '\0')
                continue;
            fprintf(f, "%s %.6f\n", field(r, x_col),
                    strtod(field(r, v_col), NULL) / lc->divide);
        }
        fclose(f);
        snprintf(plot_cmd + strlen(plot_cmd),
                 sizeof(plot_cmd) - strlen(plot_cmd),
                 "%s'%s' using 1:2 with linespoints lw 2 title '%s%s'",
                 m > 0 ? ", " : "", dat, lc->series_prefix, series[m]);
    }
    csv_free(c);
    if (nseries == 0)
        return 0;
    rc = render(out_dir, lc->name, lc->title, lc->xlabel, lc->ylabel,
                "set logscale x", plot_cmd);
    return rc;
}

/* scale.csv -> scale-<what>.svg: |col| against n, per mode. */
static int plot_scale(const char *csv_dir, const char *out_dir,
                      const char *col_name, double divide, const char *what,
                      const char *title, const char *ylabel)
{
    char name[64];
    line_chart lc = { "scale", "n", "mode", "", col_name, divide, name,
                      title, "connections (log scale)", ylabel };

    snprintf(name, sizeof(name), "scale-%s", what);
    return plot_lines(csv_dir, out_dir, &lc);
}

/* busy.csv -> busy-<proto>.svg: received bytes over time, per mode. */
static int plot_busy(const char *csv_dir, const char *out_dir,
                     const char *proto, const char *title)
{
    char path[4096], dat[4096], plot_cmd[8192] = "plot ";
    const char *modes[MAX_SERIES];
    csv_file *c;
    int nmodes, m, proto_col, mode_col, what_col, t_col, v_col, plotted = 0;
    int rc;

    snprintf(path, sizeof(path), "%s/busy.csv", csv_dir);
    if ((c = csv_read(path)) == NULL)
        return 0;
    proto_col = csv_col(c, "proto");
    mode_col = csv_col(c, "mode");
    what_col = csv_col(c, "measurement");
    t_col = csv_col(c, "t_ms");
    v_col = csv_col(c, "value");
    nmodes = distinct(c, mode_col, modes, MAX_SERIES);
    for (m = 0; m < nmodes; m++) {
        FILE *f;
        size_t i;
        int points = 0;

        snprintf(dat, sizeof(dat), "%s/busy-%s-%s.dat", out_dir, proto,
                 modes[m]);
        if ((f = fopen(dat, "w")) == NULL)
            continue;
        for (i = 0; i < c->nrows; i++) {
            const csv_row *r = &c->rows[i];

            if (strcmp(field(r, proto_col), proto) != 0
                || strcmp(field(r, mode_col), modes[m]) != 0
                || strcmp(field(r, what_col), "received_series") != 0)
                continue;
            fprintf(f, "%.3f %.3f\n", strtod(field(r, t_col), NULL) / 1000.0,
                    strtod(field(r, v_col), NULL) / 1024.0);
            points++;
        }
        fclose(f);
        if (points == 0)
            continue;
        snprintf(plot_cmd + strlen(plot_cmd),
                 sizeof(plot_cmd) - strlen(plot_cmd),
                 "%s'%s' using 1:2 with steps lw 2 title '%s'",
                 plotted > 0 ? ", " : "", dat, modes[m]);
        plotted++;
    }
    csv_free(c);
    if (plotted == 0)
        return 0;
    snprintf(path, sizeof(path), "busy-%s", proto);
    rc = render(out_dir, path, title, "seconds since the write",
                "KiB the server had received", "", plot_cmd);
    return rc;
}

static const line_chart server_scale_chart = {
    "server-scale", "n_held", "shards", "shards=", "handshakes_per_s", 1.0,
    "server-scale", "server-scale: new handshakes while the server holds N",
    "connections held (log scale)", "handshakes per second"
};

int bench_plot(const char *csv_dir, const char *out_dir)
{
    int failed = 0;

    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "plot: gnuplot is not installed (Debian package "
                        "gnuplot-nox; scripts/install-deps installs it)\n");
        return -1;
    }
    if (mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "plot: cannot create %s: %s\n", out_dir,
                strerror(errno));
        return -1;
    }
    failed |= plot_cdf(csv_dir, out_dir, "wake",
                       "wake: from the peer's datagram to the client's ACK");
    failed |= plot_cdf(csv_dir, out_dir, "rearm",
                       "rearm: first retransmission after the deadline");
    failed |= plot_scale(csv_dir, out_dir, "rss_per_conn_bytes", 1024.0,
                         "rss", "scale: resident memory per connection",
                         "KiB per connection");
    failed |= plot_scale(csv_dir, out_dir, "idle_cpu_pct", 1.0, "cpu",
                         "scale: CPU while every connection is idle",
                         "% of one core");
    failed |= plot_lines(csv_dir, out_dir, &server_scale_chart);
    failed |= plot_busy(csv_dir, out_dir, "quic",
                        "busy (QUIC): delivered while the application computes");
    failed |= plot_busy(csv_dir, out_dir, "dtls",
                        "busy (DTLS): delivered while the application computes");
    return failed ? -1 : 0;
}

static void plot_usage(FILE *out)
{
    fprintf(out, "usage: tickless-bench plot CSV_DIR OUT_DIR\n"
                 "  Draws SVG charts (gnuplot) from the CSV files an earlier\n"
                 "  run wrote with --csv CSV_DIR: lateness CDFs (wake,\n"
                 "  rearm), RSS and idle CPU against connections (scale),\n"
                 "  handshake rate against connections held (server-scale),\n"
                 "  bytes delivered over time (busy).\n");
}

static int plot_main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        plot_usage(stdout);
        return BENCH_EXIT_OK;
    }
    if (argc != 3) {
        plot_usage(stderr);
        return BENCH_EXIT_USAGE;
    }
    return bench_plot(argv[1], argv[2]) == 0 ? BENCH_EXIT_OK
                                             : BENCH_EXIT_FAILED;
}

const bench_scenario bench_plot_cmd = {
    "plot",
    "SVG charts from the CSV files of an earlier run (needs gnuplot)",
    plot_main,
    plot_usage,
};
