/* Unit tests for src/sip/register.c: address-of-record keys (with and without
 * use_domain) and where each REGISTER's binding is reached (NAT rule,
 * third-party registrations). */
#include <urcu.h>

#include "switchboard/config.h"
#include "switchboard/error.h"
#include "switchboard/nat.h"
#include "switchboard/register.h"
#include "switchboard/registrar.h"
#include "switchboard/sip_msg.h"
#include "test_helpers.h"

static struct registrar *reg;
static struct sb_config cfg;

static void setup(void)
{
    rcu_register_thread();
    config_defaults(&cfg);
    struct registrar_limits limits = {.max_bindings = 4};
    cr_assert_eq(registrar_create(&limits, &reg), 0);
}

static void teardown(void)
{
    registrar_destroy(reg);
    config_free(&cfg);
    rcu_unregister_thread();
}

TestSuite(register, .init = setup, .fini = teardown);

static void key_of(const char *uri_text, bool use_domain, char *buf, size_t size)
{
    osip_uri_t *uri;
    osip_uri_init(&uri);
    cr_assert_eq(osip_uri_parse(uri, uri_text), 0);
    cr_assert_eq(register_aor_key(uri, use_domain, buf, size), 0);
    osip_uri_free(uri);
}

Test(register, aor_key_is_the_user_unless_use_domain)
{
    char a[128], b[128];
    key_of("sip:alice@a.example", false, a, sizeof(a));
    key_of("sip:alice@b.example:5070", false, b, sizeof(b));
    cr_assert_str_eq(a, "alice");
    cr_assert_str_eq(a, b, "one namespace for every local domain");
    key_of("sip:alice@A.Example", true, a, sizeof(a));
    key_of("sip:alice@b.example:5070", true, b, sizeof(b));
    cr_assert_str_eq(a, "alice@a.example", "domain lower-cased, port dropped");
    cr_assert_str_eq(b, "alice@b.example");
    key_of("sip:%61lice@[2001:db8::1]", true, a, sizeof(a));
    cr_assert_str_eq(a, "alice@2001:db8::1", "user unescaped, brackets dropped");
}

/* Sends one REGISTER text as if it came from @src_ip:@src_port and returns
 * the stored binding of @aor. */
static struct registrar_set *register_from(const char *text, const char *src_ip, unsigned src_port,
                                           const char *aor)
{
    struct sb_inbound in = {0};
    in.msg = parse(text);
    cr_assert_eq(sipmsg_host_to_addr(src_ip, src_port, &in.src), 0);
    cr_assert_eq(sipmsg_host_to_addr("192.0.2.1", 5060, &in.local.addr), 0);
    osip_message_t *resp = register_process(&cfg, reg, &in, "tag1", sb_now_ms(), NULL);
    cr_assert_not_null(resp);
    cr_assert_eq(resp->status_code, 200);
    osip_message_free(resp);
    osip_message_free(in.msg);
    struct registrar_set *set;
    cr_assert_eq(registrar_lookup(reg, aor, sb_now_ms(), &set), 0);
    return set;
}

#define REGISTER_TEXT(via, from, contact)                                                          \
    "REGISTER sip:192.0.2.1 SIP/2.0\n"                                                             \
    "Via: SIP/2.0/UDP " via ";branch=z9hG4bK-r1;rport\n"                                           \
    "From: <sip:" from ">;tag=f1\n"                                                                \
    "To: <sip:bob@192.0.2.1>\n"                                                                    \
    "Call-ID: reg-1\n"                                                                             \
    "CSeq: 1 REGISTER\n"                                                                           \
    "Contact: <sip:bob@" contact ">;expires=600\n"                                                 \
    "Content-Length: 0\n\n"

/* SIPp's load-test layout: one process registers the UAS another runs. */
Test(register, contact_on_another_port_is_reached_at_the_contact)
{
    struct registrar_set *set =
        register_from(REGISTER_TEXT("127.0.0.1:15071", "bob@192.0.2.1", "127.0.0.1:15070"),
                      "127.0.0.1", 15071, "bob");
    cr_assert_not(set->bindings[0].use_source);
    registrar_set_free(set);
}

Test(register, source_port_other_than_via_means_nat)
{
    struct registrar_set *set =
        register_from(REGISTER_TEXT("10.0.1.2:5060", "bob@192.0.2.1", "10.0.1.2:5060"),
                      "192.0.2.77", 40312, "bob");
    cr_assert(set->bindings[0].use_source);
    char src[64];
    sipmsg_addr_format(&set->bindings[0].source, src, sizeof(src));
    cr_assert_str_eq(src, "192.0.2.77:40312");
    cr_assert_str_eq(set->bindings[0].uri, "sip:bob@10.0.1.2:5060", "the Contact is kept");
    registrar_set_free(set);
}

