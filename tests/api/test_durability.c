/*
 * Durability: clients post writes in a loop while the test kill -9s the daemon at a
 * random moment; after a restart every write that got a 2xx must be in the database.
 * Repeated for several rounds on the same data dir. Writes are key creations (POST
 * /api/v1/keys), the write path every other resource shares (writer queue, group
 * commit, reply after commit).
 */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CLIENTS   4
#define ROUNDS    6
#define MAX_ACKED 100000

static struct daemon D;
static char acked[MAX_ACKED][24];
static atomic_int nacked;
static atomic_bool stop_clients;

struct client {
    int port;
    int id;
    int sent;
};

static void *client_main(void *arg)
{
    struct client *c = arg;
    while (!atomic_load(&stop_clients)) {
        struct resp r;
        const char *body = fmt("{\"name\":\"dur-%d-%d\",\"role\":\"sdk\"}", c->id, c->sent++);
        if (http_req(c->port, "POST", "/api/v1/keys", D.admin_key, body, &r) != 0) {
            usleep(1000);
            continue; /* the daemon is gone: nothing was acknowledged */
        }
        if (r.status == 201) {
            json_t *j = resp_json(&r);
            const char *id = json_string_value(json_object_get(j, "id"));
            int slot = atomic_fetch_add(&nacked, 1);
            if (id != NULL && slot < MAX_ACKED) {
                snprintf(acked[slot], sizeof(acked[slot]), "%s", id);
            }
            json_decref(j);
        }
        resp_free(&r);
    }
    return NULL;
}

static void test_kill9_loses_nothing(void **state)
{
    (void)state;
    assert_int_equal(daemon_start(&D, NULL), 0);
    srand((unsigned)time(NULL));
    for (int round = 0; round < ROUNDS; round++) {
        atomic_store(&stop_clients, false);
        pthread_t th[CLIENTS];
        struct client cl[CLIENTS];
        for (int i = 0; i < CLIENTS; i++) {
            cl[i] = (struct client){.port = D.port, .id = round * 100 + i, .sent = 0};
            pthread_create(&th[i], NULL, client_main, &cl[i]);
        }
        usleep((useconds_t)(150000 + rand() % 450000));
        daemon_kill9(&D);
        atomic_store(&stop_clients, true);
        for (int i = 0; i < CLIENTS; i++) {
            pthread_join(th[i], NULL);
        }
        assert_int_equal(daemon_restart(&D, NULL), 0);
    }
    int n = atomic_load(&nacked);
    assert_true(n > 0);
    int st = 0;
    json_t *list =
        http_json(D.port, "GET", "/api/v1/keys?include_revoked=true", D.admin_key, NULL, &st);
    assert_int_equal(st, 200);
    char *text = json_dumps(list, JSON_COMPACT);
    int missing = 0;
    for (int i = 0; i < n && i < MAX_ACKED; i++) {
        if (strstr(text, acked[i]) == NULL) {
            fprintf(stderr, "acknowledged key %s is missing after kill -9\n", acked[i]);
            missing++;
        }
    }
    fprintf(stderr, "# durability: %d acknowledged writes over %d kill -9 rounds, %d missing\n", n,
            ROUNDS, missing);
    free(text);
    json_decref(list);
    assert_int_equal(missing, 0);
    daemon_cleanup(&D);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_loses_nothing),
    };
    return cmocka_run_group_tests_name("api_durability", tests, NULL, NULL);
}
