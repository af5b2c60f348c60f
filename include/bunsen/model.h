/*
 * model.h - the catalogue's definitions: metrics and experiments, their JSON form
 * (API.md "Metrics", "Experiments"), every validation rule, the experiment lifecycle,
 * and the hot-path view used by assignment.
 *
 * Pure (src/core/metric.c, src/core/experiment.c + experiment_read.c, src/core/validate.c): no I/O,
 * no globals. jansson is used only as the in-memory value tree of the documents (the same choice as
 * condition.h), since targeting conditions and forced maps are JSON values.
 *
 * Lifecycle (experiment_transition):
 *
 *     draft --start--> running --pause--> paused
 *       |                ^  \               |  \
 *       |                +---\---resume-----+   \
 *       |                     \--stop--> stopped <--stop (from paused)
 *       +--archive--> archived <--archive-- stopped
 *
 * Validation errors are ERR_INVALID with `field` naming the culprit in API.md's notation
 * ("variants[1].weight"). Thread-safety: none needed (values owned by one caller).
 */
#ifndef BUNSEN_MODEL_H
#define BUNSEN_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "bunsen/assign.h"
#include "bunsen/err.h"
#include "bunsen/stats.h"

#define MODEL_KEY_MAX             64
#define MODEL_NAME_MAX            200
#define MODEL_TEXT_MAX            10000
#define MODEL_MAX_METRICS         50
#define MODEL_MAX_GUARDRAILS      20
#define MODEL_MAX_FORCED          1000
#define MODEL_MAX_CONDITION_DEPTH 32
#define MODEL_MAX_CONDITION_BYTES 65536
/* Significant digits replies printed until s24 (now the shortest text that reads back as
 * the double), and definitions' reals were rounded to from 2026-12-05 until s24: namespace
 * ranges are compared at them (experiment.c), so a range written with 15 digits and its
 * neighbour's stored with 17 touch rather than overlap. */
#define MODEL_REAL_DIGITS 15
/* Default relative minimum detectable effect of an experiment (API.md "Results, v1.1"). */
#define MODEL_MDE_DEFAULT 0.05

/* How a document is read: a new object (read-only fields must be absent or default),
 * a partial update over an existing one (read-only fields must be absent or unchanged),
 * or a trusted document from our own store (everything accepted as written). */
enum model_mode { MODEL_CREATE, MODEL_PATCH, MODEL_LOAD };

/* ---- metrics ---- */

/* How a metric's values read to a person (the dashboard's tables and charts): plain
 * (no unit given: binomial means show as percentages, others as numbers), a count of
 * things, a percentage (values are fractions: 0.12 reads 12%), money in `currency`
 * (an ISO 4217 code such as "EUR"), or a duration (values in milliseconds). */
enum metric_unit {
    METRIC_UNIT_NONE,
    METRIC_UNIT_COUNT,
    METRIC_UNIT_PERCENT,
    METRIC_UNIT_CURRENCY,
    METRIC_UNIT_DURATION
};

struct metric {
    char key[MODEL_KEY_MAX + 1];
    char name[MODEL_NAME_MAX + 1];
    char event[129];
    char description[1001];
    enum stats_metric_type type;
    enum stats_goal goal;
    bool has_window;
    int64_t window_hours; /* >= 1 when has_window; no window = until the experiment stops */
    bool has_cap;
    double cap;                        /* > 0: per-user values are winsorized at cap */
    int64_t cuped_lookback_hours;      /* >= 0, default 336; 0 = no CUPED covariate */
    enum metric_unit unit;             /* display only; never changes a result */
    char currency[4];                  /* ISO 4217 code with METRIC_UNIT_CURRENCY, else "" */
    char numerator[MODEL_KEY_MAX + 1]; /* type ratio: metric keys, else "" */
    char denominator[MODEL_KEY_MAX + 1];
    int64_t created_at, updated_at;
};

/* Read doc into out. MODEL_PATCH requires base (the stored metric); others ignore it. A
 * ratio metric with an event, window_hours, cap or non-default cuped_lookback_hours of its
 * own (its parts carry theirs) is refused by MODEL_CREATE and MODEL_PATCH; MODEL_LOAD reads
 * such a ratio stored by an earlier version as it is. */
int metric_from_json(const json_t *doc, enum model_mode mode, const struct metric *base,
                     struct metric *out, struct err *err);
/* The API representation (new reference). */
json_t *metric_to_json(const struct metric *m);

/* ---- experiments ---- */

/* A variant's or an experiment's value (API.md "Variant values"): any JSON value of at most
 * this many bytes (compact) and MODEL_MAX_CONDITION_DEPTH levels. */
#define MODEL_VALUE_MAX_BYTES 65536
/* hash_attribute / fallback_attribute: an attribute name of 1 to this many bytes. */
#define MODEL_ATTRIBUTE_MAX 128
/* "dimensions": at most this many attribute names to break results down by (API.md
 * "Results, v1.1"), each 1..MODEL_DIMENSION_NAME_MAX bytes of [A-Za-z0-9_.-]; the value a
 * user has is recorded at the first exposure, at most MODEL_DIMENSION_VALUE_MAX bytes. */
