/*
 * fuzz_experiment.c - libFuzzer target for the catalogue's JSON readers (model.h).
 *
 * The input is a request body, parsed as http_req_json_body() parses it. The object is
 * read as an experiment with MODEL_CREATE, with MODEL_PATCH over two stored experiments
 * (a running one and a stopped one with a released variant) and with MODEL_LOAD, and as
 * a metric with MODEL_CREATE, MODEL_PATCH and MODEL_LOAD. Invariants checked on every
 * accepted document: the API.md rules hold on the result (keys, 2..20 variants, weights
 * summing to 1, ranges), it renders (experiment_to_json), the rendering loads back with
 * MODEL_LOAD as the store does and renders identically (also through JSON text), the
 * round trip reassigns nobody, and the result can be assigned (assign_decide). Refusals
 * must be ERR_INVALID. Memory errors, leaks and UB are found by the sanitizers.
 */
#include <math.h>

#include "bunsen/assign.h"
#include "bunsen/model.h"
#include "bunsen/util.h"
#include "fuzz_common.h"

/* Two stored experiments for MODEL_PATCH, loaded once. */
static struct experiment base_running, base_stopped;
static struct metric base_metric;

static const char running_doc[] =
    "{\"key\":\"checkout-button\",\"name\":\"Checkout\",\"description\":\"d\","
    "\"hypothesis\":\"h\",\"owner\":\"pm@x\",\"variants\":[{\"key\":\"control\","
    "\"name\":\"Red\",\"weight\":0.25},{\"key\":\"green\",\"weight\":0.75}],"
    "\"coverage\":0.8,\"seed\":\"s1\",\"hash_version\":2,\"namespace\":{\"name\":\"ns\","
    "\"range\":[0.1,0.6]},\"targeting\":{\"country\":{\"$in\":[\"NL\",\"BE\"]}},"
    "\"forced\":{\"qa-1\":\"green\"},\"metrics\":[\"purchase\",\"revenue\"],"
    "\"primary_metric\":\"revenue\",\"guardrails\":[\"latency\"],\"sequential_tuning\":1234,"
    "\"analysis\":{\"method\":\"bayesian\",\"alpha\":0.1,\"cuped\":false,\"correction\":"
    "\"holm\"},\"status\":\"running\",\"created_at\":1764331200000,\"started_at\":"
    "1764331200001}";

static const char stopped_doc[] =
    "{\"key\":\"exp\",\"name\":\"Exp\",\"seed\":\"exp\",\"variants\":[{\"key\":\"a\"},{\"key\":"
    "\"b\"},{\"key\":\"c\"}],"
    "\"status\":\"stopped\",\"released_variant\":\"c\",\"forced\":{\"u\":\"a\"},"
    "\"created_at\":1,\"started_at\":2,\"stopped_at\":3}";

static const char metric_doc[] =
    "{\"key\":\"revenue\",\"name\":\"Revenue\",\"event\":\"purchase\",\"type\":\"sum\","
    "\"window_hours\":72,\"goal\":\"increase\",\"cap\":500,\"cuped_lookback_hours\":336,"
    "\"description\":\"per user\",\"created_at\":5,\"updated_at\":6}";

static void load_base(const char *text, struct experiment *x)
{
    json_t *doc = json_loads(text, 0, NULL);
    struct err err;
    err_clear(&err);
    FUZZ_CHECK(doc != NULL && experiment_from_json(doc, MODEL_LOAD, NULL, x, &err) == 0,
               "base experiment refused: %s %s", err.field, err.msg);
    json_decref(doc);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_object_seed(1);
    load_base(running_doc, &base_running);
    load_base(stopped_doc, &base_stopped);
    json_t *doc = json_loads(metric_doc, 0, NULL);
    struct err err;
    err_clear(&err);
    FUZZ_CHECK(doc != NULL && metric_from_json(doc, MODEL_LOAD, NULL, &base_metric, &err) == 0,
               "base metric refused: %s", err.msg);
    json_decref(doc);
    return 0;
}

