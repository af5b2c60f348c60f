/*
 * auth.h - API keys and roles: generating secrets, hashing them, the role model.
 *
 * A key is "bsn_" followed by 43 base64url characters (32 random bytes from
 * getrandom(2)). The database keeps only SHA-256(secret) (libsodium), so a stolen
 * database does not yield usable keys. Comparisons of hashes are constant-time.
 * Thread-safe; no state.
 */
#ifndef BUNSEN_AUTH_H
#define BUNSEN_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bunsen/err.h"

#define AUTH_HASH_LEN   32
#define AUTH_SECRET_LEN 47 /* "bsn_" + 43 */
#define AUTH_ID_LEN     20 /* "key_" + 16 hex */

/* Roles as bits so that a route can allow a set of them. */
enum role {
    ROLE_NONE = 0,
    ROLE_ADMIN = 1,
    ROLE_EDITOR = 2,
    ROLE_VIEWER = 4,
    ROLE_SDK = 8,
};
/* Common role sets for routes. */
#define ROLES_PUBLIC 0
#define ROLES_ADMIN  (ROLE_ADMIN)
#define ROLES_EDIT   (ROLE_ADMIN | ROLE_EDITOR)
#define ROLES_READ   (ROLE_ADMIN | ROLE_EDITOR | ROLE_VIEWER)
#define ROLES_SDK    (ROLE_ADMIN | ROLE_SDK)

/* "admin" | "editor" | "viewer" | "sdk"; ROLE_NONE for anything else. */
enum role auth_role_parse(const char *name);
const char *auth_role_name(enum role r);

/* A new key: secret (NUL-terminated, AUTH_SECRET_LEN chars) to show once, its hash,
 * and a fresh id. Returns 0, or -1 when the system has no randomness (err filled). */
int auth_key_generate(char secret[AUTH_SECRET_LEN + 1], uint8_t hash[AUTH_HASH_LEN],
                      char id[AUTH_ID_LEN + 1], struct err *err);

/* SHA-256 of a presented secret (any bytes). */
void auth_key_hash(const char *secret, size_t len, uint8_t hash[AUTH_HASH_LEN]);

/* Constant-time equality of two hashes. */
bool auth_hash_equal(const uint8_t a[AUTH_HASH_LEN], const uint8_t b[AUTH_HASH_LEN]);

#endif
