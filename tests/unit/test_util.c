/* Unit tests for util.c: capped buffer, UTF-8 validation, key and id rules, plain decimal
 * numbers (query parameters), the timed waits' deadline and condition variable. */
#include "unit.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include <stdio.h>
#include <string.h>

#include "bunsen/err.h"
#include "bunsen/util.h"

static void test_buf_cap(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(buf_append(&b, "abcd", 4), 0);
    assert_int_equal(buf_append(&b, "efgh", 4), 0);
    assert_int_equal(buf_append(&b, "i", 1), -1);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "abcdefgh");
    buf_free(&b);
    buf_init(&b, 100);
    assert_int_equal(buf_printf(&b, "%d-%s", 42, "x"), 0);
    assert_string_equal(b.data, "42-x");
    buf_free(&b);
}

/* str_copy gives what snprintf(dst, size, "%s", src) gives, cut or not */
static void test_str_copy(void **state)
{
    (void)state;
    const char *srcs[] = {"", "a", "abcd", "abcde", "abcdefghij"};
    for (size_t i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++) {
        for (size_t size = 1; size <= 8; size++) {
            char want[16], got[16];
            memset(want, 'x', sizeof(want));
            memset(got, 'x', sizeof(got));
            snprintf(want, size, "%s", srcs[i]);
            str_copy(got, size, srcs[i]);
            assert_memory_equal(want, got, sizeof(want));
        }
    }
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(utf8_valid("abc", 3));
    assert_true(utf8_valid("\xc3\xa9", 2));          /* e-acute */
    assert_true(utf8_valid("\xf0\x9f\x98\x80", 4));  /* emoji */
    assert_false(utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
    assert_false(utf8_valid("\xe0\x80\xaf", 3));     /* overlong 3-byte */
    assert_false(utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(utf8_valid("\xc3", 1));             /* truncated */
    assert_false(utf8_valid("\xff", 1));
}

static void test_keys_and_ids(void **state)
{
    (void)state;
    assert_true(key_valid("checkout-button"));
    assert_true(key_valid("a"));
    assert_true(key_valid("0.b_c-d"));
    assert_false(key_valid(""));
    assert_false(key_valid("-a"));
    assert_false(key_valid("A"));
    assert_false(key_valid("a b"));
    char long_key[66];
    memset(long_key, 'a', 65);
    long_key[65] = '\0';
    assert_false(key_valid(long_key));
    long_key[64] = '\0';
    assert_true(key_valid(long_key));

    assert_true(text_id_valid("u-1", 3, 256));
    assert_false(text_id_valid("", 0, 256));
    assert_false(text_id_valid("a\nb", 3, 256));
    assert_false(text_id_valid("a\0b", 3, 256));
    assert_false(text_id_valid("\xc2\x85", 2, 256)); /* NEL, a C1 control */
    assert_true(text_id_valid("\xc3\xa9t\xc3\xa9", 5, 256));
    assert_false(text_id_valid("abc", 3, 2));
}

/* real_parse_decimal: plain decimals only, never what strtod reads beyond them */
static void test_real_parse_decimal(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        double value;
    } good[] = {{"0.05", 0.05}, {".05", 0.05}, {"5.", 5},  {"5e-2", 0.05}, {"5E+2", 500},
                {"-1.5", -1.5}, {"0", 0},      {"007", 7}, {"1e-400", 0},  {"12345", 12345}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        double v = -99;
        if (real_parse_decimal(good[i].text, strlen(good[i].text), &v) != 0 || v != good[i].value) {
            fail_msg("'%s' read as %g, expected %g", good[i].text, v, good[i].value);
        }
    }
    static const char *const bad[] = {"",      "0x1p-4", "0X10",  "inf", "-inf", "nan", "NAN(1)",
                                      " 1",    "1 ",     "+1",    "1e",  "e1",   ".",   "-",
                                      "1.2.3", "1,5",    "1e999", "--1", "1e+",  "\t1", "0x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        double v = -99;
        if (real_parse_decimal(bad[i], strlen(bad[i]), &v) == 0) {
            fail_msg("'%s' read as %g, expected a refusal", bad[i], v);
        }
    }
    /* the length bounds the text: "0.5;q" read up to 3 bytes */
    double v = 0;
    assert_int_equal(real_parse_decimal("0.5;q", 3, &v), 0);
    assert_true(v == 0.5);
}

/* hash_keyed: the same bytes give the same hash within the process, others another; every
 * byte counts (a key and its prefix differ) */
static void test_hash_keyed(void **state)
{
    (void)state;
    assert_true(hash_keyed("user-1", 6) == hash_keyed("user-1", 6));
    assert_true(hash_keyed("user-1", 6) != hash_keyed("user-2", 6));
    assert_true(hash_keyed("user-1", 6) != hash_keyed("user-1", 5));
    assert_true(hash_keyed("", 0) == hash_keyed("", 0));
}

static void test_err(void **state)
{
    (void)state;
    struct err e;
    err_clear(&e);
    assert_int_equal(err_set(&e, ERR_INVALID, "variants[1].weight", "bad %d", 7), -1);
    assert_string_equal(e.field, "variants[1].weight");
    assert_string_equal(e.msg, "bad 7");
    assert_string_equal(err_code_name(ERR_CONFLICT), "conflict");
    assert_int_equal(err_code_status(ERR_TOO_LARGE), 413);
    assert_int_equal(err_code_status(ERR_MEDIA_TYPE), 415);
    assert_int_equal(err_code_status(ERR_UNAVAILABLE), 503);
}

/* url_redact: no password of a database URL or conninfo reaches stderr (cli.c) */
static void test_url_redact(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"postgresql://postgres:S3cretPW@127.0.0.1:18140/empty",
         "postgresql://postgres:***@127.0.0.1:18140/empty"},
        {"postgres://u:p@ss/w@rd@db1:5432/b?sslmode=require",
         "postgres://u:***@db1:5432/b?sslmode=require"},
        {"postgresql://u@db1/b", "postgresql://u@db1/b"},
        {"postgresql://db1:5432/b", "postgresql://db1:5432/b"},
        {"postgresql://u@db1/b?sslmode=disable&password=S3cret&x=1",
         "postgresql://u@db1/b?sslmode=disable&password=***&x=1"},
        {"host=db1 user=u password=S3cret dbname=b", "host=db1 user=u password=*** dbname=b"},
        {"host=db1 password = 'S3 cr\\'et' dbname=b", "host=db1 password=*** dbname=b"},
        {"PASSWORD=S3cret host=db1", "password=*** host=db1"},
        /* a '?' in the user info's password (it was printed whole), the words of a password
         * with a space (the second was printed), a query value libpq splits at '&' */
        {"postgresql://u:S3?cr@h/db", "postgresql://u:***@h/db"},
        {"host=db1 password=S3cr Stwo port=1", "host=db1 password=*** port=1"},
        {"postgresql://u@h/db?password=S3cr&S3two&x=1", "postgresql://u@h/db?password=***&x=1"},
        {"postgresql://u@h/db?pass%77ord=S3cr", "postgresql://u@h/db?password=***"},
        /* the client key's passphrase is a secret too (review diff35 F3) */
        {"host=h sslpassword=KEYPASS password=PW dbname=x",
         "host=h sslpassword=*** password=*** dbname=x"},
        {"postgresql://u:PW@h/db?sslpassword=KEYPASS&sslmode=require",
         "postgresql://u:***@h/db?sslpassword=***&sslmode=require"},
        {"SSLPASSWORD = 'K P' host=h", "sslpassword=*** host=h"},
        {"host=h mysslpassword=x", "host=h mysslpassword=x"},
        {"host=db1 passwordfile=x", "host=db1 passwordfile=x"},
        {"/var/lib/bunsen/bunsen.db", "/var/lib/bunsen/bunsen.db"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[256];
        url_redact(cases[i][0], out, sizeof(out));
        assert_string_equal(out, cases[i][1]);
        assert_null(strstr(out, "S3c"));
    }
    char small[12];
    url_redact("postgresql://u:S3cret@h/db", small, sizeof(small));
    assert_string_equal(small, "postgresql:");
}

