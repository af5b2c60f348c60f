/* Unit tests for core/condition.c: every evalCondition case of the shared conformance
 * file, plus our own cases (JavaScript type coercions, missing attributes, paths,
 * nesting), whose expected values were checked against the JavaScript SDK's rules with
 * node, the depth cap, and the operator table (cond_int.h) the evaluator and the targeting
 * checks share. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <jansson.h>

#include "bunsen/condition.h"
#include "bunsen/err.h"
#include "../../src/core/cond_int.h" /* the regex cache's counters, the operator table */

#define REGEX_CASES "tests/fixtures/growthbook/regex_cases.json"

/* [name, condition, attributes, expected, savedGroups?] like the conformance file */
static const char *const own_cases[] = {
    "[\"number cond, numeric string\", {\"n\": 8}, {\"n\": \"8\"}, true]",
    "[\"number cond, padded string\", {\"n\": 8}, {\"n\": \" 8\\n\"}, true]",
    "[\"number cond, hex string\", {\"n\": 16}, {\"n\": \"0x10\"}, true]",
    "[\"number cond, signed hex is NaN\", {\"n\": -16}, {\"n\": \"-0x10\"}, false]",
    "[\"number cond, empty string is 0\", {\"n\": 0}, {\"n\": \"\"}, true]",
    "[\"number cond, null is 0\", {\"n\": 0}, {\"n\": null}, true]",
    "[\"number cond, missing is null is 0\", {\"n\": 0}, {}, true]",
    "[\"number cond, true is 1\", {\"n\": 1}, {\"n\": true}, true]",
    "[\"number cond, one-element array\", {\"n\": 5}, {\"n\": [5]}, true]",
    "[\"number cond, object is NaN\", {\"n\": 5}, {\"n\": {\"a\": 5}}, false]",
    "[\"number cond, trailing junk\", {\"n\": 1}, {\"n\": \"1abc\"}, false]",
    "[\"number cond, exponent string\", {\"n\": 100}, {\"n\": \"1e2\"}, true]",
    "[\"number cond, leading dot\", {\"n\": 0.5}, {\"n\": \".5\"}, true]",
    "[\"number cond, trailing dot\", {\"n\": 5}, {\"n\": \"5.\"}, true]",
    "[\"number cond, plus sign\", {\"n\": 1}, {\"n\": \"+1\"}, true]",
    "[\"number cond, Infinity\", {\"n\": 1e+308}, {\"n\": \"Infinity\"}, false]",
    "[\"string cond, number attr\", {\"n\": \"8\"}, {\"n\": 8}, true]",
    "[\"string cond, float formatting\", {\"n\": \"0.30000000000000004\"}, {\"n\": "
    "0.30000000000000004}, true]",
    "[\"string cond, large exponent\", {\"n\": \"1e+21\"}, {\"n\": 1e+21}, true]",
    "[\"string cond, no exponent below 1e21\", {\"n\": \"100000000000000000000\"}, {\"n\": 1e+20}, "
    "true]",
    "[\"string cond, small exponent\", {\"n\": \"1e-7\"}, {\"n\": 1e-07}, true]",
    "[\"string cond, 0.000001\", {\"n\": \"0.000001\"}, {\"n\": 1e-06}, true]",
    "[\"string cond, negative real\", {\"n\": \"-1.5\"}, {\"n\": -1.5}, true]",
    "[\"string cond, integral real\", {\"n\": \"2\"}, {\"n\": 2.0}, true]",
    "[\"string cond, array join\", {\"n\": \"a,b\"}, {\"n\": [\"a\", \"b\"]}, true]",
    "[\"string cond, null elements join empty\", {\"n\": \"a,,b,1,true\"}, {\"n\": [\"a\", null, "
    "\"b\", 1, true]}, true]",
    "[\"string cond, nested array join\", {\"n\": \"1,2,3\"}, {\"n\": [1, [2, [3]]]}, true]",
    "[\"string cond, object\", {\"n\": \"[object Object]\"}, {\"n\": {}}, true]",
    "[\"string cond, null attr\", {\"n\": \"null\"}, {\"n\": null}, true]",
    "[\"string cond, missing attr\", {\"n\": \"null\"}, {}, true]",
    "[\"string cond, bool attr\", {\"n\": \"false\"}, {\"n\": false}, true]",
    "[\"bool cond true, number\", {\"b\": true}, {\"b\": 1}, true]",
    "[\"bool cond true, string\", {\"b\": true}, {\"b\": \"x\"}, true]",
    "[\"bool cond true, zero\", {\"b\": true}, {\"b\": 0}, false]",
    "[\"bool cond false, empty string\", {\"b\": false}, {\"b\": \"\"}, true]",
    "[\"bool cond false, null\", {\"b\": false}, {\"b\": null}, false]",
    "[\"bool cond true, empty array\", {\"b\": true}, {\"b\": []}, true]",
    "[\"$eq number vs string\", {\"n\": {\"$eq\": 8}}, {\"n\": \"8\"}, false]",
    "[\"$eq real vs integer\", {\"n\": {\"$eq\": 8.0}}, {\"n\": 8}, true]",
    "[\"$eq arrays compare by reference\", {\"n\": {\"$eq\": [1]}}, {\"n\": [1]}, false]",
    "[\"$ne arrays compare by reference\", {\"n\": {\"$ne\": [1]}}, {\"n\": [1]}, true]",
    "[\"$eq null vs missing\", {\"n\": {\"$eq\": null}}, {}, true]",
    "[\"$lt missing is null is 0\", {\"n\": {\"$lt\": 1}}, {}, true]",
    "[\"$gt NaN string\", {\"n\": {\"$gt\": 1}}, {\"n\": \"abc\"}, false]",
    "[\"$lte NaN string\", {\"n\": {\"$lte\": 1}}, {\"n\": \"abc\"}, false]",
    "[\"$gte NaN string\", {\"n\": {\"$gte\": 1}}, {\"n\": \"abc\"}, false]",
    "[\"$gt one-element array\", {\"n\": {\"$gt\": 4}}, {\"n\": [5]}, true]",
    "[\"$gt array vs string compares strings\", {\"n\": {\"$gt\": \"4\"}}, {\"n\": [10]}, false]",
    "[\"$lt UTF-16 order, emoji before U+E000\", {\"s\": {\"$lt\": \"\\ue000\"}}, {\"s\": "
    "\"\\ud83d\\ude00\"}, true]",
    "[\"$lt UTF-16 order, e-acute after z\", {\"s\": {\"$lt\": \"z\"}}, {\"s\": \"\\u00e9\"}, "
    "false]",
    "[\"$lt prefix\", {\"s\": {\"$lt\": \"abc\"}}, {\"s\": \"ab\"}, true]",
    "[\"$gt bool vs number\", {\"b\": {\"$gt\": 0}}, {\"b\": true}, true]",
    "[\"$lt object is NaN\", {\"o\": {\"$lt\": 1}}, {\"o\": {\"a\": 1}}, false]",
    "[\"$lt object vs string\", {\"o\": {\"$lt\": \"[z\"}}, {\"o\": {\"a\": 1}}, true]",
    "[\"$in strict types\", {\"n\": {\"$in\": [1, 2]}}, {\"n\": \"1\"}, false]",
    "[\"$in objects never equal\", {\"n\": {\"$in\": [{\"a\": 1}]}}, {\"n\": {\"a\": 1}}, false]",
    "[\"$in null matches missing\", {\"n\": {\"$in\": [null]}}, {}, true]",
    "[\"$nin missing\", {\"n\": {\"$nin\": [1]}}, {}, true]",
    "[\"$nin empty attribute array\", {\"n\": {\"$nin\": [1]}}, {\"n\": []}, true]",
    "[\"$ini non-string\", {\"n\": {\"$ini\": [1]}}, {\"n\": 1}, true]",
    "[\"$ini non-ascii\", {\"n\": {\"$ini\": [\"\\u00e9t\\u00e9\"]}}, {\"n\": "
    "\"\\u00c9T\\u00c9\"}, true]",
    "[\"$nini non-ascii\", {\"n\": {\"$nini\": [\"\\u00e9\"]}}, {\"n\": \"\\u00c9\"}, false]",
    "[\"$ini final sigma\", {\"n\": {\"$ini\": [\"\\u039f\\u0394\\u039f\\u03a3\"]}}, {\"n\": "
    "\"\\u03bf\\u03b4\\u03bf\\u03c2\"}, true]",
    "[\"$ini final sigma is not sigma\", {\"n\": {\"$ini\": [\"\\u039f\\u0394\\u039f\\u03a3\"]}}, "
    "{\"n\": \"\\u03bf\\u03b4\\u03bf\\u03c3\"}, false]",
    "[\"$ini lone capital sigma\", {\"n\": {\"$ini\": [\"\\u03a3\"]}}, {\"n\": \"\\u03c2\"}, "
    "false]",
    "[\"$ini sigma before a combining mark\", {\"n\": {\"$ini\": [\"\\u0391\\u03a3\\u0301\"]}}, "
    "{\"n\": \"\\u03b1\\u03c2\\u0301\"}, true]",
    "[\"$ini sigma inside a word\", {\"n\": {\"$ini\": [\"\\u0391\\u03a3\\u0391\"]}}, {\"n\": "
    "\"\\u03b1\\u03c3\\u03b1\"}, true]",
    "[\"$ini sigma after a full stop\", {\"n\": {\"$ini\": [\"A.\\u03a3\"]}}, {\"n\": "
    "\"a.\\u03c3\"}, false]",
    "[\"$ini long s is not s\", {\"n\": {\"$ini\": [\"s\"]}}, {\"n\": \"\\u017f\"}, false]",
    "[\"$ini dotted capital I\", {\"n\": {\"$ini\": [\"i\\u0307\"]}}, {\"n\": \"\\u0130\"}, true]",
    "[\"$ini dotted capital I is not i\", {\"n\": {\"$ini\": [\"i\"]}}, {\"n\": \"\\u0130\"}, "
    "false]",
    "[\"$ini kelvin sign\", {\"n\": {\"$ini\": [\"k\"]}}, {\"n\": \"\\u212a\"}, true]",
    "[\"$ini capital sharp s\", {\"n\": {\"$ini\": [\"\\u00df\"]}}, {\"n\": \"\\u1e9e\"}, true]",
    "[\"$ini deseret\", {\"n\": {\"$ini\": [\"\\ud801\\udc28\"]}}, {\"n\": \"\\ud801\\udc00\"}, "
    "true]",
    "[\"$ini cherokee\", {\"n\": {\"$ini\": [\"\\uab70\"]}}, {\"n\": \"\\u13a0\"}, true]",
    "[\"$ini titlecase dz\", {\"n\": {\"$ini\": [\"\\u01c5\"]}}, {\"n\": \"\\u01c6\"}, true]",
    "[\"$ini grows a byte\", {\"n\": {\"$ini\": [\"\\u2c65\"]}}, {\"n\": \"\\u023a\"}, true]",
    "[\"$nini dotted capital I\", {\"n\": {\"$nini\": [\"i\\u0307\"]}}, {\"n\": \"\\u0130\"}, "
    "false]",
    "[\"$alli final sigma\", {\"n\": {\"$alli\": [\"\\u039f\\u0394\\u039f\\u03a3\", \"X\"]}}, "
    "{\"n\": [\"x\", \"\\u03bf\\u03b4\\u03bf\\u03c2\"]}, true]",
    "[\"$alli final sigma is not sigma\", {\"n\": {\"$alli\": "
    "[\"\\u039f\\u0394\\u039f\\u03a3\"]}}, {\"n\": [\"\\u03bf\\u03b4\\u03bf\\u03c3\"]}, false]",
    "[\"$alli number element\", {\"n\": {\"$alli\": [\"1\"]}}, {\"n\": [1]}, true]",
    "[\"$alli operator condition\", {\"n\": {\"$alli\": [{\"$gt\": 1}]}}, {\"n\": [2]}, true]",
    "[\"$alli loose numbers\", {\"n\": {\"$alli\": [1]}}, {\"n\": [\"1\"]}, true]",
    "[\"$all empty\", {\"n\": {\"$all\": []}}, {\"n\": []}, true]",
    "[\"$all not array expected\", {\"n\": {\"$all\": \"a\"}}, {\"n\": [\"a\"]}, false]",
    "[\"$exists zero is falsy\", {\"n\": {\"$exists\": 0}}, {}, true]",
    "[\"$exists nested null\", {\"a.b\": {\"$exists\": true}}, {\"a\": {\"b\": null}}, false]",
    "[\"$exists false value\", {\"a\": {\"$exists\": true}}, {\"a\": false}, true]",
    "[\"$regex on number\", {\"n\": {\"$regex\": \"^12\"}}, {\"n\": 123}, true]",
    "[\"$regex on missing is null\", {\"n\": {\"$regex\": \"^null$\"}}, {}, true]",
    "[\"$regex on array\", {\"n\": {\"$regex\": \"^a,b$\"}}, {\"n\": [\"a\", \"b\"]}, true]",
    "[\"$regex non-string pattern\", {\"n\": {\"$regex\": 1}}, {\"n\": \"1\"}, false]",
    "[\"$regex dollar only at end\", {\"n\": {\"$regex\": \"a$\"}}, {\"n\": \"a\\n\"}, false]",
    "[\"$regex \\\\u escape\", {\"n\": {\"$regex\": \"^\\\\u0041$\"}}, {\"n\": \"A\"}, true]",
    "[\"$regex \\\\x escape\", {\"n\": {\"$regex\": \"^\\\\x41$\"}}, {\"n\": \"A\"}, true]",
    "[\"$regex slash\", {\"n\": {\"$regex\": \"^a/b$\"}}, {\"n\": \"a/b\"}, true]",
    "[\"$regex dot on non-ascii\", {\"n\": {\"$regex\": \"^.$\"}}, {\"n\": \"\\u00e9\"}, true]",
    "[\"$regex \\\\d is ascii\", {\"n\": {\"$regex\": \"^\\\\d+$\"}}, {\"n\": \"\\u0663\"}, false]",
    "[\"$regex empty negated class\", {\"n\": {\"$regex\": \"^[^]$\"}}, {\"n\": \"x\"}, true]",
    "[\"$regex lookbehind sees before the start\", {\"n\": {\"$regex\": \"(?<=a)b\"}}, {\"n\": "
    "\"ab\"}, true]",
    "[\"$regex negative lookbehind\", {\"n\": {\"$regex\": \"(?<!a)b\"}}, {\"n\": \"ab\"}, false]",
    "[\"$regex caret only at the start\", {\"n\": {\"$regex\": \"^b\"}}, {\"n\": \"ab\"}, false]",
    "[\"$regex caret in one branch\", {\"n\": {\"$regex\": \"^a|c\"}}, {\"n\": \"bc\"}, true]",
    "[\"$regex anchored branches\", {\"n\": {\"$regex\": \"^a|^b\"}}, {\"n\": \"cb\"}, false]",
    "[\"$regex word boundary\", {\"n\": {\"$regex\": \"\\\\bb\"}}, {\"n\": \"a b\"}, true]",
    "[\"$regex no word boundary\", {\"n\": {\"$regex\": \"\\\\bb\"}}, {\"n\": \"ab\"}, false]",
    "[\"$regex dollar at the end\", {\"n\": {\"$regex\": \"b$\"}}, {\"n\": \"ab\"}, true]",
    "[\"$regex empty pattern\", {\"n\": {\"$regex\": \"\"}}, {\"n\": \"x\"}, true]",
    "[\"$regex match at the last position\", {\"n\": {\"$regex\": \"(iPhone|Android)$\"}}, "
    "{\"n\": \"Mozilla (Linux; Android\"}, true]",
    "[\"$regexi non-ascii\", {\"n\": {\"$regexi\": \"^\\u00e9$\"}}, {\"n\": \"\\u00c9\"}, true]",
    "[\"$size on missing\", {\"n\": {\"$size\": 0}}, {}, false]",
    "[\"$size string cond\", {\"n\": {\"$size\": \"2\"}}, {\"n\": [1, 2]}, true]",
    "[\"$size array cond\", {\"n\": {\"$size\": [2]}}, {\"n\": [1, 2]}, false]",
    "[\"$type number for real\", {\"n\": {\"$type\": \"number\"}}, {\"n\": 1.5}, true]",
    "[\"$type of missing is null\", {\"n\": {\"$type\": \"null\"}}, {}, true]",
    "[\"$type undefined never\", {\"n\": {\"$type\": \"undefined\"}}, {}, false]",
    "[\"$type non-string\", {\"n\": {\"$type\": 1}}, {\"n\": 1}, false]",
    "[\"$not with literal\", {\"n\": {\"$not\": 5}}, {\"n\": 4}, true]",
    "[\"$not nested twice\", {\"n\": {\"$not\": {\"$not\": {\"$gt\": 3}}}}, {\"n\": 4}, true]",
    "[\"$elemMatch tests falsy elements\", {\"n\": {\"$elemMatch\": {\"$exists\": true}}}, "
    "{\"n\": [0, \"\", false, null]}, true]",
    "[\"$elemMatch skips null\", {\"n\": {\"$elemMatch\": {\"$exists\": true}}}, {\"n\": [null]}, "
    "false]",
    "[\"$elemMatch skips null for $eq null\", {\"n\": {\"$elemMatch\": {\"$eq\": null}}}, {\"n\": "
    "[null]}, false]",
    "[\"$elemMatch zero element\", {\"n\": {\"$elemMatch\": {\"$eq\": 0}}}, {\"n\": [0]}, true]",
    "[\"$elemMatch empty string element\", {\"n\": {\"$elemMatch\": {\"$eq\": \"\"}}}, {\"n\": "
    "[\"\"]}, true]",
    "[\"$elemMatch false element\", {\"n\": {\"$elemMatch\": {\"$eq\": false}}}, {\"n\": "
    "[false]}, true]",
    "[\"$elemMatch $type of zero\", {\"n\": {\"$elemMatch\": {\"$type\": \"number\"}}}, {\"n\": "
    "[0]}, true]",
    "[\"$elemMatch $inGroup zero\", {\"n\": {\"$elemMatch\": {\"$inGroup\": \"g\"}}}, {\"n\": "
    "[0]}, true, {\"g\": [0]}]",
    "[\"$elemMatch $inGroup empty string\", {\"n\": {\"$elemMatch\": {\"$inGroup\": \"g\"}}}, "
    "{\"n\": [\"\"]}, true, {\"g\": [\"\"]}]",
    "[\"$elemMatch path of a zero element\", {\"n\": {\"$elemMatch\": {\"a\": null}}}, {\"n\": "
    "[0]}, true]",
    "[\"$elemMatch truthy\", {\"n\": {\"$elemMatch\": {\"$exists\": true}}}, {\"n\": [0, 1]}, "
    "true]",
    "[\"$elemMatch array condition\", {\"n\": {\"$elemMatch\": [\"x\"]}}, {\"n\": [[\"x\"]]}, "
    "true]",
    "[\"$elemMatch number condition\", {\"n\": {\"$elemMatch\": 5}}, {\"n\": [1]}, true]",
    "[\"$elemMatch primitive elements and paths\", {\"n\": {\"$elemMatch\": {\"a\": null}}}, "
    "{\"n\": [7]}, true]",
    "[\"dotted path into array index\", {\"a.1.b\": 2}, {\"a\": [{\"b\": 1}, {\"b\": 2}]}, true]",
    "[\"dotted path past array end\", {\"a.2.b\": {\"$exists\": false}}, {\"a\": [{\"b\": 1}, "
    "{\"b\": 2}]}, true]",
    "[\"non-canonical index\", {\"a.01\": {\"$exists\": false}}, {\"a\": [1, 2]}, true]",
    "[\"array length path\", {\"tags.length\": 2}, {\"tags\": [\"x\", \"y\"]}, true]",
    "[\"path through a string\", {\"s.length\": 3}, {\"s\": \"abc\"}, false]",
    "[\"empty path segment\", {\"a..b\": 1}, {\"a\": {\"\": {\"b\": 1}}}, true]",
    "[\"path through null\", {\"a.b\": null}, {\"a\": null}, true]",
    "[\"deep $and/$or\", {\"$and\": [{\"$or\": [{\"a\": 1}, {\"$and\": [{\"b\": 2}, {\"$or\": "
    "[{\"c\": 3}]}]}]}, {\"$nor\": [{\"d\": 4}]}]}, {\"b\": 2, \"c\": 3}, true]",
    "[\"$not of $or\", {\"$not\": {\"$or\": [{\"a\": 1}, {\"b\": 1}]}}, {\"a\": 2}, true]",
    "[\"$nor empty\", {\"$nor\": []}, {}, false]",
    "[\"$or with object value\", {\"$or\": {\"a\": 1}}, {}, true]",
    "[\"$and with number\", {\"$and\": 5}, {}, true]",
    "[\"keys after $or are evaluated\", {\"$or\": [{\"a\": 1}], \"b\": 1}, {\"a\": 1, \"b\": 2}, "
    "false]",
    "[\"object equality key order matters\", {\"o\": {\"a\": 1, \"b\": 2}}, {\"o\": {\"b\": 2, "
    "\"a\": 1}}, false]",
    "[\"object equality index keys sorted\", {\"o\": {\"1\": \"x\", \"0\": \"y\"}}, {\"o\": "
    "{\"0\": \"y\", \"1\": \"x\"}}, true]",
    "[\"object equality mixed keys\", {\"o\": {\"b\": 1, \"2\": 2, \"a\": 3}}, {\"o\": {\"2\": 2, "
    "\"b\": 1, \"a\": 3}}, true]",
    "[\"object equality nested\", {\"o\": {\"a\": [1, {\"b\": null}]}}, {\"o\": {\"a\": [1, "
    "{\"b\": null}]}}, true]",
    "[\"array equality real vs integer\", {\"o\": [1.0]}, {\"o\": [1]}, true]",
    "[\"array equality types\", {\"o\": [1]}, {\"o\": [\"1\"]}, false]",
    "[\"empty object cond\", {\"o\": {}}, {\"o\": {}}, true]",
    "[\"empty object cond vs missing\", {\"o\": {}}, {}, false]",
    "[\"operator-looking literal object\", {\"o\": {\"$eq\": 1, \"x\": 2}}, {\"o\": {\"$eq\": 1, "
    "\"x\": 2}}, true]",
    "[\"unknown operator with a valid one\", {\"n\": {\"$eq\": 1, \"$foo\": 1}}, {\"n\": 1}, "
    "false]",
    "[\"$inGroup without groups\", {\"id\": {\"$inGroup\": \"g\"}}, {\"id\": 1}, false]",
    "[\"$notInGroup without groups\", {\"id\": {\"$notInGroup\": \"g\"}}, {\"id\": 1}, true]",
    "[\"$inGroup with array attribute\", {\"ids\": {\"$inGroup\": \"g\"}}, {\"ids\": [9, 2]}, "
    "true, {\"g\": [1, 2]}]",
    "[\"$inGroup numeric group id\", {\"id\": {\"$inGroup\": 7}}, {\"id\": \"x\"}, true, {\"7\": "
    "[\"x\"]}]",
    "[\"$veq with number attribute\", {\"v\": {\"$veq\": \"1.2\"}}, {\"v\": 1.2}, true]",
    "[\"$vlt with missing attribute\", {\"v\": {\"$vlt\": \"0.0.1\"}}, {}, true]",
    "[\"$veq build after newline kept\", {\"v\": {\"$veq\": \"1.2.3\"}}, {\"v\": \"1.2.3+a\\nb\"}, "
    "false]",
    "[\"$veq build stripped\", {\"v\": {\"$veq\": \"1.2.3\"}}, {\"v\": \"1.2.3+a+b\"}, true]",
    "[\"$vgt only one leading v\", {\"v\": {\"$vgt\": \"1.0.0\"}}, {\"v\": \"vv2.0.0\"}, true]",
    "[\"$veq bool is 0\", {\"v\": {\"$veq\": \"0\"}}, {\"v\": true}, true]",
    "[\"$vgte long numeric parts\", {\"v\": {\"$vgte\": \"123456.0.0\"}}, {\"v\": \"99999.0.0\"}, "
    "true]",
};