static void check_refusal(const struct err *err, enum model_mode mode, const char *what)
{
    /* MODEL_LOAD says ERR_INTERNAL for a stored document without a valid status */
    FUZZ_CHECK(err->code == ERR_INVALID || (mode == MODEL_LOAD && err->code == ERR_INTERNAL),
               "%s: code %d", what, (int)err->code);
    FUZZ_CHECK(memchr(err->field, '\0', sizeof(err->field)) != NULL, "%s: field", what);
    FUZZ_CHECK(memchr(err->msg, '\0', sizeof(err->msg)) != NULL && err->msg[0] != '\0',
               "%s: message", what);
    /* http_reply_err() hands field and message to jansson, which refuses invalid UTF-8.
     * (fixed bug, test_fuzz_regressions.c: "%.40s" / "%.60s" cut a character in two). */
    FUZZ_CHECK_KNOWN(
        utf8_valid(err->field, strlen(err->field)) && utf8_valid(err->msg, strlen(err->msg)),
        "%s: error field or message is not UTF-8: '%s' '%s'", what, err->field, err->msg);
}

static bool text_ok(const char *s, size_t min, size_t max, bool multiline)
{
    return s != NULL && ref_text_valid((const uint8_t *)s, strlen(s), min, max, multiline);
}

/* A name or text (validate_text): written by a client, without invisible formatting
 * characters too; loaded (MODEL_LOAD), as stored. */
static bool name_ok(const char *s, size_t min, size_t max, bool multiline, enum model_mode mode)
{
    return text_ok(s, min, max, multiline) &&
           (mode == MODEL_LOAD || ref_text_visible((const uint8_t *)s, strlen(s)));
}

/* API.md "Experiments" on an accepted experiment. */
static void check_experiment(const struct experiment *x, enum model_mode mode)
{
    FUZZ_CHECK(ref_key_valid(x->key), "key '%s'", x->key);
    FUZZ_CHECK(name_ok(x->name, 1, MODEL_NAME_MAX, false, mode), "name");
    FUZZ_CHECK(name_ok(x->description, 0, MODEL_TEXT_MAX, true, mode), "description");
    FUZZ_CHECK(name_ok(x->hypothesis, 0, MODEL_TEXT_MAX, true, mode), "hypothesis");
    FUZZ_CHECK(name_ok(x->owner, 0, MODEL_NAME_MAX, false, mode), "owner");
    FUZZ_CHECK(name_ok(x->seed, 1, 256, false, mode), "seed '%s'", x->seed);
    FUZZ_CHECK(x->nvariants >= 2 && x->nvariants <= ASSIGN_MAX_VARIANTS, "nvariants %zu",
               x->nvariants);
    double sum = 0;
    for (size_t i = 0; i < x->nvariants; i++) {
        const struct variant *v = &x->variants[i];
        FUZZ_CHECK(ref_key_valid(v->key), "variant key %zu", i);
        FUZZ_CHECK(name_ok(v->name, 1, MODEL_NAME_MAX, false, mode), "variant name %zu", i);
        FUZZ_CHECK(isfinite(v->weight) && v->weight >= 0 && v->weight <= 1, "weight %zu", i);
        for (size_t j = 0; j < i; j++) {
            FUZZ_CHECK(strcmp(v->key, x->variants[j].key) != 0, "duplicate variant key");
        }
        sum += v->weight;
    }
    FUZZ_CHECK(fabs(sum - 1.0) <= 1e-6, "weights sum to %.17g", sum);
    FUZZ_CHECK(x->coverage >= 0 && x->coverage <= 1, "coverage %g", x->coverage);
    FUZZ_CHECK(x->hash_version == 1 || x->hash_version == 2, "hash_version %d", x->hash_version);
    if (x->has_namespace) {
        FUZZ_CHECK(ref_key_valid(x->ns_name), "namespace name");
        FUZZ_CHECK(x->ns_start >= 0 && x->ns_start < x->ns_end && x->ns_end <= 1,
                   "namespace range [%g, %g)", x->ns_start, x->ns_end);
    }
    FUZZ_CHECK(x->targeting == NULL || json_is_object(x->targeting), "targeting type");
    FUZZ_CHECK(x->targeting == NULL ||
                   validate_json_depth(x->targeting, MODEL_MAX_CONDITION_DEPTH) <=
                       MODEL_MAX_CONDITION_DEPTH,
               "targeting depth");
    if (x->forced != NULL) {
        FUZZ_CHECK(json_is_object(x->forced), "forced type");
        FUZZ_CHECK(json_object_size(x->forced) <= MODEL_MAX_FORCED, "forced size");
        const char *user;
        json_t *val;
        json_object_foreach(x->forced, user, val)
        {
            FUZZ_CHECK(text_ok(user, 1, 256, false), "forced user id");
            FUZZ_CHECK(experiment_variant_index(x, json_string_value(val)) >= 0, "forced variant");
        }
    }
    FUZZ_CHECK(x->nmetrics <= MODEL_MAX_METRICS && x->nguardrails <= MODEL_MAX_GUARDRAILS,
               "metric counts");
    for (size_t i = 0; i < x->nmetrics; i++) {
        FUZZ_CHECK(ref_key_valid(x->metrics[i]), "metrics[%zu]", i);
    }
    for (size_t i = 0; i < x->nguardrails; i++) {
        FUZZ_CHECK(ref_key_valid(x->guardrails[i]), "guardrails[%zu]", i);
    }
    FUZZ_CHECK(x->primary_metric[0] == '\0' || experiment_uses_metric(x, x->primary_metric),
               "primary_metric");
    FUZZ_CHECK(x->sequential_tuning >= 1 && x->sequential_tuning <= 1e12, "sequential_tuning");
    FUZZ_CHECK(x->analysis.alpha >= 1e-6 && x->analysis.alpha <= 0.5, "alpha");
    FUZZ_CHECK(x->released >= -1 && x->released < (int)x->nvariants, "released %d", x->released);
    if (mode == MODEL_CREATE) {
        FUZZ_CHECK(x->status == ASSIGN_STATUS_DRAFT && x->released == -1, "new experiment");
    }
}

