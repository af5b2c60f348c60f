/*
 * pgcluster.h - PostgreSQL clusters of a test's own (tests/pg/cluster.sh), for the suites that
 * stop, pause or fail over the server under a daemon (test_failover, test_hung_db): the
 * shared test cluster of tests/pg/api.sh stays up for the other suites.
 */
#ifndef BUNSEN_TEST_PGCLUSTER_H
#define BUNSEN_TEST_PGCLUSTER_H

#include <stddef.h>
#include <stdint.h>

/* Run `sh tests/pg/cluster.sh ARGS`; its first output line into out (may be NULL).
 * Returns 0 when the command succeeded, else -1. */
int pgc_run(char *out, size_t n, const char *args);

/* The port of a postgresql://host:PORT/... URL (0 when there is none). */
int pgc_port(const char *url);

/* A new cluster in a new directory made from tmpl (a mkdtemp template: the directory is
 * written back), cluster dir tmpl/p, with a database dbname; url (n bytes) receives that
 * database's URL with connect_timeout=2. Fails the test on any error. */
void pgc_start(char *tmpl, const char *dbname, char *url, size_t n);

/* Signal every process of the cluster in cdir (its postmaster and backends): "STOP" makes a
 * server that is up (its kernel answers) and does not answer, "CONT" ends that. */
void pgc_signal(const char *cdir, const char *sig);

/* Stop the cluster of pgc_start (immediate) and remove its directory. */
void pgc_destroy(const char *dir);

#endif