/* url_find_passwords: the one parser of where a --database value holds a password, for
 * url_redact (cli.c) and the masking of libpq's messages (store/pg/conn.c): each form, and
 * passwords holding the bytes libpq splits at or quotes with. */
static void test_url_find_passwords(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        const char *pw[3]; /* the regions, in order; a key=value or query one's key first */
        const char *key[3];
    } cases[] = {
        {"postgresql://u:S3cret@h:5432/db", {"S3cret"}, {""}},
        /* user info to the LAST '@' (libpq ends it at the first '@' or '/') */
        {"postgres://u:p@ss/w:rd@db1/b?sslmode=require", {"p@ss/w:rd"}, {""}},
        {"postgresql://u:S3?cr@h/db?sslmode=require", {"S3?cr"}, {""}},
        {"postgresql://u:S3\"cr'x y@h/db", {"S3\"cr'x y"}, {""}},
        {"postgresql://u:S3%40cr%3A@h/db", {"S3%40cr%3A"}, {""}}, /* left encoded */
        {"postgresql://u:@h/db", {""}, {""}},
        {"postgresql://u@h/db", {NULL}, {NULL}},
        {"postgresql://h:5432/db?sslmode=require", {NULL}, {NULL}},
        /* query: any case, a percent-encoded key, the pieces without '=' after an '&' */
        {"postgresql://u@h/db?sslmode=require&password=S3%26cr&x=1", {"S3%26cr"}, {"password="}},
        {"postgresql://u@h/db?PASS%77ord=S3cr", {"S3cr"}, {"PASS%77ord="}},
        {"postgresql://u@h/db?password=S3cr&two&x=1", {"S3cr&two"}, {"password="}},
        {"postgresql://u@h/db?password=a\"b?c@d:e", {"a\"b?c@d:e"}, {"password="}},
        {"postgresql://u@h/db?pass%7word=S3cr&passwords=x", {NULL}, {NULL}},
        {"postgresql://u:S3@h/db?password=S4", {"S3", "S4"}, {"", "password="}},
        /* key=value: blanks around '=', quotes and escapes, words up to the next key */
        {"host=h user=u password=S3cret dbname=b", {"S3cret"}, {"password="}},
        {"host=h password = 'S3 cr\\'et' dbname=b", {"'S3 cr\\'et'"}, {"password = "}},
        {"host=h password='S3 cr", {"'S3 cr"}, {"password="}},
        {"host=h password=S3cr two dbname=b", {"S3cr two"}, {"password="}},
        {"host=h password=S3\\ cr two port = 1", {"S3\\ cr two"}, {"password="}},
        {"host=h password=a\"b?c@d:e&f port=1", {"a\"b?c@d:e&f"}, {"password="}},
        {"host=h\tPASSWORD=S3\nport=1", {"S3"}, {"PASSWORD="}},
        {"password= host=h", {"host=h"}, {"password= "}}, /* libpq's password: "host=h" */
        {"host=h passwordfile=x mypassword=y", {NULL}, {NULL}},
        {"password=S3 password=S4", {"S3", "S4"}, {"password=", "password="}},
        /* a key right after a quoted value, a newline before '=' (libpq reads both: review
         * diff34 F1) */
        {"host='h'password=S3cr port=1", {"S3cr"}, {"password="}},
        {"host=h password\n=S3 port=1", {"S3"}, {"password\n="}},
        {"/var/lib/bunsen/bunsen.db", {NULL}, {NULL}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct url_password pw[4];
        const char *s = cases[i].s;
        size_t n = url_find_passwords(s, pw, 4), want = 0;
        while (want < 3 && cases[i].pw[want] != NULL) {
            want++;
        }
        if (n != want) {
            fail_msg("%s: %zu passwords, want %zu", s, n, want);
        }
        for (size_t j = 0; j < n; j++) {
            size_t kn = strlen(cases[i].key[j]);
            if (pw[j].len != strlen(cases[i].pw[j]) ||
                memcmp(s + pw[j].off, cases[i].pw[j], pw[j].len) != 0 ||
                pw[j].off - pw[j].key != kn || memcmp(s + pw[j].key, cases[i].key[j], kn) != 0) {
                fail_msg("%s: password %zu is '%.*s' (key '%.*s'), want '%s' ('%s')", s, j,
                         (int)pw[j].len, s + pw[j].off, (int)(pw[j].off - pw[j].key), s + pw[j].key,
                         cases[i].pw[j], cases[i].key[j]);
            }
        }
    }
    /* more than there is room for: counted, the first written */
    char many[200] = "";
    for (int i = 0; i < 10; i++) {
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "password=S%d ", i);
    }
    struct url_password two[2];
    assert_int_equal(url_find_passwords(many, NULL, 0), 10);
    assert_int_equal(url_find_passwords(many, two, 2), 10);
    assert_int_equal(two[1].off, strlen("password=S0 password="));
    char out[200];
    url_redact(many, out, sizeof(out));
    assert_null(strchr(out, 'S'));
    /* a password inside another (a query one within the user info to the last '@') */
    url_redact("postgresql://u:x@h/db?password=a@b&c=1", out, sizeof(out));
    assert_string_equal(out, "postgresql://u:***&c=1");
}