/* Render, load back as the store does, render again: identical, and nobody reassigned. */
static void check_round_trip(const struct experiment *x)
{
    json_t *j1 = experiment_to_json(x);
    FUZZ_CHECK(j1 != NULL, "experiment_to_json returned NULL");
    char *text = json_dumps(j1, JSON_COMPACT);
    FUZZ_CHECK(text != NULL, "rendering cannot be encoded");
    json_t *j1t = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_CHECK(j1t != NULL && json_equal(j1, j1t), "rendering does not survive JSON text");
    struct experiment y;
    struct err err;
    err_clear(&err);
    int rc = experiment_from_json(j1t, MODEL_LOAD, NULL, &y, &err);
    FUZZ_CHECK(rc == 0, "own rendering refused by MODEL_LOAD: %s: %s (%s)", err.field, err.msg,
               text);
    check_experiment(&y, MODEL_LOAD);
    json_t *j2 = experiment_to_json(&y);
    FUZZ_CHECK(json_equal(j1, j2), "render -> load -> render differs");
    const char *change = experiment_reassigning_change(x, &y);
    FUZZ_CHECK(change == NULL, "round trip reassigns users (%s)", change);
    /* a stored edit that changes nothing is not a change */
    struct experiment z;
    err_clear(&err);
    rc = experiment_from_json(j1t, MODEL_PATCH, &y, &z, &err);
    FUZZ_CHECK(rc == 0, "sending the GET body back as PATCH refused: %s: %s", err.field, err.msg);
    json_t *j3 = experiment_to_json(&z);
    FUZZ_CHECK(json_equal(j1, j3), "PATCH with the current body changes it");
    json_decref(j3);
    experiment_clear(&z);
    json_decref(j2);
    experiment_clear(&y);
    json_decref(j1t);
    free(text);
    json_decref(j1);
}

/* Every accepted experiment can be assigned, for any user and in any status (strict); a
 * trusted document may lack variants, and is then refused cleanly. */
static void check_assign(const struct experiment *x, bool strict)
{
    const char *keys[ASSIGN_MAX_VARIANTS];
    double weights[ASSIGN_MAX_VARIANTS];
    struct assign_experiment a;
    experiment_to_assign(x, &a, keys, weights);
    static const char *const users[] = {"u-1", "qa-1", "u", "\xf0\x9f\x98\x80"};
    json_t *attrs = json_pack("{s:s}", "country", "NL");
    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
        struct assign_result r;
        struct err err;
        err_clear(&err);
        int rc = assign_decide(&a, users[i], strlen(users[i]), attrs, &r, &err);
        if (rc != 0 && !strict) {
            FUZZ_CHECK(err.code == ERR_INVALID, "assign_decide error code %d", (int)err.code);
            continue;
        }
        FUZZ_CHECK(rc == 0, "assign_decide refused a valid experiment: %s: %s", err.field, err.msg);
        FUZZ_CHECK(r.variant >= 0 && r.variant < (int)x->nvariants, "variant %d", r.variant);
        FUZZ_CHECK(!r.has_bucket || (r.bucket >= 0 && r.bucket < 1), "bucket %g", r.bucket);
    }
    json_decref(attrs);
}

