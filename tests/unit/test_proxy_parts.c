/* Unit tests for the pieces of the proxy core that its private header
 * (src/sip/proxy_int.h) exposes to one another, each alone: the response
 * context's choice of the best final response (RFC 3261 §16.7 step 6) and
 * who owns a response it keeps, and the header helpers (§16.6 Record-Route,
 * the remote target of a strict-routed request, the dialog key).
 * test_proxy.c drives the whole core; these need no proxy at all. */
#include <stdlib.h>

#include "../../src/sip/proxy_int.h"
#include "test_helpers.h"

/* A response context with @n pending branches and no server transaction:
 * proxy_send_best() has nobody to answer, so the choice stays visible. */
static struct proxy_context *context_of(size_t n)
{
    struct proxy_context *ctx = calloc(1, sizeof(*ctx));
    ctx->branches = calloc(n, sizeof(*ctx->branches));
    for (size_t i = 0; i < n; i++) {
        ctx->branches[i] = calloc(1, sizeof(**ctx->branches));
        ctx->branches[i]->ctx = ctx;
    }
    ctx->count = ctx->cap = ctx->pending = n;
    return ctx;
}

static osip_message_t *response(int code)
{
    char text[512];
    snprintf(text, sizeof(text),
             "SIP/2.0 %d Whatever\n"
             "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\n"
             "From: <sip:alice@127.0.0.1>;tag=a\n"
             "To: <sip:bob@127.0.0.1>;tag=b\n"
             "Call-ID: parts@test\n"
             "CSeq: 1 INVITE\n"
             "Content-Length: 0\n\n",
             code);
    return parse(text);
}

/* Each branch of @ctx ends with the next of @codes, in order; returns
 * the code the context keeps as the best. */
static int best_of(const int *codes, size_t n)
{
    struct proxy_context *ctx = context_of(n);
    for (size_t i = 0; i < n; i++) {
        osip_message_t *resp = response(codes[i]);
        proxy_branch_final(ctx->branches[i], codes[i], &resp);
        osip_message_free(resp); /* NULL when the context took it */
    }
    cr_assert_eq(ctx->pending, 0);
    cr_assert_not_null(ctx->best);
    cr_assert_eq(ctx->best->status_code, ctx->best_code, "the kept message is the kept code");
    int best = ctx->best_code;
    proxy_context_free(ctx);
    return best;
}

Test(proxy_reply, the_lowest_class_wins)
{
    cr_assert_eq(best_of((int[]){503, 404}, 2), 404);
    cr_assert_eq(best_of((int[]){486, 301}, 2), 301);
}

Test(proxy_reply, a_6xx_beats_every_class)
{
    cr_assert_eq(best_of((int[]){404, 603}, 2), 603);
    cr_assert_eq(best_of((int[]){600, 302, 404}, 3), 600);
}

Test(proxy_reply, the_first_of_a_class_is_kept)
{
    cr_assert_eq(best_of((int[]){486, 404, 480}, 3), 486);
    cr_assert_eq(best_of((int[]){480, 486}, 2), 480);
}

Test(proxy_reply, a_response_not_kept_stays_with_the_caller)
{
    struct proxy_context *ctx = context_of(2);
    osip_message_t *first = response(404), *second = response(486);
    osip_message_t *kept = first;
    proxy_branch_final(ctx->branches[0], 404, &first);
    cr_assert_null(first, "the best so far is taken");
    proxy_branch_final(ctx->branches[1], 486, &second);
    cr_assert_not_null(second, "a worse one is left to the caller");
    cr_assert_eq(ctx->best, kept);
    osip_message_free(second);
    proxy_context_free(ctx);
}

Test(proxy_reply, a_branch_ends_once)
{
    struct proxy_context *ctx = context_of(2);
    proxy_branch_final(ctx->branches[0], 486, NULL);
    proxy_branch_final(ctx->branches[0], 404, NULL); /* a late one: ignored */
    cr_assert_eq(ctx->pending, 1);
    cr_assert_eq(ctx->best_code, 486);
    cr_assert_eq(ctx->branches[0]->final_code, 486);
    proxy_context_free(ctx);
}

