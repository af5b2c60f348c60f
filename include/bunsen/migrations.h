/*
 * migrations.h - the schema migrations compiled into the binary from
 * migrations/sqlite/NNNN_name.sql by tools/embed_migrations.sh (build/gen/migrations.c). Ordered by
 * version.
 */
#ifndef BUNSEN_MIGRATIONS_H
#define BUNSEN_MIGRATIONS_H

struct migration {
    int version;      /* NNNN of the file name */
    const char *name; /* file name without .sql, e.g. "0001_init" */
    const char *sql;  /* the whole file */
};

extern const struct migration bunsen_migrations[]; /* SQLite: migrations/sqlite/ */
extern const int bunsen_migrations_count;
extern const struct migration bunsen_migrations_pg[]; /* PostgreSQL: migrations/postgres/ */
extern const int bunsen_migrations_pg_count;

#endif
