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

/* ---- binary arrays (array_recv: ndim, has-nulls flag, element type, then per dimension
 * its length and lower bound, then per element a 4-byte length, -1 for NULL, and the
 * element's bytes; all integers in network byte order) ---- */

#define BIN_HEADER 20 /* ndim, flags, oid, length, lower bound */

void pg_bin_free(struct pg_bin *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

static void bin_put(struct pg_bin *b, const void *s, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void bin_u32(struct pg_bin *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    bin_put(b, x, 4);
}

static void bin_u64(struct pg_bin *b, uint64_t v)
{
    bin_u32(b, (uint32_t)(v >> 32));
    bin_u32(b, (uint32_t)v);
}

static void bin_set_u32(struct pg_bin *b, size_t at, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    memcpy(b->p + at, x, 4);
}

void pg_bin_begin(struct pg_bin *b, unsigned oid)
{
    b->len = 0;
    b->count = 0;
    b->oid = oid;
    char zero[BIN_HEADER] = {0};
    bin_put(b, zero, sizeof(zero)); /* filled by pg_bin_end */
}

void pg_bin_str(struct pg_bin *b, const char *v)
{
    b->count++;
    if (v == NULL) {
        bin_u32(b, 0xffffffffu);
        bin_set_u32(b, 4, 1); /* has nulls */
        return;
    }
    size_t n = strlen(v);
    bin_u32(b, (uint32_t)n);
    bin_put(b, v, n);
}

void pg_bin_i64(struct pg_bin *b, int64_t v)
{
    b->count++;
    bin_u32(b, 8);
    bin_u64(b, (uint64_t)v);
}

void pg_bin_f64(struct pg_bin *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u)); /* IEEE 754 binary64, as float8send */
    b->count++;
    bin_u32(b, 8);
    bin_u64(b, u);
}

void pg_bin_tid(struct pg_bin *b, uint32_t block, uint16_t offset)
{
    b->count++;
    bin_u32(b, 6);
    bin_u32(b, block);
    unsigned char x[2] = {(unsigned char)(offset >> 8), (unsigned char)offset};
    bin_put(b, x, 2);
}

const char *pg_bin_end(struct pg_bin *b, int *len)
{
    if (b->count == 0) { /* an empty array has no dimensions */
        b->len = 12;
        bin_set_u32(b, 0, 0);
        bin_set_u32(b, 4, 0);
    } else {
        bin_set_u32(b, 0, 1);
        bin_set_u32(b, 16, 1);
        bin_set_u32(b, 12, (uint32_t)b->count);
    }
    bin_set_u32(b, 8, b->oid);
    *len = (int)b->len;
    return b->p;
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
