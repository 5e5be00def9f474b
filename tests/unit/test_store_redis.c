/* Unit tests for the Redis store's pure parts (src/store/store_redis_codec.c):
 * how a binding is spelled there, and the store URL. The backend itself is
 * tested against a real redis-server by tests/redis_tests.sh. */
#include <criterion/criterion.h>
#include <string.h>

#include "switchboard/buf.h"
#include "switchboard/error.h"
#include "switchboard/registrar.h"
#include "switchboard/sip_msg.h"
#include "switchboard/store_redis_codec.h"

static struct registrar_binding sample(void)
{
    struct registrar_binding b = {
        .contact = "<sip:alice@10.0.0.7:5062;transport=tcp>;+sip.instance=\"<urn:uuid:1,2>\"",
        .uri = "sip:alice@10.0.0.7:5062;transport=tcp",
        .instance = "<urn:uuid:1,2>",
        .call_id = "a,b:c~d@host",
        .user_agent = NULL,
        .cseq = 4242,
        .expires_at_ms = 1000,
        .q = 700,
        .use_source = true,
        .transport = 1,
        .conn = 99,
    };
    cr_assert_eq(sipmsg_addr_parse("192.0.2.1:40000", &b.source), 0);
    cr_assert_eq(sipmsg_addr_parse("192.0.2.9:5060", &b.local.addr), 0);
    b.local.listen_index = 3;
    return b;
}

Test(store_redis, a_binding_survives_encoding_with_separators_inside)
{
    struct registrar_binding b = sample(), d;
    struct sb_buf buf = {0};
    store_redis_encode(&b, 1700000000000LL, "node-a", &buf);
    cr_assert(!buf.failed);
    cr_assert_eq(store_redis_decode(buf.data, buf.len, &d), 0);
    cr_assert_str_eq(d.contact, b.contact);
    cr_assert_str_eq(d.uri, b.uri);
    cr_assert_str_eq(d.instance, b.instance);
    cr_assert_str_eq(d.call_id, b.call_id);
    cr_assert_null(d.user_agent);
    cr_assert_str_eq(d.node, "node-a");
    cr_assert_eq(d.cseq, 4242);
    cr_assert_eq(d.expires_at_ms, 1700000001000ULL);
    cr_assert_eq(d.q, 700);
    cr_assert(d.use_source);
    cr_assert_eq(d.transport, 1);
    cr_assert_eq(d.local.listen_index, 3);
    cr_assert_eq(d.conn, 99);
    char addr[64];
    sipmsg_addr_format(&d.source, addr, sizeof(addr));
    cr_assert_str_eq(addr, "192.0.2.1:40000");
    sb_buf_free(&buf);
}

Test(store_redis, the_script_reads_cseq_expiry_and_call_id_first)
{
    struct registrar_binding b = sample();
    struct sb_buf buf = {0};
    store_redis_encode(&b, 0, "n", &buf);
    cr_assert(strncmp(buf.data, "4:4242,4:1000,12:a,b:c~d@host,", 30) == 0, "%s", buf.data);
    sb_buf_free(&buf);
}

Test(store_redis, the_field_is_the_instance_else_the_uri)
{
    struct registrar_binding b = sample();
    struct sb_buf f = {0};
    store_redis_field(&b, &f);
    cr_assert_str_eq(f.data, "i:<urn:uuid:1,2>");
    sb_buf_free(&f);
    b.instance = NULL;
    store_redis_field(&b, &f);
    cr_assert_str_eq(f.data, "u:sip:alice@10.0.0.7:5062;transport=tcp");
    sb_buf_free(&f);
}

Test(store_redis, damaged_values_are_refused)
{
    struct registrar_binding b = sample(), d;
    struct sb_buf buf = {0};
    store_redis_encode(&b, 0, "n", &buf);
    /* every truncation, and a few corruptions, fail cleanly */
    for (size_t len = 0; len < buf.len; len++) {
        char copy[1024];
        memcpy(copy, buf.data, len);
        copy[len] = '\0';
        cr_assert_eq(store_redis_decode(copy, len, &d), SB_EMALFORMED, "length %zu", len);
    }
    const char *bad[] = {"",
                         "~,",
                         "x:1,",
                         "99999999999999999999:a,",
                         "1:a",
                         "4:4242,-1:1000,",
                         "4:4242,4:1000,0:,1:n,1:c,1:u,~,~,4:1000,1:2,1:0,1:0,3:1.1,3:1.1,1:0,"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char copy[256];
        snprintf(copy, sizeof(copy), "%s", bad[i]);
        cr_assert_eq(store_redis_decode(copy, strlen(copy), &d), SB_EMALFORMED, "%s", bad[i]);
    }
    sb_buf_free(&buf);
}

Test(store_redis, urls)
{
    struct store_redis_url u;
    cr_assert_eq(store_redis_parse_url("redis://127.0.0.1", &u), 0);
    cr_assert_str_eq(u.host, "127.0.0.1");
    cr_assert_eq(u.port, 6379);
    cr_assert_eq(u.db, 0);
    cr_assert_eq(store_redis_parse_url("redis://:s3cret@db.example:7000/2", &u), 0);
    cr_assert_str_eq(u.host, "db.example");
    cr_assert_str_eq(u.password, "s3cret");
    cr_assert_str_eq(u.user, "");
    cr_assert_eq(u.port, 7000);
    cr_assert_eq(u.db, 2);
    cr_assert_eq(store_redis_parse_url("redis://sb:pw@[::1]:6380/", &u), 0);
    cr_assert_str_eq(u.host, "::1");
    cr_assert_str_eq(u.user, "sb");
    cr_assert_eq(u.port, 6380);
    const char *bad[] = {"http://h",        "redis://",     "redis://h:0",
                         "redis://h:65536", "redis://h:x",  "redis://h/-1",
                         "redis://h/x",     "redis://[::1", "redis://@:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(store_redis_parse_url(bad[i], &u), SB_EINVAL, "%s", bad[i]);
}
