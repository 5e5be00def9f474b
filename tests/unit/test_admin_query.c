/* Unit tests for src/admin/admin_query.c: what the admin plane accepts as input. */
#include "switchboard/admin_query.h"
#include "test_helpers.h"

Test(admin_query, times_in_rfc3339_or_epoch_seconds)
{
    int64_t ms;
    cr_assert_eq(admin_time_parse("2025-11-25T13:00:00Z", &ms), 0);
    cr_assert_eq(ms, 1764075600000);
    cr_assert_eq(admin_time_parse("2025-11-25T13:00:00.1Z", &ms), 0);
    cr_assert_eq(ms, 1764075600100);
    cr_assert_eq(admin_time_parse("2000-02-29T00:00:00Z", &ms), 0);
    cr_assert_eq(ms, 951782400000);
    cr_assert_eq(admin_time_parse("1764075600", &ms), 0);
    cr_assert_eq(ms, 1764075600000);
    const char *bad[] = {"",
                         "yesterday",
                         "2025-11-25",
                         "2025-11-25T13:00:00",
                         "2025-13-01T00:00:00Z",
                         "2025-11-25T13:00:00+01:00",
                         "2025-11-25T13:00:00.Z",
                         "-5",
                         "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(admin_time_parse(bad[i], &ms), -1, "%s", bad[i]);
}

Test(admin_query, parameters_and_their_errors)
{
    struct admin_params p;
    admin_params_init(&p);
    cr_assert_eq(p.limit, ADMIN_LIMIT_DEFAULT);
    cr_assert_null(admin_param(&p, "user", "alice"));
    cr_assert_str_eq(p.user, "alice");
    cr_assert_null(admin_param(&p, "limit", "1000"));
    cr_assert_eq(p.limit, 1000);
    cr_assert_null(admin_param(&p, "format", "text"));
    cr_assert(p.text);
    cr_assert_null(admin_param(&p, "since", "1764075600"));
    cr_assert_eq(p.since_ms, 1764075600000);
    cr_assert_not_null(admin_param(&p, "limit", "0"));
    cr_assert_not_null(admin_param(&p, "limit", "1001"));
    cr_assert_not_null(admin_param(&p, "limit", "12a"));
    cr_assert_not_null(admin_param(&p, "limit", NULL));
    cr_assert_not_null(admin_param(&p, "user", ""));
    cr_assert_not_null(admin_param(&p, "user", "a/b"));
    cr_assert_not_null(admin_param(&p, "user", "a\nb"));
    cr_assert_not_null(admin_param(&p, "format", "xml"));
    cr_assert_not_null(admin_param(&p, "colour", "blue"));
}

Test(admin_query, bearer_tokens)
{
    const char *token = "0123456789abcdef";
    cr_assert(admin_bearer_ok("Bearer 0123456789abcdef", token));
    cr_assert(admin_bearer_ok("bearer 0123456789abcdef", token));
    cr_assert_not(admin_bearer_ok(NULL, token));
    cr_assert_not(admin_bearer_ok("Bearer 0123456789abcde", token));
    cr_assert_not(admin_bearer_ok("Bearer 0123456789abcdef0", token));
    cr_assert_not(admin_bearer_ok("Basic 0123456789abcdef", token));
    cr_assert_not(admin_bearer_ok("Bearer ", token));
}

/* DNS rebinding: a loopback listener answers loopback names only. */
Test(admin_query, host_names_on_a_loopback_listener)
{
    static const char *ok[] = {"localhost", "LOCALHOST:8060", "127.0.0.1", "127.0.0.1:8060",
                               "127.9.8.7:1", "[::1]", "[::1]:8060", NULL};
    static const char *bad[] = {"evil.example", "evil.example:8060", "127.0.0.1.evil.example",
                                "localhost.evil.example", "10.0.0.1:8060", "[::2]:8060",
                                "127.0.0.256", "[::1", "", ":8060", "127.0.0.1x"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        cr_assert(admin_host_is_loopback(ok[i]), "%s", ok[i] ? ok[i] : "(none)");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(admin_host_is_loopback(bad[i]), "%s", bad[i]);
}

Test(admin_query, origins_that_may_change_state)
{
    cr_assert(admin_origin_ok(NULL, "127.0.0.1:8060"), "no Origin: a command line client");
    cr_assert(admin_origin_ok("http://127.0.0.1:8060", "127.0.0.1:8060"));
    cr_assert(admin_origin_ok("https://pbx.example", "PBX.example"));
    cr_assert_not(admin_origin_ok("http://evil.example", "127.0.0.1:8060"));
    cr_assert_not(admin_origin_ok("http://127.0.0.1:8061", "127.0.0.1:8060"));
    cr_assert_not(admin_origin_ok("null", "127.0.0.1:8060"));
    cr_assert_not(admin_origin_ok("http://127.0.0.1:8060", NULL));
}
