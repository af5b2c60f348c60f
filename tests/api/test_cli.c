/*
 * The command line as an operator meets it (review of operations):
 * - `bunsen backup` interrupted during the copy (SIGTERM, SIGINT, SIGHUP: a ^C, a cron or
 *   systemd timeout) removes DEST.tmp and DEST.tmp-journal and exits 1 (both were left
 *   behind); a stale pair from a SIGKILL is removed by the next backup, which succeeds;
 * - every option each subcommand's --help lists is in bunsen(1) (docs/bunsen.1), and every
 *   serve option in README's table: they drifted (results --alpha, --cuped; serve
 *   --rebuild-*, --exposure-cache; README without --rate-limit-assign and others);
 * - a subcommand's own options take --opt=VALUE as the shared ones do (--role=sdk,
 *   --format=csv, --horizon-days=400 were unknown arguments); a flag without a value
 *   refuses one (--all=1, exit 2).
 * - `bunsen version` names the newest schema of each backend (builds of one VERSION differ
 *   by it);
 * - usage errors exit 2 and touch nothing: `bunsen version extra` and `version --bogus`
 *   (exit 0, printing the version); `serve --log-file F --metrics-auth nope` (exit 2 after
 *   creating F); a bad --listen or --metrics-auth from its BUNSEN_* variable names the
 *   variable (it named the flag); BUNSEN_DB_TIMEOUT=abc with a PostgreSQL --database stops
 *   keys/results/... (they ran with the default), and stops nothing on SQLite, which does
 *   not use it.
 * - `bunsen results --format json` prints each real as the API's replies do, the shortest
 *   text that reads back as the double (a mean of 0.1 + 0.2 is 0.30000000000000004; it
 *   printed 15 digits, 0.3): the document equals the HTTP reply byte for byte once laid out
 *   compact, computed_at aside; the table's alpha and mde show every digit given (they
 *   printed 6).
 * - a --data-dir or SQLite --database path too long for SQLite is a usage error naming the
 *   limit, before anything is created (it failed at the open with its reason cut off, and
 *   left files behind), and no accepted path is cut by a buffer.
 * Run from the repository root (make test does), for docs/ and README.md.
 */
#include "harness.h"

#include "bunsen/migrations.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct daemon D; /* the test's daemon: stopped by cleanup() even when a check fails */

static int cleanup(void **state)
{
    (void)state;
    daemon_cleanup(&D);
    memset(&D, 0, sizeof(D));
    return 0;
}

