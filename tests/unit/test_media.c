/* Unit tests for src/sip/media.c: when a message's SDP goes to rtpengine
 * and as what (the decision table of media.h), whose tag leads, which SDP
 * says its sender is behind NAT, the ng commands as rtpengine reads them,
 * the body swapped in place, and a delete's figures. */
#include <criterion/criterion.h>
#include <string.h>

#include <osipparser2/osip_parser.h>

#include "switchboard/bencode.h"
#include "switchboard/buf.h"
#include "switchboard/error.h"
#include "switchboard/media.h"
#include "switchboard/ng.h"
#include "switchboard/sip_msg.h"

static void setup(void)
{
    parser_init();
}

TestSuite(media, .init = setup);

struct row {
    const char *method;
    int status;
    bool sdp, in_dialog, request_sdp;
    enum media_op want;
    bool swapped;
};

Test(media, when_the_engine_is_asked)
{
    static const struct row rows[] = {
        /* requests */
        {"INVITE", 0, true, false, false, MEDIA_OFFER, false},
        {"INVITE", 0, true, true, false, MEDIA_OFFER, false},  /* re-INVITE */
        {"INVITE", 0, false, false, false, MEDIA_NONE, false}, /* late offer */
        {"UPDATE", 0, true, true, false, MEDIA_OFFER, false},
        {"ACK", 0, true, true, false, MEDIA_ANSWER, true}, /* a late offer's answer */
        {"ACK", 0, false, true, false, MEDIA_NONE, false},
        {"BYE", 0, false, true, false, MEDIA_DELETE, false},
        {"CANCEL", 0, false, false, false, MEDIA_DELETE, false},
        {"INFO", 0, true, true, false, MEDIA_NONE, false},
        {"MESSAGE", 0, true, false, false, MEDIA_NONE, false},
        /* responses */
        {"INVITE", 100, false, false, true, MEDIA_NONE, false},
        {"INVITE", 180, false, false, true, MEDIA_NONE, false},
        {"INVITE", 183, true, false, true, MEDIA_ANSWER, false},
        {"INVITE", 200, true, false, true, MEDIA_ANSWER, false},
        {"INVITE", 200, true, false, false, MEDIA_OFFER, true}, /* late offer */
        {"INVITE", 200, true, true, true, MEDIA_ANSWER, false}, /* re-INVITE's */
        {"UPDATE", 200, true, true, true, MEDIA_ANSWER, false},
        {"INVITE", 486, false, false, true, MEDIA_DELETE, false},
        {"INVITE", 603, false, false, true, MEDIA_DELETE, false},
        {"INVITE", 487, false, true, true, MEDIA_NONE, false}, /* a failed re-INVITE */
        {"INVITE", 488, false, true, true, MEDIA_NONE, false},
        {"BYE", 200, false, true, false, MEDIA_NONE, false},
        {"OPTIONS", 200, true, false, false, MEDIA_NONE, false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *r = &rows[i];
        struct media_event e = {.method = r->method,
                                .status = r->status,
                                .sdp = r->sdp,
                                .in_dialog = r->in_dialog,
                                .request_sdp = r->request_sdp};
        enum media_op op = media_op_of(&e);
        cr_assert_eq(op, r->want, "row %zu: %s %d", i, r->method, r->status);
        if (op == MEDIA_OFFER || op == MEDIA_ANSWER)
            cr_assert_eq(media_tags_swapped(&e, op), r->swapped, "row %zu", i);
    }
}

Test(media, settings_parse)
{
    enum media_relay relay;
    enum media_on_failure fail;
    cr_assert_eq(media_relay_parse("never", &relay), 0);
    cr_assert_eq(relay, MEDIA_RELAY_NEVER);
    cr_assert_eq(media_relay_parse("nat", &relay), 0);
    cr_assert_eq(relay, MEDIA_RELAY_NAT);
    cr_assert_eq(media_relay_parse("always", &relay), 0);
    cr_assert_eq(relay, MEDIA_RELAY_ALWAYS);
    cr_assert_eq(media_relay_parse("sometimes", &relay), SB_EINVAL);
    cr_assert_eq(media_on_failure_parse("refuse", &fail), 0);
    cr_assert_eq(fail, MEDIA_FAIL_REFUSE);
    cr_assert_eq(media_on_failure_parse("continue", &fail), 0);
    cr_assert_eq(fail, MEDIA_FAIL_CONTINUE);
    cr_assert_eq(media_on_failure_parse("", &fail), SB_EINVAL);
}

static struct sb_addr addr(const char *text)
{
    struct sb_addr a;
    cr_assert_eq(sipmsg_addr_parse(text, &a), 0, "%s", text);
    return a;
}

#define SDP(c)                                                                                     \
    "v=0\r\no=- 1 1 IN IP4 " c "\r\ns=-\r\nc=IN IP4 " c "\r\nt=0 0\r\n"                            \
    "m=audio 4000 RTP/AVP 0\r\n"

Test(media, an_sdp_address_others_cannot_reach_means_nat)
{
    struct sb_addr router = addr("203.0.113.7:5060");
    struct sb_addr lan = addr("192.168.1.20:5060");
    const char *home = SDP("192.168.1.20");
    cr_assert(media_sdp_behind_nat(home, strlen(home), &router), "private, sent from elsewhere");
    cr_assert_not(media_sdp_behind_nat(home, strlen(home), &lan), "its own address: on our LAN");
    const char *cgn = SDP("100.64.3.4");
    cr_assert(media_sdp_behind_nat(cgn, strlen(cgn), &router), "carrier-grade NAT");
    const char *pub = SDP("198.51.100.4");
    cr_assert_not(media_sdp_behind_nat(pub, strlen(pub), &router), "a public address is reachable");
    const char *none = "v=0\r\nm=audio 4000 RTP/AVP 0\r\n";
    cr_assert_not(media_sdp_behind_nat(none, strlen(none), &router));
    const char *cut = "c=IN IP4 ";
    cr_assert_not(media_sdp_behind_nat(cut, strlen(cut), &router));
}

/* Reads back what a builder wrote. */
static size_t decode(const struct sb_buf *b, struct bencode_node *nodes, size_t max)
{
    size_t count;
    cr_assert(!b->failed);
    cr_assert_eq(bencode_parse(b->data, b->len, nodes, max, &count), (long)b->len);
    return count;
}

static void assert_str(const struct bencode_node *n, const char *key, const char *want)
{
    long v = bencode_get(n, 0, key);
    cr_assert(v >= 0, "no %s", key);
    cr_assert(bencode_is(n, v, want), "%s is %.*s, not %s", key, (int)n[v].len, n[v].str, want);
}

Test(media, an_offer_as_rtpengine_reads_it)
{
    struct sb_addr from = addr("203.0.113.7:5060");
    const char *sdp = SDP("192.168.1.20");
    struct media_ng_args a = {
        .call_id = "c1@x", .from_tag = "ft", .sdp = sdp, .sdp_len = strlen(sdp), .received = &from};
    struct sb_buf b = {0};
    media_ng_offer_answer(&b, MEDIA_OFFER, &a);
    struct bencode_node n[64];
    decode(&b, n, 64);
    assert_str(n, "command", "offer");
    assert_str(n, "call-id", "c1@x");
    assert_str(n, "from-tag", "ft");
    assert_str(n, "ICE", "remove");
    assert_str(n, "sdp", sdp);
    cr_assert_eq(bencode_get(n, 0, "to-tag"), -1, "no To tag yet");
    long flags = bencode_get(n, 0, "flags");
    cr_assert(flags >= 0 && n[flags].type == BENCODE_LIST &&
              bencode_is(n, flags + 1, "strict-source"));
    long rf = bencode_get(n, 0, "received-from");
    cr_assert(rf >= 0 && bencode_is(n, rf + 1, "IP4") && bencode_is(n, rf + 2, "203.0.113.7"));
    sb_buf_free(&b);

    a.to_tag = "tt";
    media_ng_offer_answer(&b, MEDIA_ANSWER, &a);
    decode(&b, n, 64);
    assert_str(n, "command", "answer");
    assert_str(n, "to-tag", "tt");
    cr_assert_eq(bencode_get(n, 0, "transport-protocol"), -1, "no browser: the transport stays");
    cr_assert_eq(bencode_get(n, 0, "DTLS"), -1);
    sb_buf_free(&b);

    media_ng_delete(&b, "c1@x", "ft");
    decode(&b, n, 64);
    assert_str(n, "command", "delete");
    assert_str(n, "from-tag", "ft");
    sb_buf_free(&b);
    media_ng_delete(&b, "c1@x", NULL);
    decode(&b, n, 64);
    cr_assert_eq(bencode_get(n, 0, "from-tag"), -1, "the whole call");
    sb_buf_free(&b);
}

static osip_message_t *invite(const char *body)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
             "From: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.com>\r\n"
             "Call-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    osip_message_t *m;
    osip_message_init(&m);
    cr_assert_eq(osip_message_parse(m, text, strlen(text)), 0);
    cr_assert_eq(sipmsg_keep_raw_body(m, text, strlen(text)), 0);
    return m;
}