/* Run one case array; returns true when the result is as expected. */
static bool run_case(const json_t *c)
{
    const json_t *cond = json_array_get(c, 1);
    const json_t *attrs = json_array_get(c, 2);
    bool want = json_is_true(json_array_get(c, 3));
    const json_t *groups = json_array_get(c, 4); /* NULL when absent */
    if (condition_eval(cond, attrs, groups) != want) {
        return false;
    }
    /* the compiled form (hash sets, precompiled regexes; the saved groups compiled to sets,
     * as the snapshot has them) must agree, also under a budget */
    struct condition *comp = condition_compile(cond);
    struct condition *sets = groups != NULL ? condition_compile_groups(groups, NULL) : NULL;
    assert_ptr_equal(condition_groups_object(sets), groups);
    struct condition_budget budget = {.left = CONDITION_BUDGET_DEFAULT};
    int m = condition_match(comp, attrs, sets, &budget);
    int u = condition_match(comp, attrs, sets, NULL);
    condition_free(comp);
    condition_free(sets);
    return m == (want ? 1 : 0) && u == m;
}

/* A saved group at its cap (100,000 values): as a set, $inGroup / $notInGroup cost a probe;
 * scanned, one comparison per value, every evaluation ran out of the default budget and
 * /assign answered 400 for every user (members, others, users without the attribute). One
 * compiled condition evaluated against two compiled versions of the groups answers for each
 * (two snapshots share an experiment's compiled targeting and differ in their groups). */