static void read_experiment(const json_t *doc, enum model_mode mode, const struct experiment *base)
{
    struct experiment x;
    struct err err;
    err_clear(&err);
    if (experiment_from_json(doc, mode, base, &x, &err) != 0) {
        check_refusal(&err, mode, "experiment");
        return;
    }
    if (mode == MODEL_LOAD) {
        /* a trusted document is taken as written (a missing seed stays ""): only the
         * rendering and assignment must survive it */
        json_decref(experiment_to_json(&x));
        check_assign(&x, false);
        experiment_clear(&x);
        return;
    }
    check_experiment(&x, mode);
    if (mode == MODEL_PATCH) {
        FUZZ_CHECK(strcmp(x.key, base->key) == 0, "PATCH changed the key");
        FUZZ_CHECK(x.status == base->status, "PATCH changed the status");
        FUZZ_CHECK((x.released < 0) == (base->released < 0), "PATCH changed the release");
        FUZZ_CHECK(x.released < 0 ||
                       strcmp(x.variants[x.released].key, base->variants[base->released].key) == 0,
                   "the released variant lost its key");
        (void)experiment_reassigning_change(base, &x);
    }
    check_round_trip(&x);
    check_assign(&x, true);
    experiment_clear(&x);
}

/* A metric a client wrote (read_metric checks no other). */
static void check_metric(const struct metric *m)
{
    FUZZ_CHECK(ref_key_valid(m->key), "metric key");
    FUZZ_CHECK(name_ok(m->name, 1, MODEL_NAME_MAX, false, MODEL_CREATE), "metric name");
    FUZZ_CHECK(text_ok(m->event, 1, 128, false), "metric event");
    FUZZ_CHECK(name_ok(m->description, 0, 1000, true, MODEL_CREATE), "metric description");
    FUZZ_CHECK(!m->has_window || (m->window_hours >= 1 && m->window_hours <= 24 * 365 * 10),
               "window_hours");
    FUZZ_CHECK(!m->has_cap || (isfinite(m->cap) && m->cap > 0), "cap");
    FUZZ_CHECK(m->cuped_lookback_hours >= 0 && m->cuped_lookback_hours <= 24 * 365, "cuped");
}

static void read_metric(const json_t *doc, enum model_mode mode)
{
    struct metric m, m2;
    struct err err;
    err_clear(&err);
    if (metric_from_json(doc, mode, &base_metric, &m, &err) != 0) {
        check_refusal(&err, mode, "metric");
        return;
    }
    if (mode != MODEL_LOAD) {
        check_metric(&m);
    }
    json_t *j1 = metric_to_json(&m);
    int rc = metric_from_json(j1, MODEL_LOAD, NULL, &m2, &err);
    if (mode != MODEL_LOAD) {
        FUZZ_CHECK(rc == 0, "own metric rendering refused: %s: %s", err.field, err.msg);
    }
    if (rc == 0) {
        json_t *j2 = metric_to_json(&m2);
        FUZZ_CHECK(json_equal(j1, j2), "metric render -> load -> render differs");
        json_decref(j2);
    }
    json_decref(j1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = fuzz_json(data, size, 0);
    if (doc == NULL) {
        return 0;
    }
    /* the readers must refuse a non-object themselves */
    read_experiment(doc, MODEL_CREATE, NULL);
    read_experiment(doc, MODEL_PATCH, &base_running);
    read_experiment(doc, MODEL_PATCH, &base_stopped);
    read_experiment(doc, MODEL_LOAD, NULL);
    read_metric(doc, MODEL_CREATE);
    read_metric(doc, MODEL_PATCH);
    read_metric(doc, MODEL_LOAD);
    json_decref(doc);
    return 0;
}
