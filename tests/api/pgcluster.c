/*
 * pgcluster.c - a test's own PostgreSQL cluster through tests/pg/cluster.sh (pgcluster.h).
 */
#include "pgcluster.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

int pgc_run(char *out, size_t n, const char *args)
{
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "sh tests/pg/cluster.sh %s", args);
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        return -1;
    }
    char line[512] = "";
    if (fgets(line, sizeof(line), p) == NULL) {
        line[0] = '\0';
    }
    int rc = pclose(p);
    line[strcspn(line, "\n")] = '\0';
    if (out != NULL) {
        snprintf(out, n, "%s", line);
    }
    return rc == 0 ? 0 : -1;
}

int pgc_port(const char *url)
{
    const char *c = strrchr(url, ':');
    return c ? atoi(c + 1) : 0;
}

void pgc_start(char *tmpl, const char *dbname, char *url, size_t n)
{
    assert_non_null(mkdtemp(tmpl));
    if (getuid() == 0) {
        assert_int_equal(system(fmt("chmod 755 '%s'", tmpl)), 0);
    }
    char server[256];
    assert_int_equal(pgc_run(server, sizeof(server), fmt("start '%s/p'", tmpl)), 0);
    PGconn *c = PQconnectdb(server);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, fmt("CREATE DATABASE %s", dbname));
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(c);
    snprintf(url, n, "postgresql://postgres@127.0.0.1:%d/%s?connect_timeout=2", pgc_port(server),
             dbname);
}

void pgc_signal(const char *cdir, const char *sig)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/data/postmaster.pid", cdir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long pid = 0;
    assert_int_equal(fscanf(f, "%ld", &pid), 1);
    fclose(f);
    assert_int_equal(system(fmt("pkill -%s -P %ld; kill -%s %ld", sig, pid, sig, pid)), 0);
}

void pgc_destroy(const char *dir)
{
    pgc_run(NULL, 0, fmt("stop '%s/p' immediate", dir));
    assert_int_equal(system(fmt("rm -rf '%s'", dir)), 0);
}