Test(register, third_party_registration_keeps_the_contact)
{
    struct registrar_set *set =
        register_from(REGISTER_TEXT("10.0.1.2:5060", "admin@192.0.2.1", "10.0.1.9:5060"),
                      "192.0.2.77", 40312, "bob");
    cr_assert_not(set->bindings[0].use_source);
    registrar_set_free(set);
}

Test(register, nat_never_and_always)
{
    cfg.nat_mode = NAT_NEVER;
    struct registrar_set *set =
        register_from(REGISTER_TEXT("10.0.1.2:5060", "bob@192.0.2.1", "10.0.1.2:5060"),
                      "192.0.2.77", 40312, "bob");
    cr_assert_not(set->bindings[0].use_source);
    registrar_set_free(set);
    cr_assert_eq(registrar_update(reg, "bob", NULL, 0, true, "reg-1", 1, sb_now_ms(), NULL), 0);
    cfg.nat_mode = NAT_ALWAYS;
    set = register_from(REGISTER_TEXT("127.0.0.1:15071", "bob@192.0.2.1", "127.0.0.1:15070"),
                        "127.0.0.1", 15071, "bob");
    cr_assert(set->bindings[0].use_source);
    registrar_set_free(set);
}

Test(register, use_domain_keeps_domains_apart)
{
    cfg.use_domain = true;
    const char *to_b = "REGISTER sip:b.example SIP/2.0\n"
                       "Via: SIP/2.0/UDP 10.0.0.3:5060;branch=z9hG4bK-r2;rport\n"
                       "From: <sip:bob@b.example>;tag=f2\n"
                       "To: <sip:bob@b.example>\n"
                       "Call-ID: reg-2\n"
                       "CSeq: 1 REGISTER\n"
                       "Contact: <sip:bob@10.0.0.3:5060>;expires=600\n"
                       "Content-Length: 0\n\n";
    struct registrar_set *set = register_from(to_b, "10.0.0.3", 5060, "bob@b.example");
    registrar_set_free(set);
    cr_assert_eq(registrar_lookup(reg, "bob@192.0.2.1", sb_now_ms(), &set), SB_ENOTFOUND);
    cr_assert_eq(registrar_lookup(reg, "bob", sb_now_ms(), &set), SB_ENOTFOUND);
}

/* One REGISTER for @user from @src_ip with @extra header lines; returns
 * the answer's status code. */
static int register_code(const char *user, const char *src_ip, const char *extra)
{
    char text[8192];
    snprintf(text, sizeof(text),
             "REGISTER sip:192.0.2.1 SIP/2.0\n"
             "Via: SIP/2.0/UDP %s:5060;branch=z9hG4bK-%s;rport\n"
             "From: <sip:%s@192.0.2.1>;tag=f1\nTo: <sip:%s@192.0.2.1>\n"
             "Call-ID: reg-%s\nCSeq: 1 REGISTER\n%s"
             "Contact: <sip:%s@%s:5060>;expires=600\nContent-Length: 0\n\n",
             src_ip, user, user, user, user, extra, user, src_ip);
    struct sb_inbound in = {0};
    in.msg = parse(text);
    cr_assert_eq(sipmsg_host_to_addr(src_ip, 5060, &in.src), 0);
    cr_assert_eq(sipmsg_host_to_addr("192.0.2.1", 5060, &in.local.addr), 0);
    osip_message_t *resp = register_process(&cfg, reg, &in, "tag1", sb_now_ms(), NULL);
    cr_assert_not_null(resp);
    int code = resp->status_code;
    osip_message_free(resp);
    osip_message_free(in.msg);
    return code;
}

/* One source address may create max_aors_per_source users; others are
 * not affected, and a user that goes frees its place. */
