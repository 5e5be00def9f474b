/* Media relay decisions and ng commands. See media.h. */
#include "switchboard/media.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <osipparser2/osip_port.h>

#include "switchboard/bencode.h"
#include "switchboard/buf.h"
#include "switchboard/error.h"
#include "switchboard/nat.h"
#include "switchboard/ng.h"
#include "switchboard/sip_msg.h"

int media_relay_parse(const char *text, enum media_relay *out)
{
    if (!strcmp(text, "never"))
        *out = MEDIA_RELAY_NEVER;
    else if (!strcmp(text, "nat"))
        *out = MEDIA_RELAY_NAT;
    else if (!strcmp(text, "always"))
        *out = MEDIA_RELAY_ALWAYS;
    else
        return SB_EINVAL;
    return 0;
}

int media_on_failure_parse(const char *text, enum media_on_failure *out)
{
    if (!strcmp(text, "continue"))
        *out = MEDIA_FAIL_CONTINUE;
    else if (!strcmp(text, "refuse"))
        *out = MEDIA_FAIL_REFUSE;
    else
        return SB_EINVAL;
    return 0;
}

static bool is(const char *method, const char *name)
{
    return method && !strcmp(method, name);
}

static enum media_op request_op(const struct media_event *e)
{
    if (is(e->method, "BYE") || is(e->method, "CANCEL"))
        return MEDIA_DELETE;
    if (!e->sdp)
        return MEDIA_NONE; /* an INVITE without: the offer comes in its 2xx */
    if (is(e->method, "INVITE") || is(e->method, "UPDATE"))
        return MEDIA_OFFER;
    return is(e->method, "ACK") ? MEDIA_ANSWER : MEDIA_NONE;
}

static enum media_op response_op(const struct media_event *e)
{
    bool invite = is(e->method, "INVITE");
    if (!invite && !is(e->method, "UPDATE"))
        return MEDIA_NONE;
    if (e->status >= 300) /* a failed re-INVITE leaves the call as it was */
        return invite && !e->in_dialog ? MEDIA_DELETE : MEDIA_NONE;
    if (e->status <= 100 || !e->sdp)
        return MEDIA_NONE;
    return e->request_sdp ? MEDIA_ANSWER : MEDIA_OFFER;
}

enum media_op media_op_of(const struct media_event *e)
{
    return e->status ? response_op(e) : request_op(e);
}

bool media_tags_swapped(const struct media_event *e, enum media_op op)
{
    return (e->status && op == MEDIA_OFFER) || (!e->status && op == MEDIA_ANSWER);
}

osip_body_t *media_sdp(const osip_message_t *msg)
{
    const osip_content_type_t *ct = msg->content_type;
    if (!ct || !ct->type || !ct->subtype || osip_strcasecmp(ct->type, "application") != 0 ||
        osip_strcasecmp(ct->subtype, "sdp") != 0 || osip_list_size(&msg->bodies) != 1)
        return NULL;
    osip_body_t *b = osip_list_get(&msg->bodies, 0);
    return b && b->body && b->length > 0 ? b : NULL;
}

/* The address of the first "c=IN IP4 ADDR" or "c=IN IP6 ADDR" line of
 * @sdp[0..len), into @buf; false when there is none. */
static bool sdp_connection(const char *sdp, size_t len, char *buf, size_t size)
{
    for (size_t at = 0; at < len;) {
        const char *line = sdp + at;
        const char *nl = memchr(line, '\n', len - at);
        size_t n = nl ? (size_t)(nl - line) : len - at;
        at += n + 1;
        if (n < 10 || memcmp(line, "c=IN IP", 7) != 0 || (line[7] != '4' && line[7] != '6') ||
            line[8] != ' ')
            continue;
        size_t a = 0; /* the address: up to a space, "/" or the line's end */
        while (9 + a < n && !strchr(" /\r", line[9 + a]))
            a++;
        if (a == 0 || a >= size)
            return false;
        memcpy(buf, line + 9, a);
        buf[a] = '\0';
        return true;
    }
    return false;
}

bool media_sdp_behind_nat(const char *sdp, size_t len, const struct sb_addr *source)
{
    char host[64], src[64];
    if (!sdp_connection(sdp, len, host, sizeof(host)))
        return false;
    enum nat_addr_kind kind = nat_addr_kind(host);
    if (kind != NAT_ADDR_PRIVATE && kind != NAT_ADDR_SHARED && kind != NAT_ADDR_LINK_LOCAL)
        return false;
    sipmsg_addr_host(source, src, sizeof(src));
    return strcmp(host, src) != 0;
}

