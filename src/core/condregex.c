/*
 * condregex.c - $regex / $regexi patterns compiled so that matching them is bounded by the
 * request's evaluation budget (cond_int.h struct cond_regex).
 *
 * A pattern is JavaScript's (the SDK's new RegExp(pattern) / new RegExp(pattern, "i")):
 * jsregex.c rewrites it for PCRE2's 16-bit library, which runs it without PCRE2_UTF over the
 * subject's UTF-16 code units, as JavaScript without the "u" flag does.
 *
 * Why a pattern is not simply run unanchored under PCRE2's match limit: that limit counts the
 * backtracking steps of one start position and starts again at zero at the next, so a pattern
 * that stays just under it at every position of a 4 KB subject did ~4,000 x 10,000 steps
 * (100 ms with the JIT, 1.5 s interpreted) for one condition, and no limit was ever reported.
 * So a pattern is matched as one anchored attempt that walks the start positions itself:
 *
 *   pattern PCRE2 anchors anyway (every branch starts with ^): as it is, one start;
 *   any other:  (?s:.*?)(?:pattern)  compiled PCRE2_ANCHORED
 *
 * The lazy prefix moves the start one code unit at a time, each move a counted step, and the
 * match limit now covers all start positions together. The subject is the same, so
 * lookbehind, ^, $ and \b see the same text and positions as in an unanchored search.
 * Auto-possessification is off, so a greedy run that fails gives its characters
 * back one counted step at a time instead of failing at once (a run that is possessive by
 * the optimiser is re-read from every start position without a step being counted).
 *
 * Charging (cond_regex_match): the limit starts near what a plain scan of the subject needs
 * and doubles while PCRE2 reports it hit, up to the per-operation limit
 * (COND_REGEX_MATCH_LIMIT + COND_REGEX_LIMIT_PER_BYTE per subject byte: hitting it is "no
 * match", as before) and to what the budget left can pay; each run is charged its whole limit,
 * so the charge is at most twice the work plus one first run. A step of PCRE2 is weighted by
 * what it may read besides: the pattern's width (its length or its rewrite's, times its
 * counted repeats) and, for patterns that can read the subject without counted steps (a
 * lookahead or a back-reference together with an unbounded quantifier), the subject's length.
 *
 * Pure; a compiled regex is immutable and read by any number of threads; the scratch
 * (match data and context, the subject in UTF-16) belongs to one evaluation.
 */
#include <pthread.h>
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
#define GROUPS_PER_WEIGHT     3   /* copies of groups that cost as much as one step */

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

/* Conservative (text of the JavaScript pattern, escapes not parsed: a false hit only costs
 * more): can the pattern read the subject far without a counted step? It needs a construct
 * that does not give characters back one at a time (a lookahead, a back-reference; JavaScript
 * has no atomic group, possessive quantifier, recursion or verb) and an unbounded quantifier
 * to read with. */