Test(media, the_engines_sdp_replaces_the_body)
{
    osip_message_t *m = invite(SDP("192.168.1.20"));
    cr_assert_not_null(media_sdp(m));
    const char *relayed = SDP("203.0.113.1");
    cr_assert_eq(media_sdp_replace(m, relayed, strlen(relayed)), 0);
    char *out;
    size_t len;
    cr_assert_eq(sipmsg_serialize(m, &out, &len), 0);
    char want[48];
    snprintf(want, sizeof(want), "Content-Length: %zu\r\n", strlen(relayed));
    cr_assert(strstr(out, want) != NULL, "%s", out);
    cr_assert(strstr(out, relayed) != NULL && strstr(out, "192.168.1.20") == NULL, "%s", out);
    cr_assert_eq(len, (size_t)(strstr(out, relayed) - out) + strlen(relayed));
    osip_free(out);
    osip_message_free(m);
}

/* A delete's reply as rtpengine 10.5 writes it (cut to what is read):
 * per tag, its medias, each with an RTP stream, then an RTCP one. */
/* clang-format off */
#define STREAM(bytes, packets) "d5:statsd5:bytesi" #bytes "e6:errorsi0e7:packetsi" #packets "eee"
#define TAG(name, streams) name "d6:mediasld7:streamsl" streams "eeee"
static const char delete_reply[] =
    "d4:tagsd" TAG("2:ft", STREAM(8568, 34) STREAM(100, 2)) TAG("2:tt", STREAM(1720, 10)) "e"
    "6:totalsd3:RTPd5:bytesi10288e6:errorsi1e7:packetsi44eee"
    "6:result2:ok"
    "e";