Test(register, one_address_registers_a_bounded_number_of_users)
{
    registrar_destroy(reg);
    struct registrar_limits limits = {.max_bindings = 4, .max_per_source = 2};
    cr_assert_eq(registrar_create(&limits, &reg), 0);
    cr_assert_eq(register_code("u1", "10.9.0.1", ""), 200);
    cr_assert_eq(register_code("u2", "10.9.0.1", ""), 200);
    cr_assert_eq(register_code("u3", "10.9.0.1", ""), 403, "a third user from one address");
    cr_assert_eq(register_code("u1", "10.9.0.1", ""), 200, "refreshing a user is no new one");
    cr_assert_eq(register_code("v1", "10.9.0.2", ""), 200, "another address is not affected");
    /* u2 goes: its place is free again */
    struct registrar_change gone = {.remove = true};
    gone.binding.contact = gone.binding.uri = "sip:u2@10.9.0.1:5060";
    cr_assert_eq(registrar_update(reg, "u2", &gone, 1, true, "reg-u2", 2, sb_now_ms(), NULL), 0);
    cr_assert_eq(register_code("u3", "10.9.0.1", ""), 200, "u2's place was freed");
    for (int i = 0; i < 4; i++) { /* SIPp on the proxy's own host: load tests */
        char user[16];
        snprintf(user, sizeof(user), "lo%d", i);
        cr_assert_eq(register_code(user, "127.0.0.1", ""), 200, "loopback is not limited");
    }
}

/* Binds @aor (a "user@domain" key, as use_domain makes them) from
 * 10.9.1.@host; returns registrar_update()'s code. */
static int bind_in_domain(const char *aor, int host)
{
    char uri[128], ip[32];
    snprintf(ip, sizeof(ip), "10.9.1.%d", host);
    snprintf(uri, sizeof(uri), "sip:%s:5060", ip);
    struct registrar_change c = {0};
    c.binding.contact = c.binding.uri = uri;
    c.binding.expires_at_ms = sb_now_ms() + 600000;
    cr_assert_eq(sipmsg_host_to_addr(ip, 5060, &c.binding.source), 0);
    return registrar_update(reg, aor, &c, 1, false, aor, 1, sb_now_ms(), NULL);
}

/* [registrar] max_records_per_domain: one domain served here cannot take
 * every record from the others, whatever addresses its users come from;
 * a user that goes frees its place. */
Test(register, one_domain_holds_a_bounded_number_of_users)
{
    registrar_destroy(reg);
    struct registrar_limits limits = {.max_bindings = 4, .max_per_domain = 2};
    cr_assert_eq(registrar_create(&limits, &reg), 0);
    cr_assert_eq(bind_in_domain("u1@a.example", 1), 0);
    cr_assert_eq(bind_in_domain("u2@a.example", 2), 0);
    cr_assert_eq(bind_in_domain("u3@a.example", 3), SB_EDOMAINFULL, "a third user of a.example");
    cr_assert_eq(bind_in_domain("u1@a.example", 4), 0, "a known user is no new one");
    cr_assert_eq(bind_in_domain("u1@b.example", 3), 0, "another domain is not affected");
    struct registrar_change gone = {.remove = true};
    gone.binding.contact = gone.binding.uri = "sip:10.9.1.2:5060";
    cr_assert_eq(registrar_update(reg, "u2@a.example", &gone, 1, true, "x", 2, sb_now_ms(), NULL),
                 0);
    cr_assert_eq(bind_in_domain("u3@a.example", 3), 0, "u2's place was freed");
}

/* What a binding keeps is bounded: a long User-Agent is cut to 128 bytes,
 * a Contact larger than max_binding_bytes gets 413. */
Test(register, a_binding_keeps_a_bounded_number_of_bytes)
{
    char ua[4200] = "User-Agent: ";
    memset(ua + 12, 'U', 4000);
    strcpy(ua + 4012, "\n");
    cr_assert_eq(register_code("big", "10.9.0.3", ua), 200);
    struct registrar_set *set;
    cr_assert_eq(registrar_lookup(reg, "big", sb_now_ms(), &set), 0);
    cr_assert_eq(strlen(set->bindings[0].user_agent), 128);
    registrar_set_free(set);
    char param[1500];
    memset(param, 'p', sizeof(param) - 1);
    param[sizeof(param) - 1] = '\0';
    char text[4096];
    snprintf(text, sizeof(text),
             "REGISTER sip:192.0.2.1 SIP/2.0\n"
             "Via: SIP/2.0/UDP 10.9.0.3:5060;branch=z9hG4bK-long;rport\n"
             "From: <sip:long@192.0.2.1>;tag=f1\nTo: <sip:long@192.0.2.1>\n"
             "Call-ID: reg-long\nCSeq: 1 REGISTER\n"
             "Contact: <sip:long@10.9.0.3:5060;x=%s>;expires=600\nContent-Length: 0\n\n",
             param);
    struct sb_inbound in = {0};
    in.msg = parse(text);
    sipmsg_host_to_addr("10.9.0.3", 5060, &in.src);
    osip_message_t *resp = register_process(&cfg, reg, &in, "tag1", sb_now_ms(), NULL);
    cr_assert_eq(resp->status_code, 413, "a Contact longer than max_binding_bytes");
    osip_message_free(resp);
    osip_message_free(in.msg);
}