static osip_message_t *request(const char *method, const char *to_tag, const char *routes)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "%s sip:bob@10.0.0.2:5062 SIP/2.0\n"
             "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-2\n"
             "From: <sip:alice@127.0.0.1>;tag=a\n"
             "To: <sip:bob@127.0.0.1>%s%s\n"
             "Call-ID: parts@host.test\n"
             "CSeq: 1 %s\n"
             "%s"
             "Content-Length: 0\n\n",
             method, to_tag ? ";tag=" : "", to_tag ? to_tag : "", method, routes ? routes : "");
    return parse(text);
}

Test(proxy_headers, record_route_only_on_requests_that_make_a_dialog)
{
    const char *makes[] = {"INVITE", "SUBSCRIBE", "REFER", "NOTIFY"};
    for (size_t i = 0; i < 4; i++) {
        osip_message_t *m = request(makes[i], NULL, NULL);
        cr_assert(proxy_wants_record_route(m), "%s outside a dialog", makes[i]);
        osip_message_free(m);
        m = request(makes[i], "b", NULL);
        cr_assert_not(proxy_wants_record_route(m), "%s inside a dialog", makes[i]);
        osip_message_free(m);
    }
    osip_message_t *m = request("MESSAGE", NULL, NULL);
    cr_assert_not(proxy_wants_record_route(m));
    osip_message_free(m);
}

Test(proxy_headers, the_remote_target_of_a_strict_routed_request_is_its_last_route)
{
    osip_message_t *m = request("BYE", "b",
                                "Route: <sip:10.0.0.9:5060>\n"
                                "Route: <sip:carol@10.0.0.3:5064>\n");
    const osip_uri_t *loose = proxy_remote_target(m, false);
    cr_assert_str_eq(loose->host, "10.0.0.2");
    const osip_uri_t *strict = proxy_remote_target(m, true);
    cr_assert_str_eq(strict->host, "10.0.0.3");
    cr_assert_str_eq(strict->username, "carol");
    osip_message_free(m);
    m = request("BYE", "b", NULL);
    cr_assert_null(proxy_remote_target(m, true), "strict with no Route: none");
    osip_message_free(m);
}

Test(proxy_headers, pop_takes_the_top_record_route_only)
{
    osip_message_t *m = request("INVITE", NULL,
                                "Record-Route: <sip:10.0.0.9;lr>\n"
                                "Record-Route: <sip:10.0.0.8;lr>\n");
    proxy_pop_record_route(m);
    cr_assert_eq(osip_list_size(&m->record_routes), 1);
    osip_record_route_t *left = osip_list_get(&m->record_routes, 0);
    cr_assert_str_eq(left->url->host, "10.0.0.8");
    proxy_pop_record_route(m);
    proxy_pop_record_route(m); /* none left: nothing happens */
    cr_assert_eq(osip_list_size(&m->record_routes), 0);
    osip_message_free(m);
}

Test(proxy_headers, a_via_without_a_port_means_5060)
{
    osip_message_t *m = request("OPTIONS", NULL, "Via: SIP/2.0/UDP 10.0.0.7;branch=z9hG4bK-3\n");
    cr_assert_eq(proxy_via_port(osip_list_get(&m->vias, 0)), 5070);
    cr_assert_eq(proxy_via_port(osip_list_get(&m->vias, 1)), 5060);
    osip_message_free(m);
}

Test(proxy_headers, the_dialog_key_is_call_id_and_tags)
{
    osip_message_t *m = request("BYE", "b", NULL);
    struct dialog_msg d = proxy_dialog_msg_of(m);
    cr_assert_str_eq(d.call_id, "parts");
    cr_assert_str_eq(d.call_host, "host.test");
    cr_assert_str_eq(d.from_tag, "a");
    cr_assert_str_eq(d.to_tag, "b");
    osip_message_free(m);
    m = request("INVITE", NULL, NULL);
    d = proxy_dialog_msg_of(m);
    cr_assert_null(d.to_tag, "no To tag before the dialog exists");
    osip_message_free(m);
}
