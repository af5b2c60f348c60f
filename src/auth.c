/*
 * auth.c - API key generation and hashing (auth.h). Randomness from getrandom(2);
 * SHA-256 and constant-time compare from libsodium: no hand-rolled crypto.
 */
#include "bunsen/auth.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

enum role auth_role_parse(const char *name)
{
    if (name == NULL) {
        return ROLE_NONE;
    }
    if (strcmp(name, "admin") == 0) {
        return ROLE_ADMIN;
    }
    if (strcmp(name, "editor") == 0) {
        return ROLE_EDITOR;
    }
    if (strcmp(name, "viewer") == 0) {
        return ROLE_VIEWER;
    }
    if (strcmp(name, "sdk") == 0) {
        return ROLE_SDK;
    }
    return ROLE_NONE;
}

const char *auth_role_name(enum role r)
{
    switch (r) {
    case ROLE_ADMIN:
        return "admin";
    case ROLE_EDITOR:
        return "editor";
    case ROLE_VIEWER:
        return "viewer";
    case ROLE_SDK:
        return "sdk";
    default:
        return "none";
    }
}

/* Fill buf with n random bytes from getrandom(2). */
static int fill_random(void *buf, size_t n, struct err *err)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            return err_set(err, ERR_INTERNAL, NULL, "getrandom failed: %s", strerror(errno));
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

int auth_key_generate(char secret[AUTH_SECRET_LEN + 1], uint8_t hash[AUTH_HASH_LEN],
                      char id[AUTH_ID_LEN + 1], struct err *err)
{
    unsigned char raw[32], idraw[8];
    if (fill_random(raw, sizeof(raw), err) != 0 || fill_random(idraw, sizeof(idraw), err) != 0) {
        return -1;
    }
    memcpy(secret, "bsn_", 4);
    sodium_bin2base64(secret + 4, AUTH_SECRET_LEN + 1 - 4, raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    auth_key_hash(secret, strlen(secret), hash);
    memcpy(id, "key_", 4);
    sodium_bin2hex(id + 4, AUTH_ID_LEN + 1 - 4, idraw, sizeof(idraw));
    sodium_memzero(raw, sizeof(raw));
    return 0;
}

void auth_key_hash(const char *secret, size_t len, uint8_t hash[AUTH_HASH_LEN])
{
    crypto_hash_sha256(hash, (const unsigned char *)secret, len);
}

bool auth_hash_equal(const uint8_t a[AUTH_HASH_LEN], const uint8_t b[AUTH_HASH_LEN])
{
    return sodium_memcmp(a, b, AUTH_HASH_LEN) == 0;
}