static void test_group_sets(void **state)
{
    (void)state;
    json_t *vals = json_array();
    for (int i = 0; i < 100000; i++) {
        char v[16];
        snprintf(v, sizeof(v), "u%d", i);
        json_array_append_new(vals, json_string(v));
    }
    json_array_append_new(vals, json_integer(7));
    json_array_append_new(vals, json_true());
    json_t *groups = json_pack("{s:o}", "big", vals);
    json_t *in = json_pack("{s:{s:s}}", "id", "$inGroup", "big");
    json_t *out = json_pack("{s:{s:s}}", "id", "$notInGroup", "big");
    struct condition *sets = condition_compile_groups(groups, NULL);
    struct condition *cin = condition_compile(in), *cout = condition_compile(out);
    static const char *const attrs[] = {"{\"id\":\"u99999\"}", "{\"id\":\"u100000\"}", "{\"id\":7}",
                                        "{\"id\":true}",       "{\"id\":false}",       "{}"};
    static const int member[] = {1, 0, 1, 1, 0, 0};
    /* the next version of the groups: "big" holds u100000 and no longer u99999 */
    json_t *vals2 = json_deep_copy(vals);
    json_array_set_new(vals2, 99999, json_string("u100000"));
    json_t *groups2 = json_pack("{s:o}", "big", vals2);
    struct condition *sets2 = condition_compile_groups(groups2, sets);
    static const int member2[] = {0, 1, 1, 1, 0, 0};
    for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
        json_t *a = json_loads(attrs[i], 0, NULL);
        struct condition_budget b = {.left = CONDITION_BUDGET_DEFAULT};
        assert_int_equal(condition_match(cin, a, sets, &b), member[i]);
        assert_int_equal(condition_match(cout, a, sets, &b), !member[i]);
        assert_int_equal(condition_match(cin, a, sets2, &b), member2[i]);
        assert_int_equal(condition_match(cout, a, sets2, &b), !member2[i]);
        assert_true(b.left > CONDITION_BUDGET_DEFAULT - 200);
        assert_int_equal(condition_eval(in, a, groups), member[i]);
        assert_int_equal(condition_eval(in, a, groups2), member2[i]);
        /* no groups: $inGroup sees none */
        assert_int_equal(condition_match(cin, a, NULL, &b), 0);
        assert_int_equal(condition_match(cout, a, NULL, &b), 1);
        json_decref(a);
    }
    condition_free(cin);
    condition_free(cout);
    condition_free(sets);
    condition_free(sets2);
    json_decref(in);
    json_decref(out);
    json_decref(groups);
    json_decref(groups2);
}

