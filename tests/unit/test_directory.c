/* Unit tests for src/sip/directory.c: the office directory is every user
 * of the users file and every user and group the dial plan names, each
 * with the extensions that reach it (sorted), a group with its kind and
 * members; numbers outside are not in it; with neither plan nor users it
 * is empty. */
#include <stdio.h>
#include <unistd.h>
#include <urcu.h>

#include "switchboard/auth.h"
#include "switchboard/buf.h"
#include "switchboard/dialplan.h"
#include "switchboard/directory.h"
#include "switchboard/log.h"
#include "switchboard/secret.h"
#include "test_helpers.h"

static struct secret *secret;
static struct auth *auth;
static char users_path[64];

static void setup(void)
{
    rcu_register_thread();
    sb_log_set_level(SB_LOG_ERROR);
    snprintf(users_path, sizeof(users_path), "/tmp/sb-dir-users-%d", (int)getpid());
    FILE *f = fopen(users_path, "w");
    fprintf(f, "erin:pbx.test:6f69092e95e8cc81524113b2c5738422\n"
               "bob:pbx.test:2784e233ef54787379267134f89f2330\n");
    fclose(f);
    static const char key[] = "unit tests' key, thirty-two bytes";
    cr_assert_eq(secret_from_bytes(key, sizeof(key), &secret), 0);
    struct auth_options o = {.mode = AUTH_MODE_ALL,
                             .realm = "pbx.test",
                             .users_path = users_path,
                             .offer = {DIGEST_MD5},
                             .offer_count = 1,
                             .nonce_ttl_s = 300,
                             .max_failures = 5,
                             .block_s = 60,
                             .max_user_failures = 20,
                             .user_block_s = 600};
    cr_assert_eq(auth_create(&o, secret, &auth), 0);
}

static void teardown(void)
{
    auth_destroy(auth);
    secret_free(secret);
    unlink(users_path);
    rcu_unregister_thread();
}

TestSuite(directory, .init = setup, .fini = teardown);

Test(directory, everyone_with_the_extensions_that_reach_them)
{
    static const char conf[] = "[extensions]\n"
                               "101 = bob\n"
                               "100 = alice\n"
                               "199 = bob\n"
                               "200 = sales\n"
                               "9 = sip:operator@192.0.2.9\n"
                               "[groups]\n"
                               "sales = hunt 10: alice, dave\n";
    struct dialplan *dp;
    char err[256];
    cr_assert_eq(dialplan_parse(conf, "t.conf", &dp, err, sizeof(err)), 0, "%s", err);
    struct sb_buf b = {0};
    cr_assert_eq(directory_json(dp, auth, &b), 0);
    cr_assert_str_eq(b.data,
                     "{\"people\":[{\"name\":\"alice\",\"extensions\":[\"100\"]},"
                     "{\"name\":\"bob\",\"extensions\":[\"101\",\"199\"]},"
                     "{\"name\":\"dave\",\"extensions\":[]},"
                     "{\"name\":\"erin\",\"extensions\":[]}],"
                     "\"groups\":[{\"name\":\"sales\",\"extensions\":[\"200\"],\"hunt\":true,"
                     "\"members\":[\"alice\",\"dave\"]}]}\n");
    sb_buf_free(&b);
    dialplan_unref(dp);
}

Test(directory, empty_without_plan_or_users)
{
    struct sb_buf b = {0};
    cr_assert_eq(directory_json(NULL, NULL, &b), 0);
    cr_assert_str_eq(b.data, "{\"people\":[],\"groups\":[]}\n");
    sb_buf_free(&b);
    cr_assert_eq(directory_json(NULL, auth, &b), 0);
    cr_assert_str_eq(b.data, "{\"people\":[{\"name\":\"bob\",\"extensions\":[]},"
                             "{\"name\":\"erin\",\"extensions\":[]}],\"groups\":[]}\n");
    sb_buf_free(&b);
}
