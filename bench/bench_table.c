/* bench_table: a table of short strings, printed aligned or as Markdown. */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

typedef char bench_cell[BENCH_TABLE_CELL];

struct bench_table {
    size_t ncols;
    size_t nrows;          /* rows, not counting the titles */
    size_t cap;            /* rows allocated, the titles' included */
    bench_cell *cells;     /* (nrows + 1) * ncols; row 0 holds the titles */
};

/* Appends a row: row r lives at index r + 1, row 0 being the titles. */
static int table_put(bench_table *t, const char *const *cells)
{
    size_t i, row = t->nrows + 1;

    if (row >= t->cap) {
        size_t cap = t->cap * 2;
        bench_cell *v = realloc(t->cells, cap * t->ncols * sizeof(*v));

        if (v == NULL)
            return -1;
        t->cells = v;
        t->cap = cap;
    }
    for (i = 0; i < t->ncols; i++)
        snprintf(t->cells[row * t->ncols + i], BENCH_TABLE_CELL, "%s",
                 cells[i] != NULL ? cells[i] : "");
    t->nrows++;
    return 0;
}

bench_table *bench_table_new(size_t ncols, const char *const *titles)
{
    bench_table *t;
    size_t i;

    if (ncols == 0 || ncols > BENCH_TABLE_MAX_COLS)
        return NULL;
    if ((t = calloc(1, sizeof(*t))) == NULL)
        return NULL;
    t->ncols = ncols;
    t->cap = 16;
    if ((t->cells = calloc(t->cap * ncols, sizeof(*t->cells))) == NULL) {
        free(t);
        return NULL;
    }
    for (i = 0; i < ncols; i++)
        snprintf(t->cells[i], BENCH_TABLE_CELL, "%s", titles[i]);
    return t;
}

int bench_table_add(bench_table *t, const char *const *cells)
{
    return table_put(t, cells);
}

int bench_table_add_cells(bench_table *t,
                          char (*cells)[BENCH_TABLE_CELL])
{
    const char *row[BENCH_TABLE_MAX_COLS];
    size_t k;

    for (k = 0; k < t->ncols; k++)
        row[k] = cells[k];
    return table_put(t, row);
}

/* Display width: bytes, but a UTF-8 sequence counts once. */
static size_t width(const char *s)
{
    size_t w = 0;

    for (; *s != '\0'; s++)
        if (((unsigned char)*s & 0xc0u) != 0x80u)
            w++;
    return w;
}

void bench_table_print(const bench_table *t, FILE *out, int markdown)
{
    size_t w[BENCH_TABLE_MAX_COLS] = { 0 };
    size_t r, c;

    for (r = 0; r <= t->nrows; r++)
        for (c = 0; c < t->ncols; c++) {
            size_t cw = width(t->cells[r * t->ncols + c]);

            if (cw > w[c])
                w[c] = cw;
        }
    for (r = 0; r <= t->nrows; r++) {
        for (c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            size_t pad = w[c] - width(s);

            /* Column 0 and 1 (what was measured) read best left-aligned,
             * numbers right-aligned. */
            if (markdown)
                fprintf(out, "| %s%*s ", s, (int)pad, "");
            else if (c < 2 || c + 1 == t->ncols)
                fprintf(out, "%s%*s%s", s, (int)pad, "",
                        c + 1 < t->ncols ? "  " : "");
            else
                fprintf(out, "%*s%s%s", (int)pad, "", s,
                        c + 1 < t->ncols ? "  " : "");
        }
        fputs(markdown ? "|\n" : "\n", out);
        if (r == 0 && markdown) {
            for (c = 0; c < t->ncols; c++) {
                size_t i;

                fputs(c < 2 || c + 1 == t->ncols ? "| :" : "| ", out);
                for (i = 0; i + 1 < w[c]; i++)
                    fputc('-', out);
                fputs(c < 2 || c + 1 == t->ncols ? "- " : ": ", out);
            }
            fputs("|\n", out);
        }
    }
}

void bench_table_free(bench_table *t)
{
    if (t == NULL)
        return;
    free(t->cells);
    free(t);
}