#define MODEL_MAX_DIMENSIONS      3
#define MODEL_DIMENSION_NAME_MAX  64
#define MODEL_DIMENSION_VALUE_MAX 64

struct variant {
    char key[MODEL_KEY_MAX + 1];
    char name[MODEL_NAME_MAX + 1];
    double weight;
    json_t *value; /* owned; NULL = none (the value is the key) */
};

/* Why an experiment ended (and which variant won), recorded by a person when stopping (POST
 * /stop with {"conclusion": {"outcome", "winner", "notes"}}) or later by a PATCH of the
 * stopped experiment. */
enum experiment_outcome { OUTCOME_NONE, OUTCOME_WON, OUTCOME_LOST, OUTCOME_INCONCLUSIVE };
#define MODEL_NOTES_MAX 2000

/* The range of an analysis' alpha: the stored analysis.alpha and the results' ?alpha= (and
 * `bunsen results --alpha`) alike. Below 1e-6 the sequential intervals fail numerically; above
 * 0.5 "significant" means more often wrong than right. */
#define ANALYSIS_ALPHA_MIN 1e-6
#define ANALYSIS_ALPHA_MAX 0.5

struct analysis_defaults {
    enum stats_method method;
    double alpha;
    bool cuped;
    enum stats_correction correction;
};

struct experiment {
    char key[MODEL_KEY_MAX + 1];
    char name[MODEL_NAME_MAX + 1];
    char *description; /* owned, never NULL after a successful read */
    char *hypothesis;  /* owned, never NULL */
    char owner[MODEL_NAME_MAX + 1];
    size_t nvariants;
    struct variant variants[ASSIGN_MAX_VARIANTS];
    double coverage;
    char seed[257];
    int hash_version;
    bool has_namespace;
    char ns_name[MODEL_KEY_MAX + 1];
    double ns_start, ns_end;
    json_t *targeting; /* owned object, NULL = everyone */
    json_t *forced;    /* owned object user_id -> variant key, NULL = none */
    size_t nmetrics;
    char metrics[MODEL_MAX_METRICS][MODEL_KEY_MAX + 1];
    char primary_metric[MODEL_KEY_MAX + 1]; /* "" = none */
    size_t nguardrails;
    char guardrails[MODEL_MAX_GUARDRAILS][MODEL_KEY_MAX + 1];
    double sequential_tuning;
    double mde; /* relative minimum detectable effect for "decision" (default 0.05) */
    struct analysis_defaults analysis;
    enum assign_status status;
    int64_t created_at, updated_at, started_at, stopped_at; /* 0 = null */
    /* time spent paused: paused_at is when the current pause began (0 = not paused),
     * paused_ms the length of the pauses that ended (at resume or stop). Running time =
     * (stopped_at or now) - started_at - paused_ms - (now - paused_at while paused). */
    int64_t paused_at, paused_ms;
    int released;          /* variant index or -1 */
    json_t *default_value; /* owned; what users out of the experiment get, NULL = the control's */
    char hash_attribute[MODEL_ATTRIBUTE_MAX + 1];     /* hashed attribute, default "id" (user_id) */
    char fallback_attribute[MODEL_ATTRIBUTE_MAX + 1]; /* used when hash_attribute is absent; "" */
    enum experiment_outcome outcome;                  /* OUTCOME_NONE = no conclusion recorded */
    char *conclusion_notes;                           /* owned when outcome is set, else NULL */
    int64_t concluded_at;           /* when the conclusion was recorded, 0 = none */
    char winner[MODEL_KEY_MAX + 1]; /* the variant that won (outcome won only), "" = none */
    size_t ndimensions;             /* attributes recorded at first exposure for breakdowns */
    char dimensions[MODEL_MAX_DIMENSIONS][MODEL_DIMENSION_NAME_MAX + 1];
};

/* Read doc into out (which the caller then owns: experiment_clear). MODEL_PATCH starts
 * from a deep copy of base and applies the fields present in doc (null clears an optional
 * field). Returns 0 or -1 with err. */
int experiment_from_json(const json_t *doc, enum model_mode mode, const struct experiment *base,
                         struct experiment *out, struct err *err);
/* The API representation (new reference). */
json_t *experiment_to_json(const struct experiment *x);
/* Free what x owns and zero it. Accepts an already-cleared struct. */
void experiment_clear(struct experiment *x);
/* Deep copy. */
void experiment_copy(struct experiment *dst, const struct experiment *src);

/* When a running or paused experiment changes from a to b: the name of the first field
 * whose change would reassign users ("variants", "seed", "hash_version", "namespace",
 * "targeting", "hash_attribute", "fallback_attribute", and last "coverage" when b's is
 * lower: users already exposed would leave their variant), or NULL when none does. */
const char *experiment_reassigning_change(const struct experiment *a, const struct experiment *b);