static void test_conformance(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *root = json_load_file(CONFORMANCE_CASES, 0, &jerr);
    if (root == NULL) {
        fail_msg("conformance cases not found at %s (vendored: run the tests from the "
                 "repository root)",
                 CONFORMANCE_CASES);
    }
    json_t *cases = json_object_get(root, "evalCondition");
    assert_true(json_array_size(cases) > 200);
    size_t i, failed = 0;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        if (!run_case(c)) {
            print_message("evalCondition case failed: %s\n",
                          json_string_value(json_array_get(c, 0)));
            failed++;
        }
    }
    print_message("evalCondition: %zu of %zu conformance cases pass\n",
                  json_array_size(cases) - failed, json_array_size(cases));
    json_decref(root);
    assert_int_equal(failed, 0);
}

static void test_own_cases(void **state)
{
    (void)state;
    size_t failed = 0;
    for (size_t i = 0; i < sizeof(own_cases) / sizeof(own_cases[0]); i++) {
        json_error_t jerr;
        json_t *c = json_loads(own_cases[i], 0, &jerr);
        if (c == NULL) {
            fail_msg("case %zu does not parse: %s", i, jerr.text);
        }
        if (!run_case(c)) {
            print_message("own case failed: %s\n", json_string_value(json_array_get(c, 0)));
            failed++;
        }
        json_decref(c);
    }
    assert_int_equal(failed, 0);
}

/* $regex / $regexi as the SDK's new RegExp(pattern[, "i"]) matches, no "u" flag: "." and \s
 * as JavaScript has them, UTF-16 code units, PCRE-only syntax read as JavaScript reads it (a
 * letter, or a SyntaxError that matches nobody), case folding by Canonicalize (no ß/ẞ, Kelvin
 * or long s). Expected values recorded from the SDK by tests/sdk/gen_regex_cases.mjs; PCRE2
 * with UTF answered 61 of them otherwise ("." matched "\r", \s missed U+00A0, "^.$" matched
 * an emoji, \Z was the end, (?i) was a flag, $regexi folded "k" with the Kelvin sign). */
static void test_js_regex_cases(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *cases = json_load_file(REGEX_CASES, 0, &jerr);
    if (cases == NULL) {
        fail_msg("%s: %s (run the tests from the repository root)", REGEX_CASES, jerr.text);
    }
    assert_true(json_array_size(cases) > 100);
    size_t i, failed = 0;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        if (!run_case(c)) {
            print_message("regex case failed: %s\n", json_string_value(json_array_get(c, 0)));
            failed++;
        }
    }
    json_decref(cases);
    assert_int_equal(failed, 0);
}