static bool may_scan(const char *p, size_t n)
{
    static const char *const atomic[] = {"(?=", "(?!", "\\k", NULL};
    bool construct = false;
    for (size_t i = 0; atomic[i] != NULL && !construct; i++) {
        construct = has(p, n, atomic[i]);
    }
    for (size_t i = 0; i + 1 < n && !construct; i++) {
        construct = p[i] == '\\' && p[i + 1] >= '1' && p[i + 1] <= '9';
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

/* The counted repeats of a JavaScript pattern: {n}, {n,} and {n,m} that are quantifiers
 * (not escaped, not inside a class, well formed; JavaScript reads any other brace as a
 * literal), how many and the sum of their counts, each at most 65,535 (a larger bound is
 * unbounded in the rewrite, a larger minimum refused). Literal text such as ",94105" or
 * "\{123" was counted once, and a pattern on short values used up a request's budget.
 * Also its groups and the counts of the repeats of a group (r->groups, r->group_counts). */
static void repeats_of(const char *p, size_t n, struct cond_regex *r)
{
    r->nrepeats = 0;
    r->counts = 0;
    r->groups = 0;
    r->group_counts = 0;
    bool in_class = false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\') {
            i++; /* the escaped character */
            continue;
        }
        if (in_class) {
            in_class = p[i] != ']';
            continue;
        }
        if (p[i] == '[') {
            in_class = true;
            continue;
        }
        if (p[i] == '(') {
            r->groups += r->groups < UINT32_MAX;
            continue;
        }
        if (p[i] != '{') {
            continue;
        }
        uint64_t lo = 0, hi = 0;
        size_t k = i + 1, d = 0;
        for (; k < n && p[k] >= '0' && p[k] <= '9'; k++, d++) {
            lo = lo < 1000000 ? lo * 10 + (uint64_t)(p[k] - '0') : lo;
        }
        if (d == 0 || k >= n) {
            continue;
        }
        if (p[k] == ',') {
            k++;
            for (; k < n && p[k] >= '0' && p[k] <= '9'; k++) {
                hi = hi < 1000000 ? hi * 10 + (uint64_t)(p[k] - '0') : hi;
            }
        }
        if (k >= n || p[k] != '}') {
            continue;
        }
        uint64_t c = (lo > hi ? lo : hi);
        c = c > 65535 ? 65535 : c;
        r->counts += c;
        r->nrepeats++;
        if (i > 0 && p[i - 1] == ')') {
            r->group_counts += c; /* a group's copies (an escaped ")" is a literal: more) */
        }
        i = k;
    }
}

static pcre2_code *compile_units(const uint16_t *p, size_t n, uint32_t opts, int *ec,
                                 PCRE2_SIZE *eo)
{
    return pcre2_compile((PCRE2_SPTR)p, n, opts, ec, eo, NULL);
}

/* "(?s:.*?)(?:pattern)" of a rewritten pattern (whole groups: it cannot swallow the ")"). */
static pcre2_code *compile_wrapped(const uint16_t *p, size_t n, uint32_t opts)
{
    static const char prefix[] = "(?s:.*?)(?:";
    size_t pn = sizeof(prefix) - 1;
    uint16_t *w = xmalloc((n + pn + 1) * sizeof(*w));
    for (size_t i = 0; i < pn; i++) {
        w[i] = (uint16_t)prefix[i];
    }
    if (n > 0) {
        memcpy(w + pn, p, n * sizeof(*w));
    }
    w[pn + n] = ')';
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = compile_units(w, n + pn + 1, opts | PCRE2_ANCHORED, &ec, &eo);
    free(w);
    return re;
}

static int compile_uncached(const char *pat, size_t n, bool insensitive, struct cond_regex *out,
                            struct err *err)
{
    memset(out, 0, sizeof(*out));
    uint16_t *js = NULL;
    size_t jn = 0;
    if (jsregex_translate(pat, n, insensitive, &js, &jn, err) != 0) {
        return -1;
    }
    uint32_t opts = COND_JS_REGEX_OPTS | PCRE2_NO_AUTO_POSSESS | (insensitive ? PCRE2_CASELESS : 0);
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *plain = compile_units(js, jn, opts, &ec, &eo);
    if (plain == NULL) {
        free(js);
        PCRE2_UCHAR msg[120]; /* 16-bit units; PCRE2's messages are ASCII */
        char text[120];
        if (pcre2_get_error_message(ec, msg, sizeof(msg) / sizeof(msg[0])) < 0) {
            msg[0] = 0;
        }
        size_t i = 0;
        for (; i + 1 < sizeof(text) && msg[i] != 0; i++) {
            text[i] = msg[i] < 0x80 ? (char)msg[i] : '?';
        }
        text[i] = '\0';
        return err_set(err, ERR_INVALID, "targeting", "%s (not supported here)",
                       i > 0 ? text : "invalid pattern");
    }
    uint32_t all = 0;
    (void)pcre2_pattern_info(plain, PCRE2_INFO_ALLOPTIONS, &all);
    if ((all & PCRE2_ANCHORED) != 0) {
        out->code = plain; /* one start position: the match limit already covers it all */
    } else {
        out->wrapped = true;
        out->code = compile_wrapped(js, jn, opts);
        pcre2_code_free(plain);
        if (out->code == NULL) {
            free(js);
            return err_set(err, ERR_INVALID, "targeting",
                           "the pattern cannot be matched within a budget");
        }
    }
    free(js);
    out->scans = may_scan(pat, n);
    size_t len = n > jn ? n : jn;
    out->len = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
    repeats_of(pat, n, out);
    uint32_t groups = 0;
    (void)pcre2_pattern_info(out->code, PCRE2_INFO_CAPTURECOUNT, &groups);
    out->frame_bytes = groups > 1000000 ? 16000000 : 16 * groups;
    return 0;
}