/* UTF-8 of one code point (test helper). */
static size_t enc(uint32_t cp, unsigned char *o)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xe0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* rev-diff5 2: the invisible formatting characters, each range's ends and its neighbours
 * (a literal list, as API.md names them), over every code point of the planes used. */
static void test_invisible(void **state)
{
    (void)state;
    static const uint32_t ranges[][2] = {
        {0xad, 0xad},
        {0x61c, 0x61c},
        {0x180e, 0x180e},
        {0x200b, 0x200f},
        {0x202a, 0x202e},
        {0x2060, 0x2064},
        {0x2066, 0x206f},
        {0xfeff, 0xfeff},
        {0xfff9, 0xfffb},
        {0xe0001, 0xe0001},
        {0xe0020, 0xe007f},
        /* s26: the blank fillers */
        {0x34f, 0x34f},
        {0x115f, 0x1160},
        {0x3164, 0x3164},
        {0xffa0, 0xffa0},
        {0x2800, 0x2800},
    };
    int seen = 0;
    for (uint32_t cp = 0x20; cp < 0xe0100; cp++) {
        if ((cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x10000 && cp < 0xe0000)) {
            continue;
        }
        bool want = false;
        for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
            want = want || (cp >= ranges[r][0] && cp <= ranges[r][1]);
        }
        unsigned char b[8] = "x";
        size_t n = enc(cp, b + 1) + 1;
        b[n] = 'y';
        size_t got = utf8_invisible_len(b, n + 1, 1);
        if (got != (want ? n - 1 : 0)) {
            fail_msg("U+%04X: %zu (want %zu)", (unsigned)cp, got, want ? n - 1 : (size_t)0);
        }
        seen += want;
        /* cut short: never past the end */
        assert_int_equal(utf8_invisible_len(b, n - 1, 1), 0);
    }
    assert_int_equal(seen, 1 + 1 + 1 + 5 + 5 + 5 + 10 + 1 + 3 + 1 + 96 + 1 + 2 + 1 + 1 + 1);
}

