/*
 * experiment_values.c - the one JSON type of an experiment's values (experiment_int.h
 * experiment_check_value_types): the flag type that SDKs see. OFREP's typed getters
 * (getBooleanValue, getStringValue, ...) and the GrowthBook SDK's typed features expect one
 * type per flag; an experiment whose variants were `false` and `"yes"` answered
 * TYPE_MISMATCH (the code default) to half the users, whose exposures were still logged.
 *
 * Types: string, number (integer and real alike), boolean, object (OFREP's object flag),
 * array. An array is a type of its own: OFREP carries objects, not top-level arrays, so an
 * experiment with an object variant and an array variant answered half its users a GENERAL
 * failure (their exposures unlogged: a false sample-ratio mismatch). All-array experiments
 * stay allowed (/assign and the GrowthBook payload carry them; OFREP refuses them alike for
 * every user). A variant without a value (absent or null) has its key as value: a string.
 * default_value null means the control's value and takes no part. Checked when an experiment is
 * written (create, PATCH of its variants or default_value); stored experiments load as they are.
 * Pure: no I/O, no globals; any thread.
 */
#include <stdio.h>

#include "bunsen/err.h"
#include "bunsen/model.h"
#include "experiment_int.h"

static const char *type_of(const json_t *v)
{
    if (v == NULL || json_is_null(v) || json_is_string(v)) {
        return "a string"; /* no value: the variant's key */
    }
    if (json_is_number(v)) {
        return "a number";
    }
    if (json_is_boolean(v)) {
        return "a boolean";
    }
    if (json_is_array(v)) {
        return "an array";
    }
    return "an object";
}

int experiment_check_value_types(const struct experiment *x, struct err *err)
{
    if (x->nvariants == 0) {
        return 0;
    }
    const struct variant *first = &x->variants[0];
    const char *want = type_of(first->value);
    for (size_t i = 1; i < x->nvariants; i++) {
        const struct variant *v = &x->variants[i];
        const char *got = type_of(v->value);
        if (got != want) {
            char field[64];
            snprintf(field, sizeof(field), "variants[%zu].value", i);
            return err_set(err, ERR_INVALID, field,
                           "the variants' values must all be of one JSON type (the flag's type "
                           "in SDKs): variant '%s' is %s%s, variant '%s' is %s%s",
                           first->key, want, first->value == NULL ? " (no value: its key)" : "",
                           v->key, got, v->value == NULL ? " (no value: its key)" : "");
        }
    }
    if (x->default_value != NULL && type_of(x->default_value) != want) {
        return err_set(err, ERR_INVALID, "default_value",
                       "default_value must be of the variants' JSON type (the flag's type in "
                       "SDKs): it is %s, the values of the variants ('%s', ...) are %s%s",
                       type_of(x->default_value), first->key, want,
                       first->value == NULL ? " (no value: their keys)" : "");
    }
    return 0;
}
