/*
 * saved_groups.c - the facade of issue 15's store functions (store.h "Saved groups",
 * "Encrypted payloads"): dispatch to the backend chosen by store_open. Both backends (SQLite,
 * PostgreSQL) provide every op; a missing op answers ERR_UNAVAILABLE, never a NULL call.
 */
#include "bunsen/util.h"
#include "store_int.h"

static int missing(const char *what, struct err *err)
{
    return err_set(err, ERR_UNAVAILABLE, NULL, "%s: not supported by this database backend", what);
}

int store_saved_group_put(struct store_tx *tx, const char *key, const char *doc, int64_t created_at,
                          int64_t updated_at, bool create, struct err *err)
{
    const struct store_ops *o = tx->store->ops;
    return o->saved_group_put
               ? o->saved_group_put(tx, key, doc, created_at, updated_at, create, err)
               : missing("saved groups", err);
}

int store_saved_group_get(struct store *s, struct store_tx *tx, const char *key, char **doc,
                          struct err *err)
{
    struct store *owner = tx != NULL ? tx->store : s;
    return owner->ops->saved_group_get ? owner->ops->saved_group_get(owner, tx, key, doc, err)
                                       : missing("saved groups", err);
}

int store_saved_group_delete(struct store_tx *tx, const char *key, struct err *err)
{
    const struct store_ops *o = tx->store->ops;
    return o->saved_group_delete ? o->saved_group_delete(tx, key, err)
                                 : missing("saved groups", err);
}

int store_saved_group_list(struct store *s, struct store_tx *tx,
                           void (*emit)(void *ctx, const char *doc), void *ctx, struct err *err)
{
    struct store *owner = tx != NULL ? tx->store : s;
    if (owner->ops->saved_group_list == NULL) {
        return 0; /* no groups: conditions without $inGroup still work */
    }
    return owner->ops->saved_group_list(owner, tx, emit, ctx, err);
}

int store_saved_group_versions(struct store *s,
                               void (*emit)(void *ctx, const char *key, int64_t version), void *ctx,
                               struct err *err)
{
    return s->ops->saved_group_versions ? s->ops->saved_group_versions(s, emit, ctx, err)
                                        : missing("saved group versions", err);
}

int store_saved_group_read(struct store *s, const char *key, char **doc, int64_t *version,
                           struct err *err)
{
    return s->ops->saved_group_read ? s->ops->saved_group_read(s, key, doc, version, err)
                                    : missing("saved groups", err);
}

int store_key_set_encryption(struct store_tx *tx, const char *id, const char *secret,
                             struct err *err)
{
    const struct store_ops *o = tx->store->ops;
    return o->key_set_encryption ? o->key_set_encryption(tx, id, secret, err)
                                 : missing("encrypted payloads", err);
}

int store_key_encryption(struct store *s, const char *id, char *out, size_t n, struct err *err)
{
    if (s->ops->key_encryption == NULL) {
        out[0] = '\0';
        return 0;
    }
    return s->ops->key_encryption(s, id, out, n, err);
}