static void put(struct sb_buf *b, const char *key, const char *value)
{
    bencode_cstr(b, key);
    bencode_cstr(b, value);
}

static void put_received(struct sb_buf *b, const struct sb_addr *from)
{
    char host[64];
    sipmsg_addr_host(from, host, sizeof(host));
    bencode_cstr(b, "received-from");
    bencode_list(b);
    bencode_cstr(b, from->ss.ss_family == AF_INET6 ? "IP6" : "IP4");
    bencode_cstr(b, host);
    bencode_end(b);
}

enum media_profile media_profile_for(bool to_browser, bool from_browser)
{
    return to_browser     ? MEDIA_PROFILE_WEBRTC
           : from_browser ? MEDIA_PROFILE_RTP
                          : MEDIA_PROFILE_ASIS;
}

static void put_list1(struct sb_buf *b, const char *key, const char *value)
{
    bencode_cstr(b, key);
    bencode_list(b);
    bencode_cstr(b, value);
    bencode_end(b);
}

/* What each side of a call with a browser can always be given, should
 * the other offer none of it: a browser Opus and G.711 (RFC 7874 §3); a
 * phone G.711 and G.729 (desk phones that speak nothing else). */
#define TRANSCODE_COUNT 3
static const char *const codecs_for_browsers[TRANSCODE_COUNT] = {"opus", "PCMU", "PCMA"};
static const char *const codecs_for_phones[TRANSCODE_COUNT] = {"PCMU", "PCMA", "G729"};

/* An offer between a browser and a phone: the codecs the recipient can
 * always take are added to what the offerer has, after its own (RFC
 * 3264 §6.1: the answerer takes the first it shares). The engine
 * transcodes only when the answer picks one it added, i.e. when the two
 * sides share none. */
static void put_transcode(struct sb_buf *b, bool to_browser)
{
    const char *const *v = to_browser ? codecs_for_browsers : codecs_for_phones;
    bencode_cstr(b, "codec");
    bencode_dict(b);
    bencode_cstr(b, "transcode");
    bencode_list(b);
    for (size_t i = 0; i < TRANSCODE_COUNT; i++)
        bencode_cstr(b, v[i]);
    bencode_end(b);
    bencode_end(b);
}

void media_ng_offer_answer(struct sb_buf *b, enum media_op op, const struct media_ng_args *a)
{
    bool webrtc = a->profile == MEDIA_PROFILE_WEBRTC, convert = a->profile != MEDIA_PROFILE_ASIS;
    /* keys in sorted order, as bencoding wants */
    bencode_dict(b);
    /* offering to a browser, the engine takes DTLS's passive role: the
     * browser answers "active" and connects (RFC 5763 §5). Answering a
     * browser's "actpass", it starts the handshake as soon as the offer
     * is in (the browser keeps that first ClientHello until its answer
     * comes) and answers "active", its role by then; passive there would
     * contradict the ClientHello already sent. Never "off": that would
     * end DTLS on the browser's side too. */
    if (webrtc && op == MEDIA_OFFER)
        put(b, "DTLS", "passive");
    put(b, "ICE", webrtc ? "force" : "remove");
    if (convert)
        put_list1(b, "SDES", "off");
    put(b, "call-id", a->call_id);
    if (convert && op == MEDIA_OFFER)
        put_transcode(b, webrtc);
    put(b, "command", op == MEDIA_OFFER ? "offer" : "answer");
    bencode_cstr(b, "flags");
    bencode_list(b);
    if (webrtc) /* browsers name every m= line (RFC 8843 §9.2) */
        bencode_cstr(b, "generate-mid");
    bencode_cstr(b, "strict-source");
    bencode_end(b);
    put(b, "from-tag", a->from_tag);
    if (a->received)
        put_received(b, a->received);
    bencode_cstr(b, "replace");
    bencode_list(b);
    bencode_cstr(b, "origin");
    bencode_cstr(b, "session-connection");
    bencode_end(b);
    if (convert) /* browsers require it (RFC 8829 §5.1.1); phones may not know it */
        put_list1(b, "rtcp-mux", webrtc ? (op == MEDIA_OFFER ? "offer" : "require") : "demux");
    bencode_cstr(b, "sdp");
    bencode_str(b, a->sdp, a->sdp_len);
    if (a->to_tag)
        put(b, "to-tag", a->to_tag);
    if (convert)
        put(b, "transport-protocol", webrtc ? "UDP/TLS/RTP/SAVPF" : "RTP/AVP");
    if (a->via_branch)
        put(b, "via-branch", a->via_branch);
    bencode_end(b);
}