/*
 * The cache of live patterns. Every reload of the definitions (after any catalogue write, in
 * this daemon or another) compiles every experiment's targeting again; translating and
 * compiling a pattern costs ~10 us to ms, and 100 archived experiments of 800 patterns each
 * made every write wait ~0.9 s for the reload (and ingestion with it: the reload runs in the
 * writer's completion of the write). A pattern that some compiled condition still holds is
 * shared instead: an entry per (pattern, insensitive) with a count of its holders, removed
 * with the last (compiled code is immutable and matched by any number of threads at once).
 * Keyed by a keyed hash (patterns come from editors; chains cannot be made long on purpose).
 */
struct regex_entry {
    struct regex_entry *next;
    uint64_t hash;
    size_t n;
    bool insensitive;
    size_t refs;
    struct cond_regex re; /* re.shared NULL: the entry's own copy */
    char pat[];
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct regex_entry **cache_slots; /* power of two, or NULL */
static size_t cache_cap, cache_n;
static uint64_t cache_compiles;

static uint64_t pattern_hash(const char *pat, size_t n, bool insensitive)
{
    return hash_keyed(pat, n) ^ (insensitive ? 0x9E3779B97F4A7C15ull : 0);
}

/* The entry of the pattern, or NULL. Under cache_mu. */
static struct regex_entry *cache_find(uint64_t h, const char *pat, size_t n, bool insensitive)
{
    if (cache_cap == 0) {
        return NULL;
    }
    for (struct regex_entry *e = cache_slots[h & (cache_cap - 1)]; e != NULL; e = e->next) {
        if (e->hash == h && e->n == n && e->insensitive == insensitive &&
            memcmp(e->pat, pat, n) == 0) {
            return e;
        }
    }
    return NULL;
}

/* Under cache_mu. */
static void cache_insert(struct regex_entry *e)
{
    if (cache_n + 1 > cache_cap) {
        size_t cap = cache_cap ? cache_cap * 2 : 64;
        struct regex_entry **slots = xcalloc(cap, sizeof(*slots));
        for (size_t i = 0; i < cache_cap; i++) {
            for (struct regex_entry *x = cache_slots[i], *next; x != NULL; x = next) {
                next = x->next;
                x->next = slots[x->hash & (cap - 1)];
                slots[x->hash & (cap - 1)] = x;
            }
        }
        free(cache_slots);
        cache_slots = slots;
        cache_cap = cap;
    }
    struct regex_entry **slot = &cache_slots[e->hash & (cache_cap - 1)];
    e->next = *slot;
    *slot = e;
    cache_n++;
}

/* A holder more of e's code, copied into out. Under cache_mu. */
static void cache_take(struct regex_entry *e, struct cond_regex *out)
{
    e->refs++;
    *out = e->re;
    out->shared = e;
}

int cond_regex_compile(const char *pat, size_t n, bool insensitive, struct cond_regex *out,
                       struct err *err)
{
    memset(out, 0, sizeof(*out));
    uint64_t h = pattern_hash(pat, n, insensitive);
    pthread_mutex_lock(&cache_mu);
    struct regex_entry *e = cache_find(h, pat, n, insensitive);
    if (e != NULL) {
        cache_take(e, out);
    }
    pthread_mutex_unlock(&cache_mu);
    if (e != NULL) {
        return 0;
    }
    /* compiled outside the lock (it may take milliseconds); a refused pattern is not kept
     * (refusing it again is as cheap as finding it would be, mostly) */
    struct cond_regex re;
    if (compile_uncached(pat, n, insensitive, &re, err) != 0) {
        return -1;
    }
    pthread_mutex_lock(&cache_mu);
    cache_compiles++;
    e = cache_find(h, pat, n, insensitive); /* another thread compiled it meanwhile */
    if (e == NULL) {
        e = xmalloc(sizeof(*e) + (n > 0 ? n : 1));
        *e = (struct regex_entry){.hash = h, .n = n, .insensitive = insensitive, .re = re};
        memcpy(e->pat, pat, n);
        cache_insert(e);
        re.code = NULL;
    }
    cache_take(e, out);
    pthread_mutex_unlock(&cache_mu);
    pcre2_code_free(re.code); /* the copy that lost the race, or NULL */
    return 0;
}

void cond_regex_clear(struct cond_regex *r)
{
    if (r == NULL) {
        return;
    }
    struct regex_entry *e = r->shared;
    if (e == NULL) {
        pcre2_code_free(r->code);
    } else {
        pthread_mutex_lock(&cache_mu);
        if (--e->refs == 0) {
            struct regex_entry **p = &cache_slots[e->hash & (cache_cap - 1)];
            while (*p != e) {
                p = &(*p)->next;
            }
            *p = e->next;
            cache_n--;
        } else {
            e = NULL;
        }
        pthread_mutex_unlock(&cache_mu);
        if (e != NULL) {
            pcre2_code_free(e->re.code);
            free(e);
        }
    }
    r->code = NULL;
    r->shared = NULL;
}

size_t cond_regex_cache_live(void)
{
    pthread_mutex_lock(&cache_mu);
    size_t n = cache_n;
    pthread_mutex_unlock(&cache_mu);
    return n;
}

uint64_t cond_regex_cache_compiles(void)
{
    pthread_mutex_lock(&cache_mu);
    uint64_t n = cache_compiles;
    pthread_mutex_unlock(&cache_mu);
    return n;
}

void cond_regex_scratch_free(struct cond_regex_scratch *s)
{
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mc);
    free(s->text);
    s->md = NULL;
    s->mc = NULL;
    s->text = NULL;
    s->cap = 0;
}

