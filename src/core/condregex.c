/*
 * condregex.c - $regex / $regexi patterns compiled so that matching them is bounded by the
 * request's evaluation budget (cond_int.h struct cond_regex).
 *
 * Why a pattern is not simply run unanchored under PCRE2's match limit: that limit counts the
 * backtracking steps of one start position and starts again at zero at the next, so a pattern
 * that stays just under it at every position of a 4 KB subject did ~4,000 x 10,000 steps
 * (100 ms with the JIT, 1.5 s interpreted) for one condition, and no limit was ever reported.
 * So a pattern is matched as one anchored attempt that walks the start positions itself:
 *
 *   pattern PCRE2 anchors anyway (every branch starts with ^, \A or \G): as it is, one start;
 *   any other:  (?s:.*?)(?:pattern)  compiled PCRE2_ANCHORED
 *
 * The lazy prefix moves the start one character at a time, each move a counted step, and the
 * match limit now covers all start positions together. The subject is the same, so
 * lookbehind, ^, $, \b, \A and \G see the same text and positions as in an unanchored search
 * (PCRE2-only verbs such as (*PRUNE) and (*SKIP), which JavaScript rejects, act on the one
 * attempt). Auto-possessification is off, so a greedy run that fails gives its characters
 * back one counted step at a time instead of failing at once (a run that is possessive by
 * the optimiser is re-read from every start position without a step being counted).
 *
 * Charging (cond_regex_match): the limit starts near what a plain scan of the subject needs
 * and doubles while PCRE2 reports it hit, up to the per-operation limit
 * (COND_REGEX_MATCH_LIMIT + COND_REGEX_LIMIT_PER_BYTE per subject byte: hitting it is "no
 * match", as before) and to what the budget left can pay; each run is charged its whole limit,
 * so the charge is at most twice the work plus one first run. A step of PCRE2 is weighted by
 * what it may read besides: the pattern's width (its length times its counted repeats) and,
 * for patterns that can read the subject without counted steps (lookahead, atomic groups,
 * possessive quantifiers, backreferences, recursion, conditions, verbs, together with an
 * unbounded quantifier), the subject's length.
 *
 * Pure; a compiled regex is immutable and read by any number of threads; the scratch
 * (match data and context) belongs to one evaluation.
 */
#include <stdlib.h>
#include <string.h>

#include "bunsen/err.h"
#include "bunsen/util.h"
#include "cond_int.h"

/* PCRE2 steps one budget step pays for: 3-13 ns a step interpreted (measured: 26,000 steps of
 * a near miss in 71 us, 16,000 of a 4 KB user agent scan in 108 us), against the ~50 ns of a
 * budget step. No JIT: PCRE2's JIT does not count the backtracking inside a repeat of one
 * character against the match limit, so under it the wrapped form of [\w.+-]+@corp\.com$
 * gave characters back one at a time from every start position uncounted (8-11 ms on a
 * 4 KB near miss, charged 520 steps; cubic with two such repeats), and a JIT stack too small
 * answered "no match" where JavaScript matches. Interpreted, every step is counted; an
 * ordinary condition costs 1-5 us on a 110-byte user agent instead of 0.15-0.5. */
#define UNITS_PER_STEP_INTERP 4
#define WIDTH_PER_WEIGHT      256 /* pattern width read per step at weight 1 */
#define SCAN_PER_WEIGHT       32  /* subject bytes read per step at weight 1 */

/* Start-of-pattern settings that must stay first (they are refused inside a group); moved in
 * front of the prefix. Others ((*NOTEMPTY), verbs) stay where they are. */
static const char *const lead_items[] = {"UTF",
                                         "UTF8",
                                         "UCP",
                                         "NO_AUTO_POSSESS",
                                         "NO_DOTSTAR_ANCHOR",
                                         "NO_JIT",
                                         "CR",
                                         "LF",
                                         "CRLF",
                                         "ANYCRLF",
                                         "ANY",
                                         "NUL",
                                         "BSR_ANYCRLF",
                                         "BSR_UNICODE",
                                         "NO_START_OPT",
                                         NULL};
static const char *const lead_limits[] = {
    "LIMIT_HEAP=", "LIMIT_MATCH=", "LIMIT_DEPTH=", "LIMIT_RECURSION=", NULL};

