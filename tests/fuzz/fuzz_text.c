/*
 * fuzz_text.c - libFuzzer target for the input-string checks of util.h that guard every
 * id, key, name and timestamp: utf8_valid(), text_id_valid(), key_valid() and
 * time_parse_rfc3339().
 *
 * The input is raw bytes. Each function is compared with a reference written from its
 * specification (fuzz_common.h: Unicode Table 3-7, API.md's key and text rules; here:
 * RFC 3339 section 5.6 with util.h's documented choices - years from 1970, "T", "t" or
 * " " between date and time, ":60" counted as ":59", fractions truncated to ms - and the
 * calendar left to timegm()). Any disagreement, in acceptance or in value, is a failure.
 */
#include <time.h>

#include "bunsen/util.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static bool all_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Reference RFC 3339 date-time (section 5.6) into ms since the epoch, UTC. */
static bool ref_rfc3339(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0, frac = 0;
    if (strlen(s) < 20 || !all_digits(s, 4, &y) || s[4] != '-' || !all_digits(s + 5, 2, &mo) ||
        s[7] != '-' || !all_digits(s + 8, 2, &d) ||
        !(s[10] == 'T' || s[10] == 't' || s[10] == ' ') || !all_digits(s + 11, 2, &h) ||
        s[13] != ':' || !all_digits(s + 14, 2, &mi) || s[16] != ':' ||
        !all_digits(s + 17, 2, &sec)) {
        return false;
    }
    const char *p = s + 19;
    if (*p == '.') {
        size_t nd = strspn(p + 1, "0123456789");
        if (nd == 0) {
            return false;
        }
        for (size_t k = 0; k < 3; k++) {
            frac = frac * 10 + (k < nd ? p[1 + k] - '0' : 0);
        }
        p += 1 + nd;
    }
    int sign = 0;
    if ((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') {
        sign = 0;
    } else if ((p[0] == '+' || p[0] == '-') && strlen(p) == 6 && all_digits(p + 1, 2, &oh) &&
               p[3] == ':' && all_digits(p + 4, 2, &om)) {
        sign = p[0] == '+' ? 1 : -1;
    } else {
        return false;
    }
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 60 || oh > 23 ||
        om > 59) {
        return false;
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec > 59 ? 59 : sec;
    time_t t = timegm(&tm);
    if (tm.tm_mday != d || tm.tm_mon != mo - 1) {
        return false; /* timegm normalised a day that does not exist (2023-02-29) */
    }
    *ms = ((int64_t)t - (int64_t)sign * (oh * 60 + om) * 60) * 1000 + frac;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    bool valid = ref_utf8_valid(data, size);
    FUZZ_CHECK(utf8_valid(s, size) == valid, "utf8_valid %d, reference %d", !valid, valid);
    FUZZ_CHECK(utf8_valid(s, size / 2) == ref_utf8_valid(data, size / 2), "utf8_valid prefix");
    static const size_t maxes[] = {0, 1, 4, 128, 256};
    for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
        bool want = ref_text_valid(data, size, 1, maxes[i], false);
        FUZZ_CHECK(text_id_valid(s, size, maxes[i]) == want, "text_id_valid(max %zu) %d", maxes[i],
                   !want);
    }
    FUZZ_CHECK(!text_id_valid(NULL, 0, 256) && !key_valid(NULL), "NULL accepted");

    char *c = fuzz_cstring(data, size);
    FUZZ_CHECK(key_valid(c) == ref_key_valid(c), "key_valid('%s') %d", c, key_valid(c));
    int64_t got = -1, want = -1;
    bool ok = time_parse_rfc3339(c, &got) == 0;
    bool ref_ok = ref_rfc3339(c, &want);
    FUZZ_CHECK(ok == ref_ok, "time_parse_rfc3339('%s') accepts %d, reference %d", c, ok, ref_ok);
    FUZZ_CHECK(!ok || got == want, "time_parse_rfc3339('%s') = %lld, reference %lld", c,
               (long long)got, (long long)want);
    free(c);
    return 0;
}