int cond_regex_match(const struct cond_regex *r, struct cond_regex_scratch *s, const char *subj,
                     size_t sn, bool unlimited, long left, long *cost)
{
    if (s->md == NULL) {
        s->md = pcre2_match_data_create(1, NULL);
    }
    if (s->mc == NULL) {
        s->mc = pcre2_match_context_create(NULL);
        if (s->mc != NULL) {
            pcre2_set_heap_limit(s->mc, COND_REGEX_HEAP_KIB);
        }
    }
    size_t units = 0;
    if (s->md == NULL || s->mc == NULL || jsregex_utf16(subj, sn, &s->text, &s->cap, &units) != 0) {
        return 0; /* a subject that is not UTF-8 (JSON strings are) does not match */
    }
    uint64_t per_step = UNITS_PER_STEP_INTERP;
    /* what one step may read besides: the pattern's width, its repeats read no further than
     * the subject is long (x{0,65535} on "ab" reads two), and the frame PCRE2 copies */
    uint64_t reach = (uint64_t)r->nrepeats * units;
    uint64_t width = (uint64_t)r->len * (1 + (r->counts < reach ? r->counts : reach));
    /* and the groups it enters and leaves between counted steps: (?:a|a){1,12}c took 230 ns
     * a PCRE2 step over 4 KB (4.6 x a plain scan's; 12.7 ms of CPU for one request's
     * budget), ~1/3 of a step more for each copy of a group (tests/unit/test_regex_cost.c) */
    uint64_t copies = r->groups + (r->group_counts < units ? r->group_counts : units);
    uint64_t w = 1 + (width + r->frame_bytes) / WIDTH_PER_WEIGHT + copies / GROUPS_PER_WEIGHT;
    uint64_t weight = (w > 1000000 ? 1000000 : w) + (r->scans ? sn / SCAN_PER_WEIGHT : 0);
    uint64_t can = left > (1L << 40) ? (uint64_t)1 << 40 : (uint64_t)left; /* no overflow */
    uint64_t payable = unlimited || left <= 0 ? 0 : can * per_step / weight;
    /* the operation's own limit, on its runs together: a plain scan's linear allowance,
     * plus room for a greedy run that gives its characters back from every start position
     * (~n^2 steps for n units, 4 n^2 as the runs double from a scan's: \d+x on 150 digits
     * needs ~22,000 in one run, and the linear limit answered "no match" where JavaScript
     * matches). With a budget, at most half of what it has left pays for (or the linear
     * allowance, if more; for a pattern of weight > 1, a plain scan), so that one costly operation
     * does not match rather than spend the whole budget (a 400 for every experiment of the
     * request); without one, at most COND_REGEX_GIVEBACK_MAX more. */
    uint64_t linear = COND_REGEX_MATCH_LIMIT + (uint64_t)COND_REGEX_LIMIT_PER_BYTE * sn;
    uint64_t giveback = 4 * (uint64_t)units * units;
    uint64_t op_cap =
        linear + (giveback < COND_REGEX_GIVEBACK_MAX ? giveback : COND_REGEX_GIVEBACK_MAX);
    uint64_t limit = r->wrapped ? 2 * (uint64_t)sn + 64 : 64; /* a plain scan; one start */
    if (!unlimited) {
        /* at least a plain scan (the first run); the linear allowance was the floor, but a
         * heavy pattern's (weight 5 for (?:a|a){1,12}c) is two thirds of a budget on 4 KB */
        uint64_t floor = weight > 1 ? limit : linear;
        uint64_t share = payable / 2 > floor ? payable / 2 : floor;
        op_cap = op_cap < share ? op_cap : share;
    }
    /* A run may also read the subject once without a counted step (a greedy repeat that
     * then matches gives nothing back), each unit checked against the pattern's classes:
     * a class of 20,000 characters outside Latin-1 is a list PCRE2 walks per unit (13.6 ms
     * for 1,365 units, charged 3,763 steps). So a long pattern pays that read per run too,
     * in steps of this weight: units x (len / 256) / weight. */
    uint64_t read = (uint64_t)units * (r->len / WIDTH_PER_WEIGHT) / weight;
    uint64_t spent = 0;
    int ret;
    for (;;) {
        /* op_cap bounds the operation's runs together (they were bounded one by one, so
         * the doubling runs spent nearly three times it: one costly regex took 72-95% of
         * the budget); a run smaller than the one before cannot get further */
        uint64_t room = op_cap > spent ? op_cap - spent : 0;
        uint64_t run = limit < room ? limit : room;
        if (spent > 0 && run < limit) {
            ret = 0; /* the operation's limit: no match */
            break;
        }
        bool by_budget = !unlimited && payable - spent < run + read;
        if (by_budget) {
            run = payable - spent > read ? payable - spent - read : 0;
        }
        if (run > UINT32_MAX) {
            run = UINT32_MAX;
        }
        int rc = PCRE2_ERROR_MATCHLIMIT;
        if (run > 0) {
            pcre2_set_match_limit(s->mc, (uint32_t)run);
            rc = pcre2_match(r->code, s->text, units, 0, 0, s->md, s->mc);
        }
        spent += run + (run > 0 ? read : 0);
        if (rc == PCRE2_ERROR_HEAPLIMIT) {
            /* the backtracking frames outgrew COND_REGEX_HEAP_KIB: as costly as a request
             * may be (2,000 empty groups made one request hold 400 MB) */
            ret = unlimited ? 0 : -1;
            break;
        }
        if (rc != PCRE2_ERROR_MATCHLIMIT) {
            /* >= 0 a match (0: ovector too small); otherwise no match */
            ret = rc >= 0 ? 1 : 0;
            break;
        }
        if (by_budget || spent >= op_cap) {
            ret = by_budget ? -1 : 0; /* the operation's limit: no match */
            break;
        }
        limit = run * 2;
    }
    *cost += (long)((spent * weight + per_step - 1) / per_step);
    return ret;
}
