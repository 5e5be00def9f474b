/* Unit tests for src/sip/auth_users.c: the htdigest users file, both kinds of
 * HA1, other realms, and every error naming its line. */
#include <criterion/criterion.h>
#include <string.h>

#include "switchboard/auth_users.h"
#include "switchboard/error.h"

static int parse(const char *text, struct auth_users **u, char *err)
{
    return auth_users_parse(text, strlen(text), "pbx.test", u, err, 128);
}

Test(auth_users, md5_and_sha256_lines_and_other_realms)
{
    const char *text =
        "# made with htdigest\n"
        "alice:pbx.test:6f69092e95e8cc81524113b2c5738422\n"
        "\n"
        "alice:pbx.test:4501b553c0d08987ba1aedec32919164dcfd35e7168aba425fd93663f97f9d23\r\n"
        "bob:other.realm:0123456789abcdef0123456789ABCDEF\n"
        "carol:pbx.test:2784E233EF54787379267134F89F2330";
    struct auth_users *u;
    char err[128] = "";
    cr_assert_eq(parse(text, &u, err), 0, "%s", err);
    cr_assert_eq(auth_users_count(u), 2);
    cr_assert_eq(auth_users_other_realms(u), 1);
    cr_assert_str_eq(auth_users_ha1(u, "alice", DIGEST_MD5), "6f69092e95e8cc81524113b2c5738422");
    cr_assert_str_eq(auth_users_ha1(u, "alice", DIGEST_SHA256),
                     "4501b553c0d08987ba1aedec32919164dcfd35e7168aba425fd93663f97f9d23");
    cr_assert_str_eq(auth_users_ha1(u, "carol", DIGEST_MD5), "2784e233ef54787379267134f89f2330",
                     "lower-cased");
    cr_assert_null(auth_users_ha1(u, "carol", DIGEST_SHA256));
    cr_assert_null(auth_users_ha1(u, "bob", DIGEST_MD5), "another realm's user");
    cr_assert_null(auth_users_ha1(u, "mallory", DIGEST_MD5));
    auth_users_free(u);
}

/* Read for every realm ([registrar] use_domain): one user per domain,
 * keyed "user@realm" with the realm lower-cased as the domain is. */
Test(auth_users, every_realm_keys_user_at_realm)
{
    const char *text = "alice:a.example:6f69092e95e8cc81524113b2c5738422\n"
                       "alice:B.Example:2784e233ef54787379267134f89f2330\n";
    struct auth_users *u;
    char err[128] = "";
    cr_assert_eq(auth_users_parse(text, strlen(text), NULL, &u, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(auth_users_count(u), 2, "the same name in two domains is two users");
    cr_assert_eq(auth_users_other_realms(u), 0);
    cr_assert_str_eq(auth_users_ha1(u, "alice@a.example", DIGEST_MD5),
                     "6f69092e95e8cc81524113b2c5738422");
    cr_assert_str_eq(auth_users_ha1(u, "alice@b.example", DIGEST_MD5),
                     "2784e233ef54787379267134f89f2330");
    cr_assert_null(auth_users_ha1(u, "alice", DIGEST_MD5), "no user without a domain");
    auth_users_free(u);
}

Test(auth_users, errors_name_the_line)
{
    struct {
        const char *text, *err;
    } cases[] = {
        {"alice:pbx.test:6f69092e95e8cc81524113b2c5738422\nbob\n", "line 2: want user:realm:HA1"},
        {"alice:pbx.test:6f69092e95e8cc8152411\n", "line 1: HA1 must be 32"},
        {"alice:pbx.test:zz69092e95e8cc81524113b2c5738422\n", "line 1: HA1 must be 32"},
        {":pbx.test:6f69092e95e8cc81524113b2c5738422\n", "line 1: empty or overlong user name"},
        {"alice:pbx.test:6f69092e95e8cc81524113b2c5738422\n\n"
         "alice:pbx.test:2784e233ef54787379267134f89f2330\n",
         "line 3: a second MD5 HA1 for this user (the first is on line 1)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct auth_users *u = NULL;
        char err[128] = "";
        cr_expect_eq(parse(cases[i].text, &u, err), SB_EINVAL, "case %zu", i);
        cr_expect(strncmp(err, cases[i].err, strlen(cases[i].err)) == 0, "case %zu said: %s", i,
                  err);
        cr_expect_null(u);
    }
}

Test(auth_users, an_empty_file_has_no_users)
{
    struct auth_users *u;
    char err[128];
    cr_assert_eq(parse("", &u, err), 0);
    cr_assert_eq(auth_users_count(u), 0);
    auth_users_free(u);
}

Test(auth_users, a_missing_file_says_why)
{
    struct auth_users *u;
    char err[128] = "";
    cr_assert_eq(auth_users_load("/nonexistent/users", "pbx.test", &u, err, sizeof(err)), SB_ESYS);
    cr_assert(strstr(err, "No such file") != NULL, "%s", err);
}