/* Length of the start-of-pattern settings at the head of p. */
static size_t lead_len(const char *p, size_t n)
{
    size_t at = 0;
    for (;;) {
        if (at + 2 >= n || p[at] != '(' || p[at + 1] != '*') {
            return at;
        }
        const char *close = memchr(p + at + 2, ')', n - at - 2);
        if (close == NULL) {
            return at;
        }
        const char *name = p + at + 2;
        size_t nn = (size_t)(close - name);
        bool known = false;
        for (size_t i = 0; lead_items[i] != NULL && !known; i++) {
            known = strlen(lead_items[i]) == nn && memcmp(lead_items[i], name, nn) == 0;
        }
        for (size_t i = 0; lead_limits[i] != NULL && !known; i++) {
            size_t ln = strlen(lead_limits[i]);
            known = nn > ln && memcmp(lead_limits[i], name, ln) == 0;
            for (size_t k = ln; known && k < nn; k++) {
                known = name[k] >= '0' && name[k] <= '9';
            }
        }
        if (!known) {
            return at;
        }
        at = (size_t)(close - p) + 1;
    }
}

static bool has(const char *p, size_t n, const char *s)
{
    size_t sn = strlen(s);
    for (size_t i = 0; i + sn <= n; i++) {
        if (memcmp(p + i, s, sn) == 0) {
            return true;
        }
    }
    return false;
}

/* Conservative (text, escapes not parsed: a false hit only costs more): can the pattern read
 * the subject far without a counted step? It needs a construct that does not give characters
 * back one at a time and an unbounded quantifier to read with. */
static bool may_scan(const char *p, size_t n)
{
    static const char *const atomic[] = {"(?=", "(?!", "(?>", "(*",  "(?(", "(?R",
                                         "(?&", "(?P", "(?+", "(?-", "\\g", "\\k",
                                         "*+",  "++",  "?+",  "}+",  NULL};
    bool construct = false;
    for (size_t i = 0; atomic[i] != NULL && !construct; i++) {
        construct = has(p, n, atomic[i]);
    }
    for (size_t i = 0; i + 1 < n && !construct; i++) {
        construct =
            (p[i] == '\\' && p[i + 1] >= '1' && p[i + 1] <= '9') ||
            (p[i] == '(' && p[i + 1] == '?' && i + 2 < n && p[i + 2] >= '0' && p[i + 2] <= '9');
    }
    if (!construct) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '*' || p[i] == '+' || (p[i] == ',' && i + 1 < n && p[i + 1] == '}')) {
            return true;
        }
    }
    return false;
}

/* The pattern's width: its length times (1 + the sum of the numbers after a "{" or a ","),
 * saturated; a bound on what one attempt may read between counted steps when nothing scans
 * (a fixed repeat such as [0-9]{2000} reads its characters without a counted step). */
static uint64_t width_of(const char *p, size_t n)
{
    const uint64_t max = 100000000;
    uint64_t counts = 0;
    for (size_t i = 1; i < n; i++) {
        if (p[i] < '0' || p[i] > '9' || (p[i - 1] != '{' && p[i - 1] != ',')) {
            continue;
        }
        uint64_t v = 0;
        for (; i < n && p[i] >= '0' && p[i] <= '9' && v < max; i++) {
            v = v * 10 + (uint64_t)(p[i] - '0');
        }
        counts = counts + v > max ? max : counts + v;
    }
    return (uint64_t)n * (1 + counts);
}

static pcre2_code *compile_text(const char *p, size_t n, uint32_t opts, int *ec, PCRE2_SIZE *eo)
{
    return pcre2_compile((PCRE2_SPTR)p, n, opts, ec, eo, NULL);
}

static uint32_t capture_count(const pcre2_code *re)
{
    uint32_t c = 0;
    (void)pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &c);
    return c;
}

/* "(?s:.*?)(?:pattern)" with the start-of-pattern settings kept first. The closing parenthesis
 * can be swallowed by an unterminated \Q or a # comment under (?x); then "\E)" or "\n)" close
 * it. Returns the code, or NULL when no form compiles to the pattern's groups. */
static pcre2_code *compile_wrapped(const char *p, size_t n, uint32_t opts, uint32_t groups)
{
    static const char *const suffixes[] = {")", "\\E)", "\n)"};
    static const char prefix[] = "(?s:.*?)(?:";
    size_t lead = lead_len(p, n);
    char *w = xmalloc(n + sizeof(prefix) + 4);
    memcpy(w, p, lead);
    memcpy(w + lead, prefix, sizeof(prefix) - 1);
    memcpy(w + lead + sizeof(prefix) - 1, p + lead, n - lead);
    size_t base = n + sizeof(prefix) - 1;
    pcre2_code *re = NULL;
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]) && re == NULL; i++) {
        size_t sn = strlen(suffixes[i]);
        memcpy(w + base, suffixes[i], sn);
        int ec;
        PCRE2_SIZE eo;
        re = compile_text(w, base + sn, opts | PCRE2_ANCHORED, &ec, &eo);
        if (re != NULL && capture_count(re) != groups) {
            pcre2_code_free(re);
            re = NULL;
        }
    }
    free(w);
    return re;
}