/* clang-format on */

Test(media, a_deletes_figures_per_direction)
{
    char dgram[1024];
    snprintf(dgram, sizeof(dgram), "x1 %s", delete_reply);
    struct bencode_node nodes[128];
    struct ng_reply r;
    cr_assert_eq(ng_reply_parse(dgram, strlen(dgram), nodes, 128, &r), 0);
    struct media_stats st;
    cr_assert(media_stats_of(&r, "ft", &st));
    cr_assert_eq(st.packets[0], 34, "the caller's RTP stream, not its RTCP");
    cr_assert_eq(st.bytes[0], 8568);
    cr_assert_eq(st.packets[1], 10);
    cr_assert_eq(st.bytes[1], 1720);
    cr_assert_eq(st.errors, 1);

    snprintf(dgram, sizeof(dgram), "x2 d6:result2:oke");
    cr_assert_eq(ng_reply_parse(dgram, strlen(dgram), nodes, 128, &r), 0);
    cr_assert_not(media_stats_of(&r, "ft", &st), "a bare ok: no figures");
    cr_assert_eq(st.packets[0], -1);
}

/* The offer's codec/transcode list is @a, @b, @c. */
static void assert_transcode(const struct bencode_node *n, const char *a, const char *b,
                             const char *c)
{
    long codec = bencode_get(n, 0, "codec");
    cr_assert(codec >= 0 && n[codec].type == BENCODE_DICT);
    long t = bencode_get(n, (size_t)codec, "transcode");
    cr_assert(t >= 0 && n[t].type == BENCODE_LIST);
    cr_assert(bencode_is(n, t + 1, a) && bencode_is(n, t + 2, b) && bencode_is(n, t + 3, c));
    cr_assert_eq(n[t].next, (size_t)t + 4, "those three only");
}

