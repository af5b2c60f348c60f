/*
 * saved_group.c - saved groups (saved_group.h): reading and validating their JSON form,
 * and finding the groups a targeting condition names. Owns nothing beyond the documents
 * it returns; called from request threads and the writer thread.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bunsen/saved_group.h"
#include "bunsen/util.h"

static const char *const group_fields[] = {"key",         "name",       "attribute",  "values",
                                           "description", "created_at", "updated_at", NULL};

/* values (v, borrowed) into out: written (given is true), each real as sent (a GET shows
 * it exactly, the numbers $inGroup compares with); not given (loaded, or the stored list of
 * a PATCH without values), as it is. */
static int read_values(const json_t *v, enum model_mode mode, bool given, json_t *out,
                       struct err *err)
{
    if (!given) {
        json_object_set_new(out, "values", json_deep_copy(v));
        return 0;
    }
    if (!json_is_array(v)) {
        return err_set(err, ERR_INVALID, "values", "values must be an array of strings or numbers");
    }
    if (json_array_size(v) > SAVED_GROUP_MAX_VALUES) {
        return err_set(err, ERR_INVALID, "values", "a saved group has at most %d values",
                       SAVED_GROUP_MAX_VALUES);
    }
    json_t *copy = json_deep_copy(v);
    size_t i;
    json_t *e;
    json_array_foreach(copy, i, e)
    {
        char field[48];
        snprintf(field, sizeof(field), "values[%zu]", i);
        if (json_is_string(e)) {
            if (validate_text(e, mode, field, 0, 256, false, NULL, 0, err) != 0) {
                json_decref(copy);
                return -1;
            }
        } else if (!json_is_number(e) || (json_is_real(e) && !isfinite(json_real_value(e)))) {
            json_decref(copy);
            return err_set(err, ERR_INVALID, field, "%s must be a string or a finite number",
                           field);
        }
    }
    json_object_set_new(out, "values", copy);
    return 0;
}

static int read_text_field(const json_t *doc, enum model_mode mode, const json_t *base,
                           const char *name, size_t min, size_t max, bool multiline,
                           const char *def, json_t *out, struct err *err)
{
    const json_t *v = json_object_get(doc, name);
    if (v == NULL || json_is_null(v)) {
        const json_t *b = base != NULL && v == NULL ? json_object_get(base, name) : NULL;
        if (b != NULL) {
            json_object_set_new(out, name, json_deep_copy(b));
        } else if (def != NULL) {
            json_object_set_new(out, name, json_string(def));
        } else {
            return err_set(err, ERR_INVALID, name, "%s is required", name);
        }
        return 0;
    }
    if (validate_text(v, mode, name, min, max, multiline, NULL, 0, err) != 0) {
        return -1;
    }
    json_object_set_new(out, name, json_deep_copy(v));
    return 0;
}

static int read_saved_group(const json_t *doc, enum model_mode mode, const json_t *base,
                            json_t **out, struct err *err)
{
    *out = NULL;
    if (!json_is_object(doc)) {
        return err_set(err, ERR_INVALID, NULL, "a saved group must be a JSON object");
    }
    if (validate_known_fields(doc, group_fields, "", err) != 0) {
        return -1;
    }
    json_t *o = json_object();
    char key[MODEL_KEY_MAX + 1];
    const json_t *k = json_object_get(doc, "key");
    if (mode == MODEL_PATCH) {
        snprintf(key, sizeof(key), "%s", json_string_value(json_object_get(base, "key")));
        char given[MODEL_KEY_MAX + 1];
        if (k != NULL && (validate_key(k, "key", given, err) != 0 || strcmp(given, key) != 0)) {
            err_set(err, ERR_INVALID, "key", "a saved group's key cannot change");
            goto out_fail;
        }
    } else if (k == NULL) {
        err_set(err, ERR_INVALID, "key", "key is required");
        goto out_fail;
    } else if (validate_key(k, "key", key, err) != 0) {
        goto out_fail;
    }
    json_object_set_new(o, "key", json_string(key));
    const json_t *pb = mode == MODEL_PATCH ? base : NULL;
    if (read_text_field(doc, mode, pb, "name", 1, MODEL_NAME_MAX, false, key, o, err) != 0 ||
        read_text_field(doc, mode, pb, "attribute", 1, MODEL_ATTRIBUTE_MAX, false, NULL, o, err) !=
            0 ||
        read_text_field(doc, mode, pb, "description", 0, MODEL_TEXT_MAX, true, "", o, err) != 0) {
        goto out_fail;
    }
    const json_t *vals = json_object_get(doc, "values");
    bool given = vals != NULL && mode != MODEL_LOAD;
    if (vals == NULL && pb != NULL) {
        vals = json_object_get(pb, "values");
    }
    if (vals == NULL) {
        err_set(err, ERR_INVALID, "values", "values is required");
        goto out_fail;
    }
    if (read_values(vals, mode, given, o, err) != 0) {
        goto out_fail;
    }
    const json_t *times = mode == MODEL_LOAD ? doc : base;
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "updated_at" : "created_at";
        const json_t *t = times ? json_object_get(times, name) : NULL;
        json_object_set_new(o, name, json_integer(json_is_integer(t) ? json_integer_value(t) : 0));
    }
    *out = o;
    return 0;
out_fail:
    json_decref(o);
    return -1;
}

int saved_group_from_json(const json_t *doc, enum model_mode mode, const json_t *base, json_t **out,
                          struct err *err)
{
    return read_saved_group(doc, mode, base, out, err);
}

/* Walk condition for $inGroup / $notInGroup; visit(ctx, arg) per occurrence, stop when it
 * returns true. Returns that result. */
static bool walk(const json_t *c, bool (*visit)(void *ctx, const json_t *arg), void *ctx, int depth)
{
    if (c == NULL || depth > 64) {
        return false;
    }
    if (json_is_array(c)) {
        size_t i;
        const json_t *e;
        json_array_foreach(c, i, e)
        {
            if (walk(e, visit, ctx, depth + 1)) {
                return true;
            }
        }
        return false;
    }
    if (!json_is_object(c)) {
        return false;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)(uintptr_t)c, k, v)
    {
        if ((strcmp(k, "$inGroup") == 0 || strcmp(k, "$notInGroup") == 0) && visit(ctx, v)) {
            return true;
        }
        if (walk(v, visit, ctx, depth + 1)) {
            return true;
        }
    }
    return false;
}

struct missing_ctx {
    const json_t *groups;
    const char *missing;
};

static bool visit_missing(void *ctx, const json_t *arg)
{
    struct missing_ctx *m = ctx;
    if (!json_is_string(arg)) {
        m->missing = "";
        return true;
    }
    if (json_object_get(m->groups, json_string_value(arg)) == NULL) {
        m->missing = json_string_value(arg);
        return true;
    }
    return false;
}

const char *saved_group_missing(const json_t *condition, const json_t *groups)
{
    struct missing_ctx m = {groups, NULL};
    walk(condition, visit_missing, &m, 0);
    return m.missing;
}

static bool visit_named(void *ctx, const json_t *arg)
{
    return json_is_string(arg) && strcmp(json_string_value(arg), ctx) == 0;
}

bool saved_group_is_used(const json_t *condition, const char *key)
{
    return walk(condition, visit_named, (void *)(uintptr_t)key, 0);
}