/* Would a and b share users of a namespace: both in the namespace of one name, with ranges
 * [start, end) that intersect? Experiments in one namespace exclude each other only while
 * their ranges are disjoint. */
bool experiment_namespaces_overlap(const struct experiment *a, const struct experiment *b);

/* The lifecycle action ("start", "pause", "resume", "stop", "archive") from status `from`:
 * 0 with *to, or -1 with ERR_CONFLICT for an illegal transition (ERR_NOT_FOUND for an
 * unknown action). */
int experiment_transition(enum assign_status from, const char *action, enum assign_status *to,
                          struct err *err);

/* The value of variant i as a new reference: its "value", or its key as a string. */
json_t *experiment_value_new(const struct experiment *x, int variant);
/* The value a user gets for an assignment: the variant's value when of_variant (hashed,
 * forced, released), else the experiment's default_value, else the control's value. New
 * reference. */
json_t *experiment_assigned_value(const struct experiment *x, int variant, bool of_variant);
/* Read a conclusion object {"outcome": "won|lost|inconclusive", "notes": "...", "winner":
 * "variant"} (null clears it) into x, stamped `now`. The winner is optional (absent or null:
 * none), given only with "won", and one of x's variant keys (x's variants are read first).
 * Errors name "conclusion.outcome" / "conclusion.notes" / "conclusion.winner". mode is where
 * it comes from (validate_text): MODEL_LOAD for a stored one. */
int experiment_read_conclusion(const json_t *v, enum model_mode mode, struct experiment *x,
                               int64_t now, struct err *err);

/* Index of the variant with this key, or -1. */
int experiment_variant_index(const struct experiment *x, const char *key);

/* Does the experiment use metric key (as a metric or guardrail)? */
bool experiment_uses_metric(const struct experiment *x, const char *key);

/* Is metric key among x's guardrails (whether or not it is also among its metrics)? */
bool experiment_is_guardrail(const struct experiment *x, const char *key);

/* How long x has run, in ms, as of now: from started_at to stopped_at (or now), less its
 * pauses (paused_ms, and the current one). 0 when never started or on a clock gone back. */
int64_t experiment_running_ms(const struct experiment *x, int64_t now);

/* Fill the hot-path view; keys/weights are arrays of ASSIGN_MAX_VARIANTS owned by the caller
 * and, like x, must outlive a. */
void experiment_to_assign(const struct experiment *x, struct assign_experiment *a,
                          const char **keys, double *weights);

/* ---- validation helpers shared by the readers (src/core/validate.c) ---- */

/* Only the fields in allowed (NULL-terminated) may appear in obj. prefix names obj in
 * field paths ("" at the top level). */
int validate_known_fields(const json_t *obj, const char *const *allowed, const char *prefix,
                          struct err *err);
/* The byte offset in s (n bytes of UTF-8) of the first invisible formatting character
 * (util.h utf8_invisible_len: bidi controls, zero-width characters, direction marks...), or
 * -1: they make one name look like another ("admin\u200b") or reorder what is shown after
 * them. */
long text_invisible_at(const char *s, size_t n);
/* String of [min, max] bytes of UTF-8 text without control characters (newlines and tabs
 * are allowed when multiline) nor, unless mode is MODEL_LOAD, invisible formatting
 * characters (text_invisible_at). Copies into out (size outn) when out is not NULL. mode
 * says where the text comes from: the invisible-character rule, newer than some stored
 * texts, applies to what a client writes (MODEL_CREATE, MODEL_PATCH), not to a stored
 * document read back (a running experiment named before the rule must keep serving). */
int validate_text(const json_t *v, enum model_mode mode, const char *field, size_t min, size_t max,
                  bool multiline, char *out, size_t outn, struct err *err);
/* A key matching ^[a-z0-9][a-z0-9_.-]{0,63}$, copied into out (size >= 65). */
int validate_key(const json_t *v, const char *field, char *out, struct err *err);
/* A finite number in [lo, hi]. */
int validate_number(const json_t *v, const char *field, double lo, double hi, double *out,
                    struct err *err);
/* validate_number of a definition's real: kept as sent (until s24 a written one was rounded
 * to MODEL_REAL_DIGITS); mode is for the callers' symmetry. */
int validate_real(const json_t *v, enum model_mode mode, const char *field, double lo, double hi,
                  double *out, struct err *err);
/* An integer in [lo, hi]. */
int validate_integer(const json_t *v, const char *field, int64_t lo, int64_t hi, int64_t *out,
                     struct err *err);
/* Depth of a JSON value (scalars 0). Stops counting at limit + 1. */
int validate_json_depth(const json_t *v, int limit);
/* x rounded to `digits` significant digits (printed with %.*g and read back) into *out:
 * false, *out untouched, when that is not finite (a number within rounding of DBL_MAX:
 * 1.7976931348623157e308 is 1.79769313486232e308 at 15 digits, which no JSON reader can
 * read back as a number). */
bool validate_round_real(double x, int digits, double *out);

#endif