int cond_regex_compile(const char *pat, size_t n, bool insensitive, struct cond_regex *out,
                       struct err *err)
{
    memset(out, 0, sizeof(*out));
    uint32_t opts = COND_JS_REGEX_OPTS | PCRE2_NO_AUTO_POSSESS | (insensitive ? PCRE2_CASELESS : 0);
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *plain = compile_text(pat, n, opts, &ec, &eo);
    if (plain == NULL) {
        PCRE2_UCHAR msg[120];
        if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0) {
            str_copy((char *)msg, sizeof(msg), "invalid pattern");
        }
        return err_set(err, ERR_INVALID, "targeting", "%s at offset %zu", (const char *)msg,
                       (size_t)eo);
    }
    uint32_t all = 0;
    (void)pcre2_pattern_info(plain, PCRE2_INFO_ALLOPTIONS, &all);
    if ((all & PCRE2_ANCHORED) != 0) {
        out->code = plain; /* one start position: the match limit already covers it all */
    } else {
        out->wrapped = true;
        out->code = compile_wrapped(pat, n, opts, capture_count(plain));
        pcre2_code_free(plain);
        if (out->code == NULL) {
            return err_set(err, ERR_INVALID, "targeting",
                           "the pattern cannot be matched within a budget (a start-of-pattern "
                           "setting or an unterminated \\Q or comment)");
        }
    }
    size_t lead = lead_len(pat, n); /* (*UTF) and the like are no verbs */
    out->scans = may_scan(pat + lead, n - lead);
    uint64_t w = 1 + width_of(pat, n) / WIDTH_PER_WEIGHT;
    out->weight = w > 1000000 ? 1000000 : (uint32_t)w;
    return 0;
}

void cond_regex_clear(struct cond_regex *r)
{
    if (r != NULL) {
        pcre2_code_free(r->code);
        r->code = NULL;
    }
}

void cond_regex_scratch_free(struct cond_regex_scratch *s)
{
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mc);
    s->md = NULL;
    s->mc = NULL;
}

int cond_regex_match(const struct cond_regex *r, struct cond_regex_scratch *s, const char *subj,
                     size_t sn, bool unlimited, long left, long *cost)
{
    if (s->md == NULL) {
        s->md = pcre2_match_data_create(1, NULL);
    }
    if (s->mc == NULL) {
        s->mc = pcre2_match_context_create(NULL);
    }
    if (s->md == NULL || s->mc == NULL) {
        return 0;
    }
    uint64_t per_step = UNITS_PER_STEP_INTERP;
    uint64_t weight = r->weight + (r->scans ? sn / SCAN_PER_WEIGHT : 0);
    uint64_t op_cap = COND_REGEX_MATCH_LIMIT + (uint64_t)COND_REGEX_LIMIT_PER_BYTE * sn;
    uint64_t can = left > (1L << 40) ? (uint64_t)1 << 40 : (uint64_t)left; /* no overflow */
    uint64_t payable = unlimited || left <= 0 ? 0 : can * per_step / weight;
    uint64_t limit = r->wrapped ? 2 * (uint64_t)sn + 64 : 64; /* a plain scan; one start */
    uint64_t spent = 0;
    uint32_t check = 0;
    int ret;
    for (;;) {
        uint64_t run = limit < op_cap ? limit : op_cap;
        bool by_budget = !unlimited && payable - spent < run;
        if (by_budget) {
            run = payable - spent;
        }
        if (run > UINT32_MAX) {
            run = UINT32_MAX;
        }
        int rc = PCRE2_ERROR_MATCHLIMIT;
        if (run > 0) {
            pcre2_set_match_limit(s->mc, (uint32_t)run);
            rc = pcre2_match(r->code, (PCRE2_SPTR)subj, sn, 0, check, s->md, s->mc);
        }
        spent += run;
        if (rc != PCRE2_ERROR_MATCHLIMIT) {
            /* >= 0 a match (0: ovector too small); otherwise no match, also for a subject
             * that is not UTF-8 or a heap limit reached, as JavaScript's false */
            ret = rc >= 0 ? 1 : 0;
            break;
        }
        if (by_budget || run >= op_cap) {
            ret = by_budget ? -1 : 0; /* the operation's limit: no match */
            break;
        }
        check = PCRE2_NO_UTF_CHECK; /* the first run checked the subject */
        limit = run * 2;
    }
    *cost += (long)((spent * weight + per_step - 1) / per_step);
    return ret;
}