/* Where JavaScript would throw, the condition does not match. */
static void test_malformed(void **state)
{
    (void)state;
    json_t *attrs = json_pack("{s:i, s:[i]}", "a", 1, "n", 1);
    json_t *c;
    assert_false(condition_eval(json_null(), attrs, NULL));
    c = json_string("a");
    assert_false(condition_eval(c, attrs, NULL));
    json_decref(c);
    c = json_pack("{s:n}", "$or");
    assert_false(condition_eval(c, attrs, NULL));
    json_decref(c);
    c = json_pack("{s:n}", "$not"); /* !evalCondition(null) would throw, not pass */
    assert_false(condition_eval(c, attrs, NULL));
    json_decref(c);
    c = json_pack("{s:{s:n}}", "n", "$elemMatch");
    assert_false(condition_eval(c, attrs, NULL));
    json_decref(c);
    c = json_pack("{s:i}", "a", 1);
    assert_true(condition_eval(c, attrs, NULL));
    assert_false(condition_eval(c, NULL, NULL)); /* no attributes: a is null */
    json_decref(c);
    c = json_pack("{s:{s:b}}", "a", "$exists", 0);
    assert_true(condition_eval(c, NULL, NULL));
    json_decref(c);
    c = json_pack("{s:{s:s}}", "a", "$regex", "(unclosed");
    assert_false(condition_eval(c, attrs, NULL));
    json_decref(c);
    /* catastrophic backtracking is cut off by the match limit, not the clock */
    c = json_pack("{s:{s:s}}", "s", "$regex", "^(a+)+$");
    json_t *s = json_pack("{s:s}", "s", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab");
    assert_false(condition_eval(c, s, NULL));
    json_decref(s);
    json_decref(c);
    json_decref(attrs);
}

/* {"$not": {"$not": ... {"a": 1}}} with n $not levels */
static json_t *not_chain(int n)
{
    json_t *c = json_pack("{s:i}", "a", 1);
    for (int i = 0; i < n; i++) {
        c = json_pack("{s:o}", "$not", c);
    }
    return c;
}

static void test_depth_cap(void **state)
{
    (void)state;
    json_t *attrs = json_pack("{s:i}", "a", 1);
    json_t *c = not_chain(10);
    assert_true(condition_eval(c, attrs, NULL));
    json_decref(c);
    /* 62 $not + the path object + its value = 64 levels: still evaluated */
    c = not_chain(CONDITION_MAX_DEPTH - 2);
    assert_true(condition_eval(c, attrs, NULL));
    json_decref(c);
    /* one deeper: no match, although an even chain would be true in JavaScript */
    c = not_chain(CONDITION_MAX_DEPTH);
    assert_false(condition_eval(c, attrs, NULL));
    json_decref(c);
    c = not_chain(100000);
    assert_false(condition_eval(c, attrs, NULL));
    json_decref(c);

    /* deep $and / $elemMatch nesting */
    c = json_pack("{s:i}", "a", 1);
    for (int i = 0; i < 5000; i++) {
        c = json_pack("{s:[o]}", "$and", c);
    }
    assert_false(condition_eval(c, attrs, NULL));
    json_decref(c);

    /* deep values: literal equality and array joins stop at the cap */
    json_t *deep = json_array();
    for (int i = 0; i < 1000; i++) {
        deep = json_pack("[o]", deep);
    }
    json_t *deep_attrs = json_pack("{s:O}", "x", deep);
    c = json_pack("{s:O}", "x", deep);
    assert_false(condition_eval(c, deep_attrs, NULL));
    json_decref(c);
    c = json_pack("{s:s}", "x", "");
    assert_false(condition_eval(c, deep_attrs, NULL));
    json_decref(c);
    json_decref(deep_attrs);
    json_decref(deep);

    /* shallow values still compare */
    json_t *shallow = json_loads("[[[[1]]]]", 0, NULL);
    json_t *sh_attrs = json_pack("{s:O}", "x", shallow);
    c = json_pack("{s:O}", "x", shallow);
    assert_true(condition_eval(c, sh_attrs, NULL));
    json_decref(c);
    c = json_pack("{s:s}", "x", "1");
    assert_true(condition_eval(c, sh_attrs, NULL));
    json_decref(c);
    json_decref(sh_attrs);
    json_decref(shallow);
    json_decref(attrs);
}

/* Keys with embedded NUL bytes are compared by length, not as C strings. */
static void test_embedded_nul(void **state)
{
    (void)state;
    json_t *attrs = json_pack("{s:i}", "n", 1);
    json_object_setn_new(attrs, "k\0", 2, json_stringn("a\0b", 3));
    json_t *ops = json_object();
    json_object_setn_new(ops, "$eq\0x", 5, json_integer(1));
    json_t *c = json_pack("{s:o}", "n", ops);
    assert_false(condition_eval(c, attrs, NULL)); /* unknown operator "$eq\0x" */
    json_decref(c);
    c = json_object();
    json_object_setn_new(c, "k\0", 2, json_stringn("a\0b", 3));
    assert_true(condition_eval(c, attrs, NULL));
    json_decref(c);
    c = json_pack("{s:s}", "k", "a");
    assert_false(condition_eval(c, attrs, NULL));
    json_decref(c);
    json_decref(attrs);
}

/* The compiled form: sets keep === semantics across types, $ini keeps toLowerCase()
 * equality (also across non-ASCII case folding), budgets run out with -1. */
static void test_compiled_sets(void **state)
{
    (void)state;
    json_t *c =
        json_loads("{\"v\": {\"$in\": [1, -0, \"1\", true, null, \"Ab\", [1], {}]}}", 0, NULL);
    struct condition *cc = condition_compile(c);
    const char *yes[] = {"{\"v\": 1}",    "{\"v\": 1.0}", "{\"v\": 0}",          "{\"v\": \"1\"}",
                         "{\"v\": true}", "{}",           "{\"v\": [7, \"Ab\"]}"};
    const char *no[] = {"{\"v\": 2}",     "{\"v\": false}",    "{\"v\": \"ab\"}",
                        "{\"v\": [1.5]}", "{\"v\": \"true\"}", "{\"v\": {}}"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        json_t *a = json_loads(yes[i], 0, NULL);
        assert_int_equal(condition_match(cc, a, NULL, NULL), 1);
        assert_true(condition_eval(c, a, NULL));
        json_decref(a);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        json_t *a = json_loads(no[i], 0, NULL);
        assert_int_equal(condition_match(cc, a, NULL, NULL), 0);
        assert_false(condition_eval(c, a, NULL));
        json_decref(a);
    }
    condition_free(cc);
    json_decref(c);
    /* $ini: ASCII folding through the set, non-ASCII one by one (KELVIN SIGN folds to k) */
    c = json_loads("{\"v\": {\"$ini\": [\"HeLLo\", \"\u212a\", \"\u00c9t\u00c9\"]}}", 0, NULL);
    cc = condition_compile(c);
    const char *ci[] = {"{\"v\": \"hello\"}", "{\"v\": \"k\"}", "{\"v\": \"\u00e9t\u00e9\"}"};
    for (size_t i = 0; i < 3; i++) {
        json_t *a = json_loads(ci[i], 0, NULL);
        assert_int_equal(condition_match(cc, a, NULL, NULL), condition_eval(c, a, NULL) ? 1 : 0);
        assert_int_equal(condition_match(cc, a, NULL, NULL), 1);
        json_decref(a);
    }
    condition_free(cc);
    json_decref(c);
    assert_int_equal(condition_match(NULL, NULL, NULL, NULL), 1); /* no targeting */
}

static void test_budget(void **state)
{
    (void)state;
    json_t *c = json_loads("{\"tags\": {\"$elemMatch\": {\"$regex\": \"^(a+)+$\"}}}", 0, NULL);
    json_t *tags = json_array();
    for (int i = 0; i < 300; i++) {
        json_array_append_new(tags, json_string("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"));
    }
    json_t *a = json_pack("{s:o}", "tags", tags);
    struct condition *cc = condition_compile(c);
    struct condition_budget b = {.left = CONDITION_BUDGET_DEFAULT};
    assert_int_equal(condition_match(cc, a, NULL, &b), -1);
    assert_true(b.left < 0);
    /* a budget is shared: a second evaluation on a spent budget fails at once */
    json_t *one = json_pack("{s:[s]}", "tags", "aaa");
    assert_int_equal(condition_match(cc, one, NULL, &b), -1);
    struct condition_budget fresh = {.left = CONDITION_BUDGET_DEFAULT};
    assert_int_equal(condition_match(cc, one, NULL, &fresh), 1);
    assert_true(fresh.left > CONDITION_BUDGET_DEFAULT - 100);
    condition_free(cc);
    json_decref(one);
    json_decref(a);
    json_decref(c);
}

/* {"$or": [{attr: {"$regex": pattern}} x n]}, the i-th pattern wrapped in i groups "(?:...)":
 * n distinct patterns that do the same work (an answer for one compiled pattern and one
 * subject is remembered for the rest of the request, so n identical ones cost one) */
static json_t *regex_or(const char *attr, const char *pattern, int n)
{
    json_t *list = json_array();
    size_t pl = strlen(pattern);
    char *p = malloc(pl + 5 * (size_t)n + 1);
    for (int i = 0; i < n; i++) {
        size_t k = 0;
        for (int g = 0; g < i; g++, k += 3) {
            memcpy(p + k, "(?:", 3);
        }
        memcpy(p + k, pattern, pl);
        k += pl;
        for (int g = 0; g < i; g++) {
            p[k++] = ')';
        }
        p[k] = '\0';
        json_array_append_new(list, json_pack("{s:{s:s}}", attr, "$regex", p));
    }
    free(p);
    return json_pack("{s:o}", "$or", list);
}

/* {attr: n bytes of fill, then tail} */
static json_t *long_attr(const char *attr, size_t n, const char *fill, const char *tail)
{
    size_t fl = strlen(fill), tl = strlen(tail);
    char *v = malloc(n + tl + 1);
    for (size_t i = 0; i < n; i++) {
        v[i] = fill[i % fl];
    }
    memcpy(v + n, tail, tl + 1);
    json_t *a = json_pack("{s:s}", attr, v);
    free(v);
    return a;
}

/* One condition evaluated under a fresh default budget: its answer and the steps it used. */
static int match_used(const json_t *cond, const json_t *attrs, long *used)
{
    struct condition *cc = condition_compile(cond);
    struct condition_budget b = {.left = CONDITION_BUDGET_DEFAULT};
    int m = condition_match(cc, attrs, NULL, &b);
    condition_free(cc);
    *used = CONDITION_BUDGET_DEFAULT - b.left;
    return m;
}

/* A regex's work is bounded over the whole subject, not per start position: PCRE2's match
 * limit started again at every position, so (?:a|a){1,12}c stayed under it at each of the
 * 4,096 positions of "aaa...abc" (~100 ms a condition with the JIT) and was charged 257 steps
 * for its 16-byte subject slices; 150 such clauses took 15 s and the budget never ran out.
 * Now each clause pays for the PCRE2 steps it takes (checked by steps, not time). */
static void test_regex_whole_subject(void **state)
{
    (void)state;
    json_t *ua = long_attr("ua", 4094, "a", "bc");
    /* one clause: the per-operation limit stops it (no match), and it pays for reaching it */
    json_t *one = regex_or("ua", "(?:a|a){1,12}c", 1);
    long used = 0;
    assert_int_equal(match_used(one, ua, &used), 0);
    assert_true(used >= 1500); /* 26,384 PCRE2 steps at 4 a budget step (was 257) */
    assert_false(condition_eval(one, ua, NULL));
    /* 20 clauses: more work than a request's budget pays for */
    json_t *many = regex_or("ua", "(?:a|a){1,12}c", 20);
    assert_int_equal(match_used(many, ua, &used), -1);
    /* a budget nearly spent stops the first clause */
    struct condition *cc = condition_compile(one);
    struct condition_budget low = {.left = 300};
    assert_int_equal(condition_match(cc, ua, NULL, &low), -1);
    condition_free(cc);
    /* reading the subject from every position inside a lookahead (no counted step) */
    json_t *digits = long_attr("d", 4096, "1,", "");
    json_t *look = regex_or("d", "(?![\\d,]*)", 20);
    assert_int_equal(match_used(look, digits, &used), -1);
    /* a fixed repeat reads 2,048 characters at each position without a counted step */
    json_t *wide = regex_or("d", "[\\d,]{2048}(?:x|y)", 20);
    assert_int_equal(match_used(wide, digits, &used), -1);
    /* a repeat of one character class gives its characters back one at a time from every
     * start position: quadratic work that PCRE2's JIT did not count (8-11 ms on this 4 KB
     * near miss, charged 520 steps); interpreted, every step is counted and paid for */
    json_t *mail = long_attr("email", 4090, "a", "@corp.com!");
    json_t *near = regex_or("email", "[\\w.+-]+@corp\\.com$", 1);
    int m = match_used(near, mail, &used);
    assert_true(m == -1 || (m == 0 && used >= 5000));
    json_t *near20 = regex_or("email", "[\\w.+-]+@corp\\.com$", 20);
    assert_int_equal(match_used(near20, mail, &used), -1);
    json_decref(near20);
    json_decref(near);
    json_decref(mail);
    /* an ordinary pattern on a long subject: matches at the end, well within the budget */
    json_t *end = long_attr("ua", 4000, "Mozilla ", "Android 14");
    json_t *plain = regex_or("ua", "(iPhone|Android) 1[0-9]", 1);
    assert_int_equal(match_used(plain, end, &used), 1);
    assert_true(used < 8000); /* ~16,000 interpreted steps (~0.1 ms) and the runs before */
    json_t *anch = regex_or("ua", "^Mozilla", 1);
    assert_int_equal(match_used(anch, end, &used), 1);
    assert_true(used < 40); /* one anchored attempt */
    json_decref(anch);
    json_decref(plain);
    json_decref(end);
    json_decref(wide);
    json_decref(look);
    json_decref(digits);
    json_decref(many);
    json_decref(one);
    json_decref(ua);
}

/* Costs a regex is charged for what it does (review helper-50):
 * - a greedy run that gives its characters back from every start position is quadratic but
 *   cheap: \d+x on 150 digits and y1x matches, as in JavaScript (the linear per-operation
 *   limit answered "no match");
 * - digits that are not repeat counts ("^US,94105": literal text) and counts beyond the
 *   subject's length (x{0,65535} on "ab") are not charged as widths: such a pattern used up
 *   the whole budget on short values, a 400 for every /assign;
 * - capture groups make each PCRE2 step copy a bigger frame: 2,000 groups made one request
 *   hold ~400 MB; each step is charged for them, and the frames' heap is limited. */
static void test_regex_costs(void **state)
{
    (void)state;
    long used = 0;
    json_t *digits = long_attr("s", 150, "1", "y1x");
    json_t *dx = regex_or("s", "\\d+x", 1);
    assert_int_equal(match_used(dx, digits, &used), 1);
    json_t *amp = long_attr("s", 200, "a", "&b=ok");
    json_t *wok = regex_or("s", "\\w+=ok", 1);
    assert_int_equal(match_used(wok, amp, &used), 1);
    json_t *de = json_pack("{s:s}", "s", "DE,10115");
    json_t *us = regex_or("s", "^US,94105", 1);
    assert_int_equal(match_used(us, de, &used), 0);
    assert_true(used < 200);
    json_t *ab = json_pack("{s:s}", "s", "ab");
    json_t *wide = regex_or("s", "x{0,65535}", 1);
    assert_int_equal(match_used(wide, ab, &used), 1);
    assert_true(used < 200);
    json_t *missing = json_object(); /* compared as "undefined" */
    assert_int_equal(match_used(us, missing, &used), 0);
    assert_true(used < 200);
    /* one costly regex spends at most half of the budget left, its runs together (they were
     * bounded one by one: 72-95% of it, and three experiments with (\w+\s?)+$ made every
     * /assign of an Instagram user agent a 400); three still leave room */
    json_t *ua = long_attr("ua", 270, "Mozilla/5.0 (iPhone; CPU OS 14_0 like Mac OS X) ", "");
    json_t *one = regex_or("ua", "(\\w+\\s?)+$", 1);
    assert_true(match_used(one, ua, &used) >= 0);
    assert_true(used <= CONDITION_BUDGET_DEFAULT / 2 + 100);
    json_t *three = regex_or("ua", "(\\w+\\s?)+$", 3);
    assert_true(match_used(three, ua, &used) >= 0);
    json_t *as4k = long_attr("ua", 4094, "a", "bc");
    json_t *two = regex_or("ua", "(?:a|a){1,12}c", 2);
    assert_int_equal(match_used(two, as4k, &used), 0);
    json_decref(two);
    json_decref(as4k);
    json_decref(three);
    json_decref(one);
    json_decref(ua);
    /* a class of 20,000 characters outside Latin-1 (a list PCRE2 walks per unit) read
     * greedily to a match gives nothing back: ~13 ms for 1,365 units of its last member,
     * charged 3,763 steps; each run now pays the read by the pattern's length */
    char *cls = malloc(20000 * 3 + 16);
    size_t cl = 0;
    cls[cl++] = '^';
    cls[cl++] = '[';
    for (unsigned c = 0x800; c < 0x800 + 2 * 20000; c += 2) {
        cls[cl++] = (char)(0xe0 | (c >> 12));
        cls[cl++] = (char)(0x80 | ((c >> 6) & 0x3f));
        cls[cl++] = (char)(0x80 | (c & 0x3f));
    }
    memcpy(cls + cl, "]*$", 4);
    char last[4] = {(char)(0xe0 | (0xa63e >> 12)), (char)(0x80 | ((0xa63e >> 6) & 0x3f)),
                    (char)(0x80 | (0xa63e & 0x3f)), 0};
    json_t *big = regex_or("s", cls, 1);
    json_t *lastchars = long_attr("s", 1365 * 3, last, "");
    assert_int_equal(match_used(big, lastchars, &used), -1);
    json_decref(lastchars);
    json_decref(big);
    free(cls);
    char *groups = malloc(2000 * 2 + 16);
    for (int i = 0; i < 2000; i++) {
        memcpy(groups + 2 * i, "()", 2);
    }
    strcpy(groups + 4000, "(?:a|b)*c");
    json_t *many = regex_or("s", groups, 1);
    json_t *as = long_attr("s", 4000, "a", "");
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    assert_int_equal(match_used(many, as, &used), -1);
    getrusage(RUSAGE_SELF, &ru1);
    /* peak resident growth in KiB: bounded by the heap limit (it was ~400 MB) */
    assert_true(ru1.ru_maxrss - ru0.ru_maxrss < 100 * 1024);
    free(groups);
    json_decref(as);
    json_decref(many);
    json_decref(missing);
    json_decref(wide);
    json_decref(ab);
    json_decref(us);
    json_decref(de);
    json_decref(wok);
    json_decref(amp);
    json_decref(dx);
    json_decref(digits);
}

/* Identical regex conditions in one request (rev-sdk findings 1 and 2): six experiments
 * targeting {"s": {"$regex": "\\d+x"}} and s = 200 digits then " 1x" (~15,000 steps each):
 * each spent the budget again, so the third and later ones, under the per-operation cap of
 * half the budget left, did "not match" where JavaScript matches, and ten experiments with one
 * URL pattern made the request a 400. The answer for a (compiled pattern, subject) pair is
 * remembered by the request's budget: all six match, for about the cost of one. */
static void test_regex_memo(void **state)
{
    (void)state;
    json_t *digits = long_attr("s", 200, "1", " 1x");
    json_t *cond = json_pack("{s:{s:s}}", "s", "$regex", "\\d+x");
    struct condition *cc[6];
    for (int i = 0; i < 6; i++) {
        cc[i] = condition_compile(cond); /* one experiment each */
    }
    struct condition_budget b = {.left = CONDITION_BUDGET_DEFAULT};
    for (int i = 0; i < 6; i++) {
        if (condition_match(cc[i], digits, NULL, &b) != 1) {
            fail_msg("experiment %d of 6: no match, %ld steps left", i + 1, b.left);
        }
    }
    long one = 0;
    assert_int_equal(match_used(cond, digits, &one), 1);
    if (CONDITION_BUDGET_DEFAULT - b.left > one + 50) {
        fail_msg("six cost %ld steps, one %ld", CONDITION_BUDGET_DEFAULT - b.left, one);
    }
    /* the same pattern on another value is work of its own, and answers for it */
    json_t *other = json_pack("{s:s}", "s", "no digits here");
    assert_int_equal(condition_match(cc[0], other, NULL, &b), 0);
    assert_int_equal(condition_match(cc[1], digits, NULL, &b), 1);
    /* more distinct values than the memo holds (all alive: a value freed and another
     * allocated at its address is told apart by its hash): the oldest answers are worked
     * out again */
    char v[32];
    json_t *values = json_array();
    for (int i = 0; i < 3 * CONDITION_REGEX_MEMO; i++) {
        snprintf(v, sizeof(v), "%dx", i);
        json_t *a = json_pack("{s:s}", "s", v);
        json_array_append_new(values, a);
        struct condition_budget fresh = {.left = CONDITION_BUDGET_DEFAULT};
        assert_int_equal(condition_match(cc[i % 6], a, NULL, &fresh), 1);
        assert_int_equal(condition_match(cc[(i + 1) % 6], a, NULL, &b), 1);
        /* a freed value's address holding another text */
        json_t *t = json_pack("{s:s}", "s", i % 2 ? "nop" : "1x!");
        assert_int_equal(condition_match(cc[0], t, NULL, &b), i % 2 ? 0 : 1);
        json_decref(t);
    }
    json_decref(values);
    long before = b.left;
    assert_true(condition_match(cc[2], digits, NULL, &b) >= 0);
    assert_true(before - b.left > 100);
    for (int i = 0; i < 6; i++) {
        condition_free(cc[i]);
    }
    json_decref(other);
    json_decref(cond);
    json_decref(digits);
}

/* {"city": [n strings of k "é"] + tail} */
static json_t *accents(int n, int k, const char *tail)
{
    char *v = malloc((size_t)k * 2 + 1);
    for (int i = 0; i < k; i++) {
        memcpy(v + 2 * i, "\xc3\xa9", 2);
    }
    v[2 * k] = '\0';
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(arr, json_string(v));
    }
    if (tail != NULL) {
        json_array_append_new(arr, json_string(tail));
    }
    free(v);
    return json_pack("{s:o}", "city", arr);
}

