/*
 * store_int.h - private structures shared by the files of src/store/: a connection
 * with its prepared-statement cache, the store itself, and SQLite error mapping.
 */
#ifndef BUNSEN_STORE_INT_H
#define BUNSEN_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "bunsen/store.h"

#define STMT_CACHE_SLOTS 64

/* A SQLite connection owned by one thread, with prepared statements cached by the
 * address of their (static) SQL text. */
struct conn {
    sqlite3 *db;
    struct {
        const char *sql;
        sqlite3_stmt *stmt;
    } cache[STMT_CACHE_SLOTS];
    int64_t data_version;
    void *scratch; /* a growable buffer for the connection's owner (freed on close) */
    size_t scratch_size;
};

struct store_tx {
    struct conn *conn;
    struct store *store;
};

struct writer;

struct store {
    char *path;
    struct conn *main;        /* the writer's connection (also used by CLI commands) */
    pthread_key_t reader_key; /* per-thread read connection */
    pthread_mutex_t readers_mu;
    struct conn **readers; /* every reader opened, closed by store_close */
    size_t nreaders, areaders;
    struct writer *writer; /* NULL until store_writer_start */
};

/* Open a connection with the standard pragmas. readonly: query_only=1. */
struct conn *conn_open(const char *path, bool readonly, struct err *err);
void conn_close(struct conn *c);

/* A cached prepared statement for the static string sql, reset and with bindings
 * cleared. Borrowed: valid until the connection closes. NULL on error (err filled). */
sqlite3_stmt *conn_prepare(struct conn *c, const char *sql, struct err *err);

/* Step a statement that returns no rows and reset it: 0, or -1 with err (what = context). */
int conn_step_done(struct conn *c, sqlite3_stmt *st, const char *what, struct err *err);

/* Execute SQL with no results. */
int conn_exec(struct conn *c, const char *sql, struct err *err);

/* This thread's read connection, opened on first use. */
struct conn *store_reader(struct store *s, struct err *err);

/* Map a SQLite result code to an err (disk full, read-only, I/O, busy -> ERR_UNAVAILABLE;
 * constraint -> ERR_CONFLICT; others ERR_INTERNAL). Always returns -1. */
int store_sqlite_err(sqlite3 *db, int rc, const char *what, struct err *err);

/* Bind a NUL-terminated text or NULL. */
int bind_text(sqlite3_stmt *st, int idx, const char *s);

/* Copy column text into dst (size n), "" when NULL. */
void column_copy(sqlite3_stmt *st, int col, char *dst, size_t n);

#endif
