/* Unit tests for config.c: defaults, flags in both spellings, environment variables,
 * and clear errors naming the flag or variable (a bad variable only when it is used and no
 * flag overrides it). */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/config.h"

/* argv from string literals (which are const under -Wwrite-strings): copied. */
static int parse_const(struct config *cfg, int argc, const char *const *in, struct err *err)
{
    static char store[8][64];
    char *argv[8];
    for (int i = 0; i < argc; i++) {
        snprintf(store[i], sizeof(store[i]), "%s", in[i]);
        argv[i] = store[i];
    }
    for (int i = 0; i < argc;) {
        int rc = config_parse_flag(cfg, argc, argv, &i, err);
        if (rc <= 0) {
            return rc == 0 ? -2 : -1;
        }
    }
    return 0;
}

static void test_defaults_and_flags(void **state)
{
    (void)state;
    struct config cfg;
    config_defaults(&cfg);
    assert_string_equal(cfg.listen, "127.0.0.1");
    assert_int_equal(cfg.port, 8080);
    assert_string_equal(cfg.data_dir, "./data");
    assert_int_equal(cfg.body_max, 1u << 20);
    assert_int_equal(cfg.ingest_body_max, 8u << 20);
    const char *const argv[] = {"--port",      "0",     "--data-dir=/tmp/x",
                                "--log-level", "debug", "--threads=3"};
    struct err err;
    assert_int_equal(parse_const(&cfg, 6, argv, &err), 0);
    assert_int_equal(cfg.port, 0);
    assert_string_equal(cfg.data_dir, "/tmp/x");
    assert_int_equal(cfg.log_level, LOG_DEBUG);
    assert_int_equal(cfg.threads, 3);
    char db[128];
    config_db_path(&cfg, db, sizeof(db));
    assert_string_equal(db, "/tmp/x/bunsen.db");
}

static void test_bad_values(void **state)
{
    (void)state;
    struct config cfg;
    config_defaults(&cfg);
    struct err err;
    const char *const a1[] = {"--port", "70000"};
    assert_int_equal(parse_const(&cfg, 2, a1, &err), -1);
    assert_string_equal(err.field, "--port");
    const char *const a2[] = {"--port"};
    assert_int_equal(parse_const(&cfg, 1, a2, &err), -1);
    const char *const a3[] = {"--threads", "2x"};
    assert_int_equal(parse_const(&cfg, 2, a3, &err), -1);
    const char *const a4[] = {"--log-level", "loud"};
    assert_int_equal(parse_const(&cfg, 2, a4, &err), -1);
    const char *const a5[] = {"--portable"};
    assert_int_equal(parse_const(&cfg, 1, a5, &err), -2); /* not a config flag */
    const char *const a6[] = {"--data-dir", ""};
    assert_int_equal(parse_const(&cfg, 2, a6, &err), -1);
    /* --max-reply-memory: 1..1048576 MiB, default 512 */
    assert_int_equal(cfg.max_reply_mib, 512);
    const char *const a7[] = {"--max-reply-memory", "0"};
    assert_int_equal(parse_const(&cfg, 2, a7, &err), -1);
    assert_string_equal(err.field, "--max-reply-memory");
    const char *const a8[] = {"--max-reply-memory=1048577"};
    assert_int_equal(parse_const(&cfg, 1, a8, &err), -1);
    const char *const a9[] = {"--max-reply-memory=1"};
    assert_int_equal(parse_const(&cfg, 1, a9, &err), 0);
    assert_int_equal(cfg.max_reply_mib, 1);
}

static void test_env(void **state)
{
    (void)state;
    struct config cfg;
    config_defaults(&cfg);
    struct err err;
    setenv("BUNSEN_PORT", "9090", 1);
    setenv("BUNSEN_BODY_MAX", "4096", 1);
    config_from_env(&cfg);
    assert_int_equal(config_env_error(&cfg, NULL, &err), 0);
    assert_int_equal(cfg.port, 9090);
    assert_int_equal(cfg.body_max, 4096);
    config_defaults(&cfg);
    setenv("BUNSEN_MAX_REPLY_MEMORY", "64", 1);
    config_from_env(&cfg);
    assert_int_equal(cfg.max_reply_mib, 64);
    unsetenv("BUNSEN_MAX_REPLY_MEMORY");
    config_defaults(&cfg);
    setenv("BUNSEN_PORT", "-1", 1);
    config_from_env(&cfg);
    assert_int_equal(cfg.port, 8080); /* the default stays */
    assert_int_equal(config_env_error(&cfg, NULL, &err), -1);
    assert_string_equal(err.field, "BUNSEN_PORT");
    assert_non_null(strstr(err.msg, "got '-1'"));
    /* not fatal for a command that does not use it (`bunsen keys list`) */
    const char *const used[] = {"--data-dir", "--database", NULL};
    assert_int_equal(config_env_error(&cfg, used, &err), 0);
    /* nor when a flag sets the option: flags win (`bunsen serve --port 20408` exited 2) */
    const char *const flag[] = {"--port", "20408"};
    assert_int_equal(parse_const(&cfg, 2, flag, &err), 0);
    assert_int_equal(config_env_error(&cfg, NULL, &err), 0);
    assert_int_equal(cfg.port, 20408);
    unsetenv("BUNSEN_PORT");
    unsetenv("BUNSEN_BODY_MAX");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_flags),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_env),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