/* The insensitive operators fold case once and pay by the bytes folded; version operators pay
 * by the bytes padded. $ini compared a non-ASCII attribute with every non-ASCII list value
 * by compiling it as a PCRE2 pattern (1 step each, ~68 us for 4 KB: 15 strings of 2,040 "é"
 * against 1,000 "Zürich<n>" took 0.98 s); a version string cost 1 step at any length (1,800
 * clauses against a 4 KB version: 0.30 s). Checked by steps. */
static void test_fold_and_version_charges(void **state)
{
    (void)state;
    json_t *list = json_array();
    for (int i = 0; i < 1000; i++) {
        json_array_append_new(list, json_sprintf("Z\xc3\xbcrich%d", i));
    }
    json_t *ini = json_pack("{s:{s:o}}", "city", "$ini", list);
    json_t *lng = accents(15, 2040, NULL), *shrt = accents(15, 2, NULL);
    long used_long = 0, used_short = 0;
    assert_int_equal(match_used(ini, lng, &used_long), 0);
    assert_int_equal(match_used(ini, shrt, &used_short), 0);
    assert_true(used_short < 100);               /* one probe each, not 1,000 comparisons */
    assert_true(used_long - used_short >= 3000); /* 15 x 4,080 bytes folded, 16 a step */
    json_t *hit = json_pack("{s:s}", "city", "Z\xc3\x9cRICH999");
    assert_int_equal(match_used(ini, hit, &used_short), 1);
    /* $alli: each element folded once for the whole operation */
    json_t *alli = json_pack("{s:{s:[s,s]}}", "city", "$alli", "X", "x");
    json_t *tail = accents(15, 2040, "x");
    assert_int_equal(match_used(alli, tail, &used_long), 1);
    assert_true(used_long >= 15 * 4080 / 16 && used_long < 2 * 15 * 4080 / 16);
    /* a version operator pays for the bytes it pads */
    char *v = malloc(4097);
    for (int i = 0; i < 4096; i++) {
        v[i] = i % 2 ? '.' : '2';
    }
    v[4095] = '2';
    v[4096] = '\0';
    json_t *ver = json_pack("{s:s}", "v", v);
    json_t *one = json_pack("{s:{s:s}}", "v", "$vgt", "1.2.3");
    assert_int_equal(match_used(one, ver, &used_long), 1);
    assert_true(used_long >= 500);
    json_t *clauses = json_array();
    for (int i = 0; i < 1800; i++) {
        json_array_append_new(clauses, json_incref(one));
    }
    json_t *and = json_pack("{s:o}", "$and", clauses);
    assert_int_equal(match_used(and, ver, &used_long), -1);
    json_decref(and);
    json_decref(one);
    json_decref(ver);
    free(v);
    json_decref(tail);
    json_decref(alli);
    json_decref(hit);
    json_decref(shrt);
    json_decref(lng);
    json_decref(ini);
}