void media_ng_delete(struct sb_buf *b, const char *call_id, const char *from_tag)
{
    bencode_dict(b);
    put(b, "call-id", call_id);
    put(b, "command", "delete");
    if (from_tag)
        put(b, "from-tag", from_tag);
    bencode_end(b);
}

void media_ng_simple(struct sb_buf *b, const char *command, const char *call_id)
{
    bencode_dict(b);
    if (call_id)
        put(b, "call-id", call_id);
    put(b, "command", command);
    bencode_end(b);
}

int media_sdp_replace(osip_message_t *msg, const char *sdp, size_t len)
{
    osip_body_t *body = media_sdp(msg);
    if (!body)
        return SB_EINVAL;
    char *copy = osip_malloc(len + 1);
    if (!copy)
        return SB_ENOMEM;
    memcpy(copy, sdp, len);
    copy[len] = '\0';
    osip_free(body->body);
    body->body = copy;
    body->length = len; /* Content-Length: sipmsg_serialize() writes the body's */
    return 0;
}

/* --- a delete's statistics --------------------------------------------- */

static long long int_at(const struct bencode_node *nodes, long dict, const char *key)
{
    long v = dict >= 0 ? bencode_get(nodes, (size_t)dict, key) : -1;
    return v >= 0 && nodes[v].type == BENCODE_INT ? nodes[v].num : -1;
}

/* Sums the RTP streams' "stats" (what the engine received from that
 * side's endpoint) of tag dictionary @tag into @packets and @bytes. */
static void tag_stats(const struct bencode_node *nodes, long tag, long long *packets,
                      long long *bytes)
{
    long medias = bencode_get(nodes, (size_t)tag, "medias");
    if (medias < 0 || nodes[medias].type != BENCODE_LIST)
        return;
    for (size_t m = (size_t)medias + 1; m < nodes[medias].next; m = nodes[m].next) {
        long streams = nodes[m].type == BENCODE_DICT ? bencode_get(nodes, m, "streams") : -1;
        if (streams < 0 || nodes[streams].type != BENCODE_LIST ||
            (size_t)streams + 1 >= nodes[streams].next)
            continue;
        long rtp = (long)streams + 1; /* the first stream is RTP, the next RTCP */
        long stats =
            nodes[rtp].type == BENCODE_DICT ? bencode_get(nodes, (size_t)rtp, "stats") : -1;
        long long p = int_at(nodes, stats, "packets"), by = int_at(nodes, stats, "bytes");
        if (p >= 0)
            *packets = (*packets < 0 ? 0 : *packets) + p;
        if (by >= 0)
            *bytes = (*bytes < 0 ? 0 : *bytes) + by;
    }
}

bool media_stats_of(const struct ng_reply *r, const char *caller_tag, struct media_stats *out)
{
    *out = (struct media_stats){{-1, -1}, {-1, -1}, -1};
    if (!r->nodes || r->count == 0)
        return false;
    const struct bencode_node *nodes = r->nodes;
    long tags = bencode_get(nodes, 0, "tags");
    bool any = false;
    if (tags >= 0 && nodes[tags].type == BENCODE_DICT) {
        for (size_t k = (size_t)tags + 1; k < nodes[tags].next; k = nodes[nodes[k].next].next) {
            size_t v = nodes[k].next; /* the value after key k */
            if (nodes[v].type != BENCODE_DICT)
                continue;
            int dir = caller_tag && nodes[k].len == strlen(caller_tag) &&
                              !memcmp(nodes[k].str, caller_tag, nodes[k].len)
                          ? 0
                          : 1;
            tag_stats(nodes, (long)v, &out->packets[dir], &out->bytes[dir]);
            any = true;
        }
    }
    long totals = bencode_get(nodes, 0, "totals");
    long rtp = totals >= 0 && nodes[totals].type == BENCODE_DICT
                   ? bencode_get(nodes, (size_t)totals, "RTP")
                   : -1;
    long long errors = int_at(nodes, rtp, "errors");
    if (errors >= 0) {
        out->errors = errors;
        any = true;
    }
    return any;
}