/* A call with a browser (RFC 7118): what each side receives is made
 * WebRTC (to the browser) or plain RTP/AVP (to the phone); an offer
 * lists the codecs the recipient can always take (transcoding). */
Test(media, browser_profiles)
{
    const char *sdp = "v=0\r\n";
    struct media_ng_args a = {.call_id = "c@x", .from_tag = "ft", .sdp = sdp, .sdp_len = 5};
    struct bencode_node n[64];
    struct sb_buf b = {0};
    cr_assert_eq(media_profile_for(true, false), MEDIA_PROFILE_WEBRTC);
    cr_assert_eq(media_profile_for(true, true), MEDIA_PROFILE_WEBRTC);
    cr_assert_eq(media_profile_for(false, true), MEDIA_PROFILE_RTP);
    cr_assert_eq(media_profile_for(false, false), MEDIA_PROFILE_ASIS);

    a.profile = MEDIA_PROFILE_WEBRTC;
    media_ng_offer_answer(&b, MEDIA_OFFER, &a);
    decode(&b, n, 64);
    assert_str(n, "ICE", "force");
    assert_str(n, "DTLS", "passive");
    assert_str(n, "transport-protocol", "UDP/TLS/RTP/SAVPF");
    long mux = bencode_get(n, 0, "rtcp-mux");
    cr_assert(mux >= 0 && bencode_is(n, mux + 1, "offer"));
    long sdes = bencode_get(n, 0, "SDES");
    cr_assert(sdes >= 0 && bencode_is(n, sdes + 1, "off"));
    long flags = bencode_get(n, 0, "flags");
    cr_assert(flags >= 0 && bencode_is(n, flags + 1, "generate-mid"));
    assert_transcode(n, "opus", "PCMU", "PCMA");
    sb_buf_free(&b);
    media_ng_offer_answer(&b, MEDIA_ANSWER, &a);
    decode(&b, n, 64);
    mux = bencode_get(n, 0, "rtcp-mux");
    cr_assert(mux >= 0 && bencode_is(n, mux + 1, "require"), "the browser offered it");
    cr_assert_eq(bencode_get(n, 0, "DTLS"), -1, "the engine's role is the one it took");
    cr_assert_eq(bencode_get(n, 0, "codec"), -1, "an answer adds no codec");
    sb_buf_free(&b);

    a.profile = MEDIA_PROFILE_RTP;
    media_ng_offer_answer(&b, MEDIA_OFFER, &a);
    decode(&b, n, 64);
    assert_str(n, "ICE", "remove");
    /* "off" would end DTLS on the browser's side too; the phone's RTP/AVP
     * keeps DTLS away from the phone */
    cr_assert_eq(bencode_get(n, 0, "DTLS"), -1);
    assert_str(n, "transport-protocol", "RTP/AVP");
    mux = bencode_get(n, 0, "rtcp-mux");
    cr_assert(mux >= 0 && bencode_is(n, mux + 1, "demux"));
    assert_transcode(n, "PCMU", "PCMA", "G729");
    sb_buf_free(&b);

    a.profile = MEDIA_PROFILE_ASIS; /* phone to phone: the codecs are theirs */
    media_ng_offer_answer(&b, MEDIA_OFFER, &a);
    decode(&b, n, 64);
    cr_assert_eq(bencode_get(n, 0, "codec"), -1);
    sb_buf_free(&b);
}