static void test_attribute_caps(void **state)
{
    (void)state;
    struct condition_limits lim = {1000, 3, 4, 10};
    struct err err;
    json_t *a = json_loads("{\"a\": [1, 2, 3, 4], \"b\": {\"c\": \"0123456789\"}}", 0, NULL);
    assert_int_equal(condition_check_attributes(a, &lim, "attributes", &err), 0);
    json_decref(a);
    a = json_loads("{\"a\": [1, 2, 3, 4, 5]}", 0, NULL);
    assert_int_equal(condition_check_attributes(a, &lim, "attributes", &err), -1);
    assert_int_equal(err.code, ERR_INVALID);
    assert_string_equal(err.field, "attributes.a");
    json_decref(a);
    a = json_loads("{\"b\": [{\"c\": \"0123456789x\"}]}", 0, NULL);
    assert_int_equal(condition_check_attributes(a, &lim, "attributes", &err), -1);
    assert_string_equal(err.field, "attributes.b[0].c");
    json_decref(a);
    a = json_loads("{\"b\": {\"c\": {\"d\": {}}}}", 0, NULL);
    assert_int_equal(condition_check_attributes(a, &lim, "attributes", &err), -1);
    assert_string_equal(err.field, "attributes.b.c.d");
    json_decref(a);
    a = json_object();
    for (int i = 0; i < 200; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        json_object_set_new(a, k, json_string("0123456789"));
    }
    assert_int_equal(condition_check_attributes(a, &lim, "attributes", &err), -1);
    assert_int_equal(err.code, ERR_TOO_LARGE);
    assert_string_equal(err.field, "attributes");
    json_decref(a);
    assert_int_equal(condition_check_attributes(NULL, &lim, "attributes", &err), 0);
}

/* A pattern compiled while a compiled copy of it is alive is shared, not compiled again: a
 * reload of the definitions (every catalogue write) compiled every experiment's patterns,
 * 800 each in a review's 100 archived experiments, ~0.9 s that every write and the ingestion
 * behind it waited. Shared code matches as its own did; the last holder frees it. */
static void test_regex_cache(void **state)
{
    (void)state;
    json_t *cond =
        json_pack("{s:{s:s}, s:{s:s}, s:{s:s}}", "ua", "$regex", "^Mozilla/[0-9]+ cache", "email",
                  "$regex", "@corp\\.example$", "name", "$regexi", "^ADA cache");
    size_t live0 = cond_regex_cache_live();
    uint64_t compiles0 = cond_regex_cache_compiles();
    struct condition *a = condition_compile(cond);
    assert_int_equal(cond_regex_cache_compiles() - compiles0, 3);
    assert_int_equal(cond_regex_cache_live() - live0, 3);
    json_t *copy = json_deep_copy(cond); /* as a reload parses the stored text again */
    struct condition *b = condition_compile(copy);
    assert_int_equal(cond_regex_cache_compiles() - compiles0, 3); /* nothing compiled */
    assert_int_equal(cond_regex_cache_live() - live0, 3);
    json_t *yes = json_pack("{s:s, s:s, s:s}", "ua", "Mozilla/5 cache", "email", "a@corp.example",
                            "name", "ada cache");
    json_t *no = json_pack("{s:s, s:s, s:s}", "ua", "Mozilla/5 cache", "email", "a@corpXexample",
                           "name", "ada cache");
    condition_free(a); /* b still holds the patterns */
    assert_int_equal(cond_regex_cache_live() - live0, 3);
    assert_int_equal(condition_match(b, yes, NULL, NULL), 1);
    assert_int_equal(condition_match(b, no, NULL, NULL), 0);
    /* the same text, case-insensitive or not, is two patterns */
    json_t *ci = json_pack("{s:{s:s}}", "ua", "$regexi", "^Mozilla/[0-9]+ cache");
    struct condition *c = condition_compile(ci);
    assert_int_equal(cond_regex_cache_compiles() - compiles0, 4);
    json_t *upper = json_pack("{s:s}", "ua", "MOZILLA/5 CACHE");
    assert_int_equal(condition_match(c, upper, NULL, NULL), 1);
    condition_free(c);
    condition_free(b);
    assert_int_equal(cond_regex_cache_live(), live0); /* the last holders freed them */
    /* compiled again once nobody holds them */
    b = condition_compile(copy);
    assert_int_equal(cond_regex_cache_compiles() - compiles0, 7);
    condition_free(b);
    /* a refused pattern is refused each time, never cached */
    json_t *bad = json_pack("{s:{s:s}}", "ua", "$regex", "(unclosed");
    struct condition *d = condition_compile(bad);
    assert_int_equal(condition_match(d, yes, NULL, NULL), 0);
    assert_int_equal(cond_regex_cache_live(), live0);
    condition_free(d);
    json_decref(bad);
    json_decref(upper);
    json_decref(ci);
    json_decref(yes);
    json_decref(no);
    json_decref(copy);
    json_decref(cond);
}

