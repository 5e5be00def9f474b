/* Unit tests for src/sip/reasons.c. */
#include <stdio.h>
#include <unistd.h>
#include <urcu.h>

#include "switchboard/error.h"
#include "switchboard/reasons.h"
#include "switchboard/sip_msg.h"
#include "test_helpers.h"

static struct reasons *r;

static void setup(void)
{
    rcu_register_thread();
    cr_assert_eq(reasons_create(&r), 0);
}

static void teardown(void)
{
    reasons_destroy(r);
    rcu_unregister_thread();
}

TestSuite(reasons, .init = setup, .fini = teardown);

Test(reasons, slovak_table_translates_and_leaves_the_rest)
{
    cr_assert_eq(reasons_load(r, "../conf/reasons/sk.conf"), 0);
    osip_message_t *req = parse(INVITE_TEXT), *resp;
    cr_assert_eq(sipmsg_response_create(req, 486, NULL, "t", &resp), 0);
    reasons_apply(r, resp);
    cr_assert_str_eq(resp->reason_phrase, "Obsaden\xc3\xa9");
    osip_message_free(resp);
    cr_assert_eq(sipmsg_response_create(req, 404, NULL, "t", &resp), 0);
    reasons_apply(r, resp);
    cr_assert_str_eq(resp->reason_phrase, "Not Found", "codes not in the table keep theirs");
    osip_message_free(resp);
    osip_message_free(req);
    char buf[64];
    cr_assert_eq(reasons_lookup(r, 487, buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "\xc5\xbdiados\xc5\xa5 zru\xc5\xa1\x65n\xc3\xa1");
}

Test(reasons, a_bad_file_keeps_the_old_table)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/sb-reasons-%d.conf", getpid());
    FILE *f = fopen(path, "w");
    fputs("486 = Obsadene\n", f);
    fclose(f);
    cr_assert_eq(reasons_load(r, path), 0);
    f = fopen(path, "w");
    fputs("486 = ok\n999 = out of range\n", f);
    fclose(f);
    cr_assert_eq(reasons_load(r, path), SB_EINVAL);
    char buf[64];
    cr_assert_eq(reasons_lookup(r, 486, buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "Obsadene");
    unlink(path);
}