static const char *bin(void)
{
    const char *b = getenv("BUNSEN_BIN");
    return b != NULL ? b : "build/bunsen";
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Start `bunsen args...` with stdout and stderr to /dev/null; its pid. */
static pid_t spawn(const char *const *args)
{
    pid_t pid = fork();
    if (pid == 0) {
        const char *argv[32] = {bin()};
        int n = 1;
        for (int i = 0; args[i] != NULL && n < 31; i++) {
            argv[n++] = args[i];
        }
        argv[n] = NULL;
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    return pid;
}

/* Grow the (stopped) daemon's database by mb MiB: a copy that lasts long enough to interrupt. */
static void pad_database(const struct daemon *d, int mb)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(fmt("%s/bunsen.db", d->dir), &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
                                  fmt("CREATE TABLE IF NOT EXISTS pad (b BLOB); WITH RECURSIVE "
                                      "n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < "
                                      "%d) INSERT INTO pad SELECT zeroblob(1048576) FROM n",
                                      mb),
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
}

/* `bunsen backup` interrupted by sig once its copy has begun (DEST.tmp-journal exists):
 * exit 1, neither DEST nor its temporary files left. Returns false when the copy ended
 * before it could be interrupted (the caller grows the database and tries again). */
static bool backup_interrupted(const struct daemon *d, int sig)
{
    char dest[400];
    snprintf(dest, sizeof(dest), "%s/killed.db", d->dir);
    const char *const args[] = {"backup", dest, "--data-dir", d->dir, NULL};
    const char *journal = fmt("%s.tmp-journal", dest);
    char journal_path[450];
    snprintf(journal_path, sizeof(journal_path), "%s", journal);
    pid_t pid = spawn(args);
    assert_true(pid > 0);
    bool seen = false;
    for (int i = 0; i < 40000 && !seen; i++) { /* 20 s */
        seen = exists(journal_path);
        if (!seen) {
            int status;
            if (waitpid(pid, &status, WNOHANG) == pid) {
                unlink(dest);
                return false; /* done before we saw it */
            }
            usleep(500);
        }
    }
    assert_true(seen);
    assert_int_equal(kill(pid, sig), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (exists(dest)) {
        /* the signal came after the copy was complete and became DEST: not a partial copy */
        unlink(dest);
        return false;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 1) {
        fail_msg("backup killed by signal %d: status 0x%x, expected exit 1", sig, status);
    }
    if (exists(fmt("%s.tmp", dest)) || exists(journal_path)) {
        fail_msg("signal %d left %s%s behind", sig, exists(fmt("%s.tmp", dest)) ? "DEST.tmp " : "",
                 exists(journal_path) ? "DEST.tmp-journal" : "");
    }
    return true;
}

static void test_backup_interrupted(void **state)
{
    (void)state;
    if (harness_on_postgres()) {
        skip(); /* bunsen backup copies SQLite files */
    }
    assert_int_equal(daemon_start(&D, NULL), 0);
    assert_int_equal(daemon_stop(&D), 0);
    int mb = 64;
    pad_database(&D, mb);
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++) {
        bool done = false;
        for (int tries = 0; tries < 4 && !done; tries++) {
            done = backup_interrupted(&D, sigs[k]);
            if (!done && mb < 512) {
                pad_database(&D, mb);
                mb *= 2;
            }
        }
        if (!done) {
            fail_msg("the backup of %d MiB always ended before signal %d", mb, sigs[k]);
        }
    }
    /* a stale pair (SIGKILL): the next backup removes it and succeeds */
    char dest[400];
    snprintf(dest, sizeof(dest), "%s/stale.db", D.dir);
    const char *const args[] = {"backup", dest, "--data-dir", D.dir, NULL};
    pid_t pid = spawn(args);
    char journal[450];
    snprintf(journal, sizeof(journal), "%s.tmp-journal", dest);
    for (int i = 0; i < 40000 && !exists(journal); i++) {
        usleep(500);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (exists(journal)) {
        char *out = NULL;
        assert_int_equal(bunsen_run(&out, args), 0);
        free(out);
        assert_false(exists(journal));
        assert_false(exists(fmt("%s.tmp", dest)));
        sqlite3 *h = NULL;
        assert_int_equal(sqlite3_open(dest, &h), SQLITE_OK);
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
        sqlite3_finalize(st);
        sqlite3_close(h);
    } else {
        print_message("# the copy ended before SIGKILL: no stale pair to check\n");
    }
}

static char *read_whole(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fail_msg("cannot read %s (run from the repository root): %s", path, strerror(errno));
    }
    fclose(f);
    return slurp(path);
}

/* text with roff's escaped hyphens ("\-") as plain ones, in place */
static void unescape_hyphens(char *text)
{
    char *w = text;
    for (const char *r = text; *r != '\0'; r++) {
        if (r[0] == '\\' && r[1] == '-') {
            continue;
        }
        *w++ = *r;
    }
    *w = '\0';
}

/* Whether text holds the option opt as a whole word (not the start of a longer one). */
static bool has_option(const char *text, const char *opt)
{
    size_t n = strlen(opt);
    for (const char *p = strstr(text, opt); p != NULL; p = strstr(p + 1, opt)) {
        char next = p[n];
        if (!(next == '-' || (next >= 'a' && next <= 'z') || (next >= '0' && next <= '9'))) {
            return true;
        }
    }
    return false;
}

static void test_help_options_documented(void **state)
{
    (void)state;
    char *man = read_whole("docs/bunsen.1");
    unescape_hyphens(man);
    char *readme = read_whole("README.md");
    static const char *const cmds[] = {"serve",   "migrate", "keys",   "results",
                                       "compact", "backup",  "version"};
    int checked = 0;
    for (size_t c = 0; c < sizeof(cmds) / sizeof(cmds[0]); c++) {
        char *out = NULL;
        const char *const args[] = {cmds[c], "--help", NULL};
        assert_int_equal(bunsen_run(&out, args), 0);
        for (const char *p = strstr(out, "--"); p != NULL; p = strstr(p, "--")) {
            char opt[64];
            size_t n = 2;
            while (n < sizeof(opt) - 1 &&
                   (p[n] == '-' || (p[n] >= 'a' && p[n] <= 'z') || (p[n] >= '0' && p[n] <= '9'))) {
                n++;
            }
            memcpy(opt, p, n);
            opt[n] = '\0';
            p += n;
            if (n < 4) {
                continue;
            }
            checked++;
            if (!has_option(man, opt)) {
                fail_msg("bunsen %s --help lists %s, which docs/bunsen.1 does not", cmds[c], opt);
            }
            if (strcmp(cmds[c], "serve") == 0 && strcmp(opt, "--help") != 0 &&
                !has_option(readme, fmt("`%s", opt))) {
                fail_msg("bunsen serve --help lists %s, which README's option table does not", opt);
            }
        }
        free(out);
    }
    print_message("# %d options of --help found in bunsen(1)\n", checked);
    assert_true(checked > 40);
    free(man);
    free(readme);
}

/* The range of each numeric option of serve, as its error message gives it ("expected an
 * integer in [LO, HI]"), is in its bunsen(1) entry and its README table row as "range LO to
 * HI" (review ops31 F5: only --max-reply-memory's was, in bunsen(1)). */
static void test_option_ranges_documented(void **state)
{
    (void)state;
    char *man = read_whole("docs/bunsen.1");
    unescape_hyphens(man);
    char *readme = read_whole("README.md");
    char *help = NULL;
    const char *const args[] = {"serve", "--help", NULL};
    assert_int_equal(bunsen_run(&help, args), 0);
    int ranged = 0;
    for (const char *p = strstr(help, "\n  --"); p != NULL; p = strstr(p + 1, "\n  --")) {
        char opt[64];
        size_t n = 0;
        while (n < sizeof(opt) - 1 && p[3 + n] != ' ' && p[3 + n] != '\n') {
            opt[n] = p[3 + n];
            n++;
        }
        opt[n] = '\0';
        if (strcmp(opt, "--help") == 0) {
            continue;
        }
        /* a bad --listen after it: an option that takes "abc" (a path, a URL) stops there,
         * exit 2, before anything is touched */
        char *out = NULL;
        const char *const bad[] = {"serve", opt, "abc", "--listen", "bogus", NULL};
        assert_int_equal(bunsen_run(&out, bad), 2);
        long lo = 0, hi = 0;
        const char *r = strstr(out, "expected an integer in [");
        bool numeric = r != NULL && sscanf(r, "expected an integer in [%ld, %ld]", &lo, &hi) == 2;
        free(out);
        if (!numeric) {
            continue;
        }
        ranged++;
        const char *want = fmt("range %ld to %ld", lo, hi);
        char wanted[64];
        snprintf(wanted, sizeof(wanted), "%s", want);
        /* bunsen(1): the entry from ".BI --opt " to the next ".TP" or ".SS" */
        const char *e = strstr(man, fmt(".BI %s \"", opt));
        if (e == NULL) {
            fail_msg("bunsen(1) has no entry for %s", opt);
            return;
        }
        size_t body = (size_t)(e - man) + 1; /* past the entry's first byte */
        const char *end = strstr(man + body, "\n.TP");
        const char *ss = strstr(man + body, "\n.SS");
        if (end == NULL || (ss != NULL && ss < end)) {
            end = ss;
        }
        const char *at = strstr(e, wanted);
        if (at == NULL || (end != NULL && at > end)) {
            fail_msg("bunsen(1)'s %s entry does not say '%s'", opt, wanted);
        }
        /* README: the table row that starts with "| `--opt " */
        const char *row = strstr(readme, fmt("\n| `%s ", opt));
        if (row == NULL) {
            fail_msg("README's option table has no row for %s", opt);
        }
        const char *eol = strchr(row + 1, '\n');
        at = strstr(row, wanted);
        if (at == NULL || (eol != NULL && at > eol)) {
            fail_msg("README's row for %s does not say '%s'", opt, wanted);
        }
    }
    print_message("# %d numeric options' ranges found in bunsen(1) and README\n", ranged);
    assert_true(ranged >= 20);
    free(help);
    free(man);
    free(readme);
}

/* `bunsen keys create --role=sdk --name=ci`, `keys list --all`, `results KEY
 * --format=csv`, `compact --horizon-days=400`: each subcommand option takes --opt=VALUE. */
static void test_option_equals_value(void **state)
{
    (void)state;
    assert_int_equal(daemon_start(&D, NULL), 0);
    int st = 0;
    json_decref(http_json(D.port, "POST", "/api/v1/metrics", D.admin_key,
                          "{\"key\":\"m\",\"event\":\"buy\",\"type\":\"count\"}", &st));
    assert_int_equal(st, 201);
    json_decref(http_json(D.port, "POST", "/api/v1/experiments", D.admin_key,
                          "{\"key\":\"eq\",\"variants\":[{\"key\":\"control\"},"
                          "{\"key\":\"green\"}],\"metrics\":[\"m\"]}",
                          &st));
    assert_int_equal(st, 201);
    char *out = NULL;
    const char *const create[] = {"keys",       "create", "--role=sdk", "--name=ci-key",
                                  "--data-dir", D.dir,    NULL};
    assert_int_equal(bunsen_run(&out, create), 0);
    assert_non_null(strstr(out, "role: sdk"));
    free(out);
    const char *const list[] = {"keys", "list", "--all", "--data-dir", D.dir, NULL};
    assert_int_equal(bunsen_run(&out, list), 0);
    assert_non_null(strstr(out, "ci-key"));
    free(out);
    const char *const all_value[] = {"keys", "list", "--all=1", "--data-dir", D.dir, NULL};
    assert_int_equal(bunsen_run(&out, all_value), 2);
    assert_non_null(strstr(out, "--all takes no value"));
    free(out);
    const char *const results[] = {
        "results",           "eq",         "--format=csv", "--alpha=0.1", "--cuped=false",
        "--method=bayesian", "--data-dir", D.dir,          NULL};
    assert_int_equal(bunsen_run(&out, results), 0);
    assert_non_null(strstr(out, "experiment,"));
    free(out);
    const char *const compact[] = {"compact", "--horizon-days=400", "--data-dir", D.dir, NULL};
    assert_int_equal(bunsen_run(&out, compact), 0);
    free(out);
    assert_int_equal(daemon_stop(&D), 0);
}

/* text (JSON as jansson or jsonw lays it out) without the blanks outside strings, and the
 * value of "computed_at" (the time of each computation) as 0: malloc'd. */
static char *compact_text(const char *text)
{
    size_t n = strlen(text);
    char *out = malloc(n + 1);
    assert_non_null(out);
    size_t k = 0;
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        char c = text[i];
        if (in_string) {
            out[k++] = c;
            if (c == '\\' && i + 1 < n) {
                out[k++] = text[++i];
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c != ' ' && c != '\n') {
            out[k++] = c;
            in_string = c == '"';
        }
    }
    out[k] = '\0';
    static const char at[] = "\"computed_at\":";
    char *p = strstr(out, at);
    if (p != NULL) {
        p += strlen(at);
        size_t digits = strspn(p, "0123456789");
        *p = '0';
        memmove(p + 1, p + digits, strlen(p + digits) + 1);
    }
    return out;
}

/* `bunsen results --format json` prints the reals of the API's reply: the mean of one user
 * whose events are 0.1 and 0.2 is 0.30000000000000004 in both, and the documents agree byte
 * for byte (the CLI's laid out compact, computed_at aside). */
static void test_results_json_reals(void **state)
{
    (void)state;
    assert_int_equal(daemon_start(&D, NULL), 0);
    int64_t now = harness_wall_ms();
    harness_metric(D.port, D.admin_key, "{\"key\":\"rev\",\"event\":\"rev\",\"type\":\"sum\"}");
    harness_started_experiment(D.port, D.admin_key, "digits",
                               "{\"key\":\"digits\",\"variants\":[{\"key\":\"control\"},"
                               "{\"key\":\"green\"}],\"metrics\":[\"rev\"],\"mde\":0.0123456789}");
    json_decref(harness_call(
        D.port, "POST", "/api/v1/exposures", D.admin_key,
        fmt("{\"exposures\":[{\"experiment\":\"digits\",\"user_id\":\"u1\",\"variant\":"
            "\"control\",\"ts\":%lld},{\"experiment\":\"digits\",\"user_id\":\"u2\","
            "\"variant\":\"green\",\"ts\":%lld}]}",
            (long long)(now - 7200000), (long long)(now - 7200000)),
        200));
    json_decref(harness_call(
        D.port, "POST", "/api/v1/events", D.admin_key,
        fmt("{\"events\":[{\"user_id\":\"u1\",\"event\":\"rev\",\"ts\":%lld,\"value\":0.1},"
            "{\"user_id\":\"u1\",\"event\":\"rev\",\"ts\":%lld,\"value\":0.2},"
            "{\"user_id\":\"u2\",\"event\":\"rev\",\"ts\":%lld,\"value\":0.3}]}",
            (long long)(now - 3600000), (long long)(now - 3599000), (long long)(now - 3600000)),
        200));
    struct resp r;
    assert_int_equal(
        http_req(D.port, "GET", "/api/v1/experiments/digits/results", D.admin_key, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"mean\":0.30000000000000004,"));
    char *out = NULL;
    const char *const args[] = {"results", "digits", "--format", "json", "--data-dir", D.dir, NULL};
    assert_int_equal(bunsen_run(&out, args), 0);
    assert_non_null(strstr(out, "\"mean\": 0.30000000000000004,"));
    char *cli = compact_text(out), *api = compact_text(r.body);
    if (strcmp(cli, api) != 0) {
        fail_msg("the CLI's JSON differs from the API's:\n%s\n%s", cli, api);
    }
    free(cli);
    free(api);
    free(out);
    resp_free(&r);
    /* the CSV (no computed_at column) is the API's byte for byte */
    assert_int_equal(http_req(D.port, "GET", "/api/v1/experiments/digits/results?format=csv",
                              D.admin_key, NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    const char *const csv[] = {"results", "digits", "--format", "csv", "--data-dir", D.dir, NULL};
    assert_int_equal(bunsen_run(&out, csv), 0);
    assert_non_null(strstr(out, ",0.30000000000000004,"));
    assert_string_equal(out, r.body);
    free(out);
    resp_free(&r);
    /* the table rounds the computed numbers to 4 digits, but the settings read as given
     * (alpha and mde printed 6: 0.0123457); the mde in percent, said to be relative (it is
     * a share of the control's mean, where /power's is absolute unless told otherwise) */
    const char *const table[] = {"results",      "digits",     "--format", "table", "--alpha",
                                 "0.0123456789", "--data-dir", D.dir,      NULL};
    assert_int_equal(bunsen_run(&out, table), 0);
    if (strstr(out, "alpha 0.0123456789 ") == NULL ||
        strstr(out, "mde 1.23456789% relative)") == NULL) {
        fail_msg("the table's alpha or mde lost digits:\n%s", out);
    }
    free(out);
    assert_int_equal(daemon_stop(&D), 0);
}

/* bunsen args with VAR=value in its environment (NULL: none); exit code, *out its output. */
static int run_env(const char *var, const char *value, char **out, const char *const *args)
{
    if (var != NULL) {
        setenv(var, value, 1);
    }
    int rc = bunsen_run(out, args);
    if (var != NULL) {
        unsetenv(var);
    }
    return rc;
}

static void expect_usage_error(const char *var, const char *value, const char *const *args,
                               const char *says, const char *not_says)
{
    char *out = NULL;
    int rc = run_env(var, value, &out, args);
    if (rc != 2 || strstr(out, says) == NULL ||
        (not_says != NULL && strstr(out, not_says) != NULL)) {
        fail_msg("bunsen %s ... (%s=%s): exit %d, expected 2 saying '%s'%s%s: %s", args[0],
                 var ? var : "-", var ? value : "", rc, says, not_says ? " and not " : "",
                 not_says ? not_says : "", out);
    }
    free(out);
}

static void test_usage_errors(void **state)
{
    (void)state;
    char dir[] = "/tmp/bunsen-cli-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *out = NULL;
    const char *const version[] = {"version", NULL};
    assert_int_equal(bunsen_run(&out, version), 0);
    assert_non_null(strstr(out, "bunsen "));
    /* the newest schema of each backend: builds of one version differ by it (rev-ops28 2) */
    const char *schema = fmt("schema: sqlite %d, postgres %d\n",
                             bunsen_migrations[bunsen_migrations_count - 1].version,
                             bunsen_migrations_pg[bunsen_migrations_pg_count - 1].version);
    if (strstr(out, schema) == NULL) {
        fail_msg("bunsen version: %s, expected it to end in %s", out, schema);
    }
    free(out);
    const char *const version_help[] = {"version", "--help", NULL};
    assert_int_equal(bunsen_run(NULL, version_help), 0);
    const char *const version_extra[] = {"version", "extra", NULL};
    expect_usage_error(NULL, NULL, version_extra, "unknown argument 'extra'", NULL);
    const char *const version_bogus[] = {"version", "--bogus", NULL};
    expect_usage_error(NULL, NULL, version_bogus, "unknown argument '--bogus'", NULL);
    /* a missing option of keys is named before the usage (journey29 J9: only the usage) */
    const char *const no_name[] = {"keys", "create", "--role", "editor", "--data-dir", dir, NULL};
    expect_usage_error(NULL, NULL, no_name, "bunsen: keys create needs --name NAME", NULL);
    const char *const no_role[] = {"keys", "create", "--name", "ci", "--data-dir", dir, NULL};
    expect_usage_error(NULL, NULL, no_role, "bunsen: keys create needs --role ROLE", NULL);
    const char *const no_id[] = {"keys", "revoke", "--data-dir", dir, NULL};
    expect_usage_error(NULL, NULL, no_id, "bunsen: keys revoke needs the key's ID", NULL);

    /* every option checked before anything is touched: the log file, the data directory */
    char log[300], data[300];
    snprintf(log, sizeof(log), "%s/lf.log", dir);
    snprintf(data, sizeof(data), "%s/data", dir);
    const char *const bad_auth[] = {"serve", "--port",     "0",  "--log-file",
                                    log,     "--data-dir", data, "--metrics-auth",
                                    "nope",  NULL};
    expect_usage_error(NULL, NULL, bad_auth, "--metrics-auth", NULL);
    const char *const bad_listen[] = {"serve",      "--port", "0",        "--log-file", log,
                                      "--data-dir", data,     "--listen", "bogus",      NULL};
    expect_usage_error(NULL, NULL, bad_listen, "--listen: 'bogus'", NULL);
    const char *const serve[] = {"serve", "--port",     "0",  "--log-file",
                                 log,     "--data-dir", data, NULL};
    expect_usage_error("BUNSEN_METRICS_AUTH", "nope", serve, "BUNSEN_METRICS_AUTH", "--metrics");
    /* the value came from the variable: the message names it, not the flag */
    expect_usage_error("BUNSEN_LISTEN", "bogus", serve, "BUNSEN_LISTEN: 'bogus'", "--listen");
    if (access(log, F_OK) == 0 || access(data, F_OK) == 0) {
        fail_msg("a usage error of serve left %s%s", access(log, F_OK) == 0 ? log : "",
                 access(data, F_OK) == 0 ? data : "");
    }

    /* --db-timeout is used by every command on PostgreSQL: a bad variable stops it there */
    const char *const pg_list[] = {"keys", "list", "--database",
                                   "postgresql://127.0.0.1:1/none?connect_timeout=1", NULL};
    expect_usage_error("BUNSEN_DB_TIMEOUT", "abc", pg_list, "BUNSEN_DB_TIMEOUT", NULL);
    /* and on SQLite, which does not use it, stops nothing */
    char db[300];
    snprintf(db, sizeof(db), "%s/sqlite", dir);
    const char *const migrate[] = {
        "migrate", "--data-dir", db, "--database", fmt("%s/bunsen.db", db), NULL};
    assert_int_equal(bunsen_run(NULL, migrate), 0);
    const char *const list[] = {"keys", "list", "--database", fmt("%s/bunsen.db", db), NULL};
    assert_int_equal(run_env("BUNSEN_DB_TIMEOUT", "abc", &out, list), 0);
    free(out);
    assert_int_equal(system(fmt("rm -rf '%s'", dir)), 0);
}

/* --database errors name the option or the variable the value came from, and a conninfo libpq
 * refuses before it tries a host is a usage error, exit 2 (review ops31 F2: they named
 * neither, and "dbnme=", "sslmode=bogus" and "?connect_timeout=abc" exited 1, so the unit
 * restarted them every 2 s); a PostgreSQL connection failure is printed once (it was a JSON
 * warn line, then the same text on the "bunsen:" line). */
static void test_database_errors_named(void **state)
{
    (void)state;
    char dir[] = "/tmp/bunsen-dberr-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char data[300];
    snprintf(data, sizeof(data), "%s/data", dir);
    const char *const cases[][2] = {
        {"mysql://x/y", "unsupported database URL scheme 'mysql'"},
        {"sqlite:", "empty database path"},
        {"host=127.0.0.1 port=1 dbnme=bunsen", "invalid connection option \"dbnme\""},
        {"postgresql://[::1/x", "end of string reached when looking for matching \"]\""},
        {"host=127.0.0.1 port=1 sslmode=bogus", "invalid sslmode value: \"bogus\""},
        {"postgresql://127.0.0.1:1/x?connect_timeout=abc",
         "invalid integer value \"abc\" for connection option \"connect_timeout\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *const serve[] = {"serve", "--port",     "0",         "--data-dir",
                                     data,    "--database", cases[i][0], NULL};
        expect_usage_error(NULL, NULL, serve, fmt("bunsen: --database: %s", cases[i][1]), NULL);
        const char *const serve_env[] = {"serve", "--port", "0", "--data-dir", data, NULL};
        expect_usage_error("BUNSEN_DATABASE", cases[i][0], serve_env,
                           fmt("bunsen: BUNSEN_DATABASE: %s", cases[i][1]), "--database");
        const char *const list[] = {"keys", "list", "--database", cases[i][0], NULL};
        expect_usage_error(NULL, NULL, list, fmt("bunsen: --database: %s", cases[i][1]), NULL);
        const char *const migrate[] = {"migrate",    "--data-dir", data,
                                       "--database", cases[i][0],  NULL};
        expect_usage_error(NULL, NULL, migrate, fmt("--database: %s", cases[i][1]), NULL);
    }
    /* a password libpq quotes in its reason is not repeated (review diff32 4), nor a part of
     * one it reads as something else: a '?' or '/' left unencoded in a URL, a space in the
     * key=value form (review code33 F1) */
    const char *const secrets[] = {
        "postgresql://u:S3cr%zzPW@127.0.0.1:1/x", "host=127.0.0.1 password=S3cr%zzPW dbnme=x",
        "postgresql://u:S3?cr%zzPW@h/db", "postgresql://u:S3/cr%zzPW@127.0.0.1/db",
        "postgresql://u:S3crPW/mo@127.0.0.1/db", "postgresql://u@h/db?password=S3%zzcrPW",
        "postgresql://u@h/db?sslmode=require&password=S3crPW%G2", "postgresql://u:%z@h/db",
        "host=h password=S3cr PWtwo", "host=h password='S3 cr' dbnme=x",
        /* libpq prints a token as "%s": the byte after a '"' of the
         * password was left ("***"Q"), as were short pieces */
        "postgresql://u:S3cr%zz\"Q@127.0.0.1/db", "host=h password=S3cr P\"Wtwo",
        "postgresql://u@h/db?password=S3cr&Qz", "postgresql://u:S3/cr@127.0.0.1/db"};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        char *said = NULL;
        const char *const list[] = {"keys", "list", "--database", secrets[i], NULL};
        int code = bunsen_run(&said, list);
        if (code != 2 || strstr(said, "S3") != NULL || strstr(said, "cr%") != NULL ||
            strstr(said, "PW") != NULL || strstr(said, "\"%z\"") != NULL ||
            strstr(said, "Q") != NULL || strstr(said, "tw") != NULL ||
            strstr(said, "--database: ") == NULL) {
            fail_msg("keys list --database %s: exit %d: %s", secrets[i], code, said);
        }
        free(said);
    }
    /* a piece of a password libpq reads as a host ("u:p@zq@h": host "zq@h", where no 3 bytes
     * in a row are the password's "p@zq"): masked in the connection error too (review diff34
     * F2; glibc refuses the name without asking DNS) */
    char *host = NULL;
    const char *const zq[] = {"keys", "list", "--database",
                              "postgresql://u:p@zq@127.0.0.1:1/db?connect_timeout=2", NULL};
    int zrc = bunsen_run(&host, zq);
    if (zrc != 1 || strstr(host, "zq") != NULL || strstr(host, "cannot connect") == NULL) {
        fail_msg("keys list --database u:p@zq@...: exit %d: %s", zrc, host);
    }
    free(host);
    /* a server that is not there: exit 1, its reason once */
    char *out = NULL;
    const char *const down[] = {"keys", "list", "--database",
                                "postgresql://127.0.0.1:1/x?connect_timeout=2", NULL};
    int rc = bunsen_run(&out, down);
    if (rc != 1 || harness_count(out, "Connection refused") != 1 ||
        strstr(out, "bunsen: cannot connect to PostgreSQL: ") == NULL) {
        fail_msg("keys list on a server that is down: exit %d: %s", rc, out);
    }
    free(out);
    assert_int_equal(system(fmt("rm -rf '%s'", dir)), 0);
}

/* A file that is not a SQLite database (a typo, a pg_dump file after reading README
 * "Restore") was "exec: the database is corrupt (file is not a database): restore it from a
 * backup" (review ops31 F3): now it is named as not a SQLite database, and a real SQLite file
 * with a damaged page keeps the advice to restore, naming the file, without "exec:". */
static void test_not_a_sqlite_database(void **state)
{
    (void)state;
    char dir[] = "/tmp/bunsen-notdb-XXXXXX";
    assert_non_null(mkdtemp(dir));
    FILE *f = fopen(fmt("%s/notdb.db", dir), "w");
    assert_non_null(f);
    fputs("hello\n", f);
    fclose(f);
    f = fopen(fmt("%s/bunsen.dump", dir), "w");
    assert_non_null(f);
    fputs("PGDMP\001\016\000\004\010\001\001\001 a custom-format dump, longer than 16 bytes", f);
    fclose(f);
    char notdb[300], dump[300], data[300];
    snprintf(notdb, sizeof(notdb), "%s/notdb.db", dir);
    snprintf(dump, sizeof(dump), "%s/bunsen.dump", dir);
    snprintf(data, sizeof(data), "%s/data", dir);
    const char *const serve[] = {"serve", "--port",     "0",   "--data-dir",
                                 data,    "--database", notdb, NULL};
    const char *const list[] = {"keys", "list", "--database", dump, NULL};
    const char *const results[] = {"results", "x", "--database", notdb, NULL};
    const char *const *runs[] = {serve, list, results};
    const char *names[] = {notdb, dump, notdb};
    for (size_t i = 0; i < 3; i++) {
        char *out = NULL;
        int rc = bunsen_run(&out, runs[i]);
        /* a usage error (exit 2: the unit does not restart it), named by the option */
        const char *want = fmt("bunsen: --database: %s is not a SQLite database (check "
                               "--database / --data-dir)",
                               names[i]);
        if (rc != 2 || strstr(out, want) == NULL || strstr(out, "restore") != NULL) {
            fail_msg("bunsen %s on a file that is not a database: exit %d: %s", runs[i][0], rc,
                     out);
        }
        free(out);
    }
    /* a SQLite file with a damaged page: still "corrupt", with the advice, also under a long
     * path (the message was cut at 200 bytes, advice and all: review ops31) */
    char x180[181];
    memset(x180, 'x', 180);
    x180[180] = '\0';
    snprintf(data, sizeof(data), "%s/%s/data", dir, x180);
    const char *const migrate[] = {"migrate", "--data-dir", data, NULL};
    assert_int_equal(bunsen_run(NULL, migrate), 0);
    f = fopen(fmt("%s/bunsen.db", data), "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 100, SEEK_SET), 0);
    for (int i = 0; i < 3000; i++) {
        fputc(0xff, f);
    }
    fclose(f);
    const char *const list_bad[] = {"keys", "list", "--data-dir", data, NULL};
    char *out = NULL;
    int rc = bunsen_run(&out, list_bad);
    const char *want = fmt("bunsen: database %s/bunsen.db is corrupt (", data);
    if (rc != 1 || strstr(out, want) == NULL ||
        strstr(out, "): restore it from a backup") == NULL || strstr(out, "exec:") != NULL) {
        fail_msg("keys list on a damaged SQLite file: exit %d: %s", rc, out);
    }
    free(out);
    assert_int_equal(system(fmt("rm -rf '%s'", dir)), 0);
}

/* `bunsen migrate --status` says which schema the database is at and this bunsen's, changing
 * nothing (review journey33 F5: an operator on an older build could not tell which upgrade
 * notes apply): no data directory made for a missing database; a database whose recorded
 * version is lower is named pending, and stays as it was. */
static void test_migrate_status(void **state)
{
    (void)state;
    char dir[] = "/tmp/bunsen-status-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *out = NULL;
    const char *const none[] = {"migrate", "--status", "--data-dir", fmt("%s/none", dir), NULL};
    int rc = bunsen_run(&out, none);
    if (rc != 1 || strstr(out, "no database at") == NULL || exists(fmt("%s/none", dir))) {
        fail_msg("migrate --status without a database: exit %d: %s", rc, out);
    }
    free(out);
    const char *const mig[] = {"migrate", "--data-dir", dir, NULL};
    assert_int_equal(bunsen_run(NULL, mig), 0);
    const char *const status[] = {"migrate", "--status", "--data-dir", dir, NULL};
    rc = bunsen_run(&out, status);
    if (rc != 0 || strstr(out, "database schema version: ") == NULL ||
        strstr(out, "up to date") == NULL) {
        fail_msg("migrate --status, migrated: exit %d: %s", rc, out);
    }
    int newest = atoi(strstr(out, "this bunsen's schema version: ") +
                      strlen("this bunsen's schema version: "));
    assert_true(newest >= 17);
    free(out);
    /* as if migrated by a build two migrations older */
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(fmt("%s/bunsen.db", dir), &h), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(h, fmt("DELETE FROM schema_migrations WHERE version > %d", newest - 2), NULL,
                     NULL, NULL),
        SQLITE_OK);
    sqlite3_close(h);
    for (int i = 0; i < 2; i++) { /* the second finds it unchanged */
        rc = bunsen_run(&out, status);
        const char *want = fmt("database schema version: %d\n", newest - 2);
        const char *pending = fmt("pending: 2 migrations (%04d to %04d)", newest - 1, newest);
        if (rc != 0 || strstr(out, want) == NULL || strstr(out, pending) == NULL) {
            fail_msg("migrate --status, two behind: exit %d: %s", rc, out);
        }
        free(out);
    }
    assert_int_equal(system(fmt("rm -rf '%s'", dir)), 0);
}

/* A refused start leaves no data directory it made (review ops31 F6: a second serve on a
 * database a daemon holds, through a symbolic link, and every serve or migrate that could not
 * reach PostgreSQL created --data-dir, a stray ./data, before failing). A data directory that
 * was there stays, with its files. */
static void test_refused_start_leaves_no_data_dir(void **state)
{
    (void)state;
    char dir[] = "/tmp/bunsen-refused-XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *const down[] = {"serve",
                                "--port",
                                "0",
                                "--data-dir",
                                fmt("%s/a/b/c", dir),
                                "--database",
                                "postgresql://127.0.0.1:1/x?connect_timeout=2",
                                NULL};
    char *out = NULL;
    int rc = bunsen_run(&out, down);
    if (rc != 1 || exists(fmt("%s/a", dir))) {
        fail_msg("serve with PostgreSQL down: exit %d, %s/a %s: %s", rc, dir,
                 exists(fmt("%s/a", dir)) ? "left" : "gone", out);
    }
    free(out);
    const char *const mig[] = {"migrate",
                               "--data-dir",
                               fmt("%s/m", dir),
                               "--database",
                               "postgresql://127.0.0.1:1/x?connect_timeout=2",
                               NULL};
    rc = bunsen_run(&out, mig);
    if (rc != 1 || exists(fmt("%s/m", dir))) {
        fail_msg("migrate with PostgreSQL down: exit %d, %s/m %s: %s", rc, dir,
                 exists(fmt("%s/m", dir)) ? "left" : "gone", out);
    }
    free(out);
    if (!harness_on_postgres()) {
        /* a daemon holds the database: a second serve through a link to it is refused */
        struct daemon d;
        assert_int_equal(daemon_start(&d, NULL), 0);
        char link[300];
        snprintf(link, sizeof(link), "%s/link.db", dir);
        assert_int_equal(symlink(fmt("%s/bunsen.db", d.dir), link), 0);
        const char *const second[] = {"serve",      "--port", "0", "--data-dir", fmt("%s/up2", dir),
                                      "--database", link,     NULL};
        rc = bunsen_run(&out, second);
        if (rc != 1 || strstr(out, "another bunsen serve is running") == NULL ||
            exists(fmt("%s/up2", dir))) {
            fail_msg("a second serve: exit %d, up2 %s: %s", rc,
                     exists(fmt("%s/up2", dir)) ? "left" : "gone", out);
        }
        free(out);
        /* the data dir of the daemon itself: refused, and left as it was */
        const char *const same[] = {"serve", "--port", "0", "--data-dir", d.dir, NULL};
        assert_int_equal(bunsen_run(NULL, same), 1);
        assert_true(exists(fmt("%s/bunsen.db", d.dir)) && exists(fmt("%s/admin.key", d.dir)));
        assert_int_equal(daemon_stop(&d), 0);
        daemon_cleanup(&d);
        /* a path through a directory this start makes to one that was there: only the new one
         * goes (an undo that cut the path at each '/' and unlinked the database files in it
         * deleted this file and its directory: review diff32 1) */
        assert_int_equal(mkdir(fmt("%s/existing", dir), 0700), 0);
        FILE *f = fopen(fmt("%s/existing/bunsen.db", dir), "w");
        assert_non_null(f);
        fputs("not a database, and not ours to delete\n", f);
        fclose(f);
        const char *const through[] = {
            "serve", "--port", "0", "--data-dir", fmt("%s/new/../existing", dir), NULL};
        rc = bunsen_run(&out, through);
        if (rc != 2 || exists(fmt("%s/new", dir)) || !exists(fmt("%s/existing/bunsen.db", dir))) {
            fail_msg("serve through new/..: exit %d, new %s, existing/bunsen.db %s: %s", rc,
                     exists(fmt("%s/new", dir)) ? "left" : "gone",
                     exists(fmt("%s/existing/bunsen.db", dir)) ? "kept" : "DELETED", out);
        }
        free(out);
    }
    /* a data dir that cannot be made (a name over 255 bytes): the parents made before the
     * failure go too (review diff32 6) */
    char longname[301];
    memset(longname, 'x', 300);
    longname[300] = '\0';
    const char *const toolong[] = {
        "serve", "--port", "0", "--data-dir", fmt("%s/p/%s", dir, longname), NULL};
    rc = bunsen_run(&out, toolong);
    if (rc != 1 || strstr(out, "cannot create the data directory") == NULL ||
        exists(fmt("%s/p", dir))) {
        fail_msg("serve --data-dir too long: exit %d, %s/p %s: %s", rc, dir,
                 exists(fmt("%s/p", dir)) ? "left" : "gone", out);
    }
    free(out);
    assert_int_equal(system(fmt("rm -rf '%s'", dir)), 0);
}

/* A database on a read-only file system (what systemd's ProtectSystem=strict makes of a path
 * outside /var/lib/bunsen) was refused as "exec: database unavailable (unable to open database
 * file)", naming neither the file nor the cause (review ops31 F10). In a mount namespace of
 * its own (unshare -m, as root; skipped where that is not allowed), the database's directory
 * is bound read-only: serve exits 1 naming the file and the read-only file system. */
static void test_readonly_file_system_named(void **state)
{
    (void)state;
    char dir[] = "/tmp/bunsen-rofs-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(system(fmt("mkdir -p '%s/src' '%s/ro' '%s/dd'", dir, dir, dir)), 0);
    const char *const migrate[] = {"migrate", "--data-dir", fmt("%s/src", dir), NULL};
    assert_int_equal(bunsen_run(NULL, migrate), 0);
    int rc = system(fmt("unshare -m sh -c 'mount --bind %s/src %s/ro && mount -o remount,ro,bind "
                        "%s/ro && touch %s/mounted; %s serve --port 0 --data-dir %s/dd "
                        "--database %s/ro/bunsen.db' > %s/out 2>&1",
                        dir, dir, dir, dir, bin(), dir, dir, dir));
    char *out = slurp(fmt("%s/out", dir));
    if (!exists(fmt("%s/mounted", dir))) {
        /* no mount namespace here (not root, or a container that forbids it): nothing to
         * check */
        free(out);
        assert_int_equal(system(fmt("rm -rf '%s'", dir)), 0);
        skip();
    }
    fprintf(stderr, "# %s", out);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
    assert_non_null(
        strstr(out, fmt("database %s/ro/bunsen.db is on a read-only file system", dir)));
    free(out);
    assert_int_equal(system(fmt("rm -rf '%s'", dir)), 0);
}

/* path, then "/" + up to 100 'a's at a time until it is exactly len characters, into out */
static void long_path(char *out, size_t n, const char *path, size_t len)
{
    snprintf(out, n, "%s", path);
    size_t at = strlen(out);
    while (at < len && at + 2 < n) {
        size_t room = len - at - 1;
        room = room == 0 ? 1 : room > 100 ? 100 : room;
        if (len - at == 1) { /* one left: lengthen the last component */
            out[at++] = 'b';
            out[at] = '\0';
            continue;
        }
        out[at++] = '/';
        memset(out + at, 'a', room);
        at += room;
        out[at] = '\0';
    }
}

/* SQLite opens a database whose absolute path is at most 504 characters (512 with
 * "-journal"): a --data-dir of 495 to 511 characters passed, then the open failed as "cannot
 * open database /tmp/...aaa" (the reason cut off), exit 1, with empty bunsen.db and .lock
 * files left behind; `bunsen backup` cut --database at 599 bytes (review code33 F7). Now such
 * a value is a usage error (exit 2) that names the limit, before anything is created. */
static void test_long_paths(void **state)
{
    (void)state;
    char dir[] = "/tmp/bunsen-longpath-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char over[600], fits[600], db_over[700];
    long_path(over, sizeof(over), fmt("%s/o", dir), 495);
    long_path(fits, sizeof(fits), fmt("%s/f", dir), 494);
    assert_int_equal(strlen(over), 495);
    assert_int_equal(strlen(fits), 494);
    const char *const serve[] = {"serve", "--port", "0", "--data-dir", over, NULL};
    const char *says = "--data-dir: at most 494 characters (the database path DIR/bunsen.db must "
                       "fit SQLite's limit of 504)";
    expect_usage_error(NULL, NULL, serve, says, NULL);
    const char *const migrate[] = {"migrate", "--data-dir", over, NULL};
    expect_usage_error(NULL, NULL, migrate, says, NULL);
    const char *const migrate_env[] = {"migrate", NULL};
    expect_usage_error("BUNSEN_DATA_DIR", over, migrate_env, "BUNSEN_DATA_DIR: at most 494", NULL);
    if (exists(fmt("%s/o", dir))) {
        fail_msg("a refused --data-dir of 495 characters left %s/o", dir);
    }
    /* 494 fits: the database is made there, and backed up */
    const char *const migrate_fits[] = {"migrate", "--data-dir", fits, NULL};
    char *out = NULL;
    int rc = bunsen_run(&out, migrate_fits);
    if (rc != 0 || !exists(fmt("%s/bunsen.db", fits))) {
        fail_msg("migrate --data-dir (494 characters): exit %d: %s", rc, out);
    }
    free(out);
    const char *const backup_fits[] = {"backup", fmt("%s/copy.db", dir), "--data-dir", fits, NULL};
    rc = bunsen_run(&out, backup_fits);
    if (rc != 0) {
        fail_msg("backup --data-dir (494 characters): exit %d: %s", rc, out);
    }
    free(out);
    /* a SQLite --database over 504 characters, and one past backup's old 600-byte buffer */
    const size_t lens[] = {505, 640};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        long_path(db_over, sizeof(db_over), fmt("%s/d", dir), lens[i]);
        const char *says_db = fmt("bunsen: --database: the SQLite database path is %zu "
                                  "characters: SQLite takes at most 504",
                                  lens[i]);
        const char *const backup[] = {"backup", fmt("%s/copy2.db", dir), "--database", db_over,
                                      NULL};
        expect_usage_error(NULL, NULL, backup, says_db, NULL);
        const char *const migrate_db[] = {"migrate",    "--data-dir", fmt("%s/dd", dir),
                                          "--database", db_over,      NULL};
        expect_usage_error(NULL, NULL, migrate_db, says_db, NULL);
        if (exists(fmt("%s/d", dir)) || exists(fmt("%s/dd", dir))) {
            fail_msg("a refused --database of %zu characters left files in %s", lens[i], dir);
        }
    }
    /* a relative --data-dir counts the current directory, as SQLite does */
    rc = system(fmt("cd '%s' && '%s' migrate --data-dir x > '%s/rel.out' 2>&1", fits, bin(), dir));
    out = slurp(fmt("%s/rel.out", dir));
    if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 2 || exists(fmt("%s/x", fits)) ||
        strstr(out, "--data-dir: the database path DIR/bunsen.db is 506 characters after the "
                    "current directory: SQLite takes at most 504") == NULL) {
        fail_msg("migrate --data-dir x in a directory of 494 characters: status %d: %s", rc, out);
    }
    free(out);
    assert_int_equal(system(fmt("rm -rf '%s'", dir)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_backup_interrupted, cleanup),
        cmocka_unit_test(test_help_options_documented),
        cmocka_unit_test(test_option_ranges_documented),
        cmocka_unit_test_teardown(test_option_equals_value, cleanup),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_database_errors_named),
        cmocka_unit_test(test_not_a_sqlite_database),
        cmocka_unit_test(test_migrate_status),
        cmocka_unit_test(test_refused_start_leaves_no_data_dir),
        cmocka_unit_test(test_readonly_file_system_named),
        cmocka_unit_test(test_long_paths),
        cmocka_unit_test_teardown(test_results_json_reals, cleanup),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