/* Operands of one shape: right ones condition_check_operands accepts, wrong ones it refuses
 * (NULL ends a list). A new operand kind has no case in samples_of and does not compile. */
struct operand_samples {
    const char *good[6];
    const char *bad[5];
};

static const struct operand_samples *samples_of(enum cond_operand kind)
{
    static const struct operand_samples any = {{"1", "\"x\"", "[1]", "{\"a\": 1}", "null", NULL},
                                               {NULL}};
    static const struct operand_samples list = {{"[]", "[1, \"a\", {\"$regex\": \"(\"}]", NULL},
                                                {"\"NL\"", "{\"a\": 1}", "1", "null", NULL}};
    static const struct operand_samples value_list = {
        {"[]", "[1, \"a\", {\"$regex\": \"^a\"}, {\"$gt\": 1}]", NULL},
        {"\"NL\"", "{\"$gt\": 1}", "[{\"$regex\": \"(\"}]", "[{\"$in\": \"x\"}]", NULL}};
    static const struct operand_samples value = {
        {"1", "\"x\"", "{\"$gt\": 1}", "{\"a\": {\"$in\": \"x\"}}", NULL},
        {"{\"$regex\": \"(\"}", "{\"$in\": \"x\"}", "{\"$not\": {\"$type\": 1}}", NULL}};
    static const struct operand_samples cond = {
        {"{}", "{\"a\": 1}", "{\"$or\": [{\"a\": {\"$in\": [1]}}]}", NULL},
        {"1", "[{\"a\": 1}]", "\"x\"", "{\"a\": {\"$in\": \"x\"}}", NULL}};
    static const struct operand_samples cond_list = {
        {"[]", "[{\"a\": 1}, {\"$not\": {\"b\": 2}}]", NULL},
        {"{\"a\": 1}", "[1]", "[[{\"a\": 1}]]", "[{\"a\": {\"$regex\": 1}}]", NULL}};
    static const struct operand_samples match = {
        {"{\"$gt\": 1}", "{\"a\": 1}", "{}", NULL},
        {"1", "[{\"a\": 1}]", "{\"$regex\": \"(\"}", "{\"a\": {\"$size\": [1]}}", NULL}};
    static const struct operand_samples size = {
        {"3", "\"3\"", "true", "{\"$gt\": 1}", NULL},
        {"[1]", "{\"a\": 1}", "null", "{\"$in\": 3}", NULL}};
    static const struct operand_samples type = {
        {"\"string\"", "\"number\"", "\"boolean\"", "\"array\"", "\"object\"", "\"null\""},
        {"\"undefined\"", "\"int\"", "1", "null", NULL}};
    static const struct operand_samples pattern = {{"\"^a\"", "\"a|b\"", "\"\"", NULL},
                                                   {"\"(\"", "1", "[\"a\"]", "null", NULL}};
    switch (kind) {
    case COND_OPERAND_NONE:
    case COND_OPERAND_ANY:
        return &any;
    case COND_OPERAND_LIST:
        return &list;
    case COND_OPERAND_VALUE_LIST:
        return &value_list;
    case COND_OPERAND_VALUE:
        return &value;
    case COND_OPERAND_COND:
        return &cond;
    case COND_OPERAND_COND_LIST:
        return &cond_list;
    case COND_OPERAND_MATCH:
        return &match;
    case COND_OPERAND_SIZE:
        return &size;
    case COND_OPERAND_TYPE:
        return &type;
    case COND_OPERAND_PATTERN:
        return &pattern;
    }
    return NULL;
}

/* {"f": {op: operand}} (in an operator object) or {op: operand} (a condition's key). */
static json_t *op_condition(const struct cond_op *op, bool in_value, const char *operand)
{
    json_error_t jerr;
    json_t *v = json_loads(operand, JSON_DECODE_ANY, &jerr);
    assert_non_null(v);
    json_t *inner = json_object();
    json_object_set_new(inner, op->name, v);
    if (!in_value) {
        return inner;
    }
    json_t *cond = json_object();
    json_object_set_new(cond, "f", inner);
    return cond;
}

/* The operator table (cond_int.h) is what the checks and the evaluator read: every row is a
 * known operator, found under its own name; an operand of the wrong shape for its kind is
 * refused and a right one accepted, in an operator object and as a condition's key; where a row
 * says it is no operator, the evaluator agrees (never matches in an operator object, a field
 * path as a condition's key). */
static void test_operator_table(void **state)
{
    (void)state;
    assert_true(cond_ops_count >= 30);
    for (size_t i = 0; i < cond_ops_count; i++) {
        const struct cond_op *op = &cond_ops[i];
        assert_int_equal(op->len, strlen(op->name));
        assert_int_equal(op->name[0], '$');
        assert_ptr_equal(cond_op_find(op->name, op->len), op);
        assert_true(op->value != COND_OPERAND_NONE || op->cond != COND_OPERAND_NONE);
        for (int in_value = 0; in_value <= 1; in_value++) {
            enum cond_operand kind = in_value ? op->value : op->cond;
            const struct operand_samples *s = samples_of(kind);
            assert_non_null(s);
            for (size_t g = 0; g < 6 && s->good[g] != NULL; g++) {
                json_t *c = op_condition(op, in_value, s->good[g]);
                struct err err;
                err_clear(&err);
                assert_null(condition_unknown_operator(c));
                if (condition_check_operands(c, &err) != 0) {
                    fail_msg("%s%s refused %s: %s", in_value ? "f." : "", op->name, s->good[g],
                             err.msg);
                }
                json_decref(c);
            }
            for (size_t b = 0; b < 5 && s->bad[b] != NULL; b++) {
                json_t *c = op_condition(op, in_value, s->bad[b]);
                struct err err;
                err_clear(&err);
                assert_null(condition_unknown_operator(c));
                if (condition_check_operands(c, &err) != -1) {
                    fail_msg("%s%s accepted %s", in_value ? "f." : "", op->name, s->bad[b]);
                }
                assert_int_equal(err.code, ERR_INVALID);
                assert_string_equal(err.field, "targeting");
                assert_non_null(strstr(err.msg, op->name));
                json_decref(c);
            }
        }
        /* no operator in an operator object: the SDK's unknown operator, no match */
        json_t *attrs = json_pack("{s:i, s:i}", "f", 1, op->name, 1);
        if (op->value == COND_OPERAND_NONE) {
            json_t *c = op_condition(op, true, "1");
            assert_false(condition_eval(c, attrs, NULL));
            json_decref(c);
        }
        /* no operator as a condition's key: a field path */
        if (op->cond == COND_OPERAND_NONE) {
            json_t *c = op_condition(op, false, "1");
            assert_true(condition_eval(c, attrs, NULL));
            json_decref(c);
        }
        json_decref(attrs);
    }
    json_t *unknown = json_loads("{\"f\": {\"$nosuch\": 1}}", 0, NULL);
    assert_null(cond_op_find("$nosuch", 7));
    assert_null(cond_op_find("in", 2));
    assert_string_equal(condition_unknown_operator(unknown), "$nosuch");
    json_decref(unknown);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conformance),
        cmocka_unit_test(test_own_cases),
        cmocka_unit_test(test_js_regex_cases),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_depth_cap),
        cmocka_unit_test(test_embedded_nul),
        cmocka_unit_test(test_compiled_sets),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_regex_memo),
        cmocka_unit_test(test_attribute_caps),
        cmocka_unit_test(test_group_sets),
        cmocka_unit_test(test_regex_whole_subject),
        cmocka_unit_test(test_fold_and_version_charges),
        cmocka_unit_test(test_regex_costs),
        cmocka_unit_test(test_regex_cache),
        cmocka_unit_test(test_operator_table),
    };
    return cmocka_run_group_tests_name("condition", tests, NULL, NULL);
}