/* Timed waits measure their deadline on the monotonic clock (review code29 F3): on the wall
 * clock a step back while a thread waited lengthened the wait by the step. time_monotonic_in
 * is CLOCK_MONOTONIC + ms, and a cond_init_monotonic condition variable waits until it:
 * neither at once (a wall-clock condvar takes the monotonic deadline as long past) nor
 * longer. */
static void test_monotonic_deadline(void **state)
{
    (void)state;
    uint64_t before = time_mono_ns();
    struct timespec ts = time_monotonic_in(1500);
    uint64_t after = time_mono_ns();
    uint64_t at = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    assert_true(at >= before + 1500000000u);
    assert_true(at <= after + 1500000000u);
    assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);

    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_mutex_init(&mu, NULL);
    cond_init_monotonic(&cv);
    pthread_mutex_lock(&mu);
    uint64_t start = time_mono_ns();
    struct timespec until = time_monotonic_in(200);
    int rc = 0;
    for (int i = 0; i < 100 && rc != ETIMEDOUT; i++) { /* spurious wake-ups */
        rc = pthread_cond_timedwait(&cv, &mu, &until);
    }
    uint64_t waited = time_mono_ns() - start;
    pthread_mutex_unlock(&mu);
    pthread_cond_destroy(&cv);
    pthread_mutex_destroy(&mu);
    assert_int_equal(rc, ETIMEDOUT);
    assert_true(waited >= 200000000u);
    assert_true(waited < 5000000000u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_cap),
        cmocka_unit_test(test_str_copy),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_keys_and_ids),
        cmocka_unit_test(test_err),
        cmocka_unit_test(test_hash_keyed),
        cmocka_unit_test(test_real_parse_decimal),
        cmocka_unit_test(test_url_redact),
        cmocka_unit_test(test_url_find_passwords),
        cmocka_unit_test(test_invisible),
        cmocka_unit_test(test_monotonic_deadline),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
