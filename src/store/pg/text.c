/*
 * text.c - the PostgreSQL adapter's text encoding of parameters and decoding of results:
 * array literals built in a growable buffer (pg_text, pg_arr_*) for batches expanded with
 * unnest(), and typed reads of result fields (pg_i64, pg_f64, pg_str). Pure: no I/O; a
 * pg_text belongs to the thread that uses it.
 */
#include "pg_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"

/* ---- parameters and results ---- */

void pg_text_free(struct pg_text *t)
{
    free(t->p);
    memset(t, 0, sizeof(*t));
}

static void text_put(struct pg_text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->p = xrealloc(t->p, t->cap);
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

void pg_arr_begin(struct pg_text *t)
{
    t->len = 0;
    t->count = 0;
    text_put(t, "{", 1);
}

static void arr_sep(struct pg_text *t)
{
    if (t->count++ > 0) {
        text_put(t, ",", 1);
    }
}

void pg_arr_str(struct pg_text *t, const char *v)
{
    arr_sep(t);
    if (v == NULL) {
        text_put(t, "NULL", 4);
        return;
    }
    text_put(t, "\"", 1);
    const char *run = v;
    for (const char *q = v; *q; q++) {
        if (*q == '"' || *q == '\\') {
            text_put(t, run, (size_t)(q - run));
            text_put(t, "\\", 1);
            run = q;
        }
    }
    text_put(t, run, strlen(run));
    text_put(t, "\"", 1);
}

void pg_arr_i64(struct pg_text *t, int64_t v)
{
    char b[32];
    arr_sep(t);
    int w = snprintf(b, sizeof(b), "%" PRId64, v);
    text_put(t, b, (size_t)w);
}

void pg_arr_f64(struct pg_text *t, double v)
{
    char b[40];
    arr_sep(t);
    int w = snprintf(b, sizeof(b), "%.17g", v);
    text_put(t, b, (size_t)w);
}

const char *pg_arr_end(struct pg_text *t)
{
    text_put(t, "}", 1);
    return t->p;
}

void pg_array_strv(struct pg_text *t, const char *const *v, size_t n)
{
    pg_arr_begin(t);
    for (size_t i = 0; i < n; i++) {
        pg_arr_str(t, v[i]);
    }
    pg_arr_end(t);
}

int64_t pg_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

double pg_f64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtod(PQgetvalue(r, row, col), NULL);
}

const char *pg_str(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}
