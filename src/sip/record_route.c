/* Our signed Record-Route. See record_route.h. */
#include "switchboard/record_route.h"

#include <stdio.h>
#include <string.h>

#include "switchboard/error.h"
#include "switchboard/flow.h"
#include "switchboard/secret.h"
#include "switchboard/types.h"

#define SIG_BYTES 16
#define SIG_TEXT 23 /* base64url of 16 bytes, with its NUL */

static void sign(const struct secret *s, const char *call_id, const char *tag, const char *user,
                 char *out)
{
    const char *parts[] = {"rr", call_id ? call_id : "", tag ? tag : "", user ? user : ""};
    unsigned char mac[SECRET_MAC_BYTES];
    secret_mac(s, parts, 4, mac);
    secret_b64url(mac, SIG_BYTES, out);
}

int record_route_format(const struct secret *s, int transport, const char *host, unsigned port,
                        const char *call_id, const char *from_tag, const struct flow_side *caller,
                        const struct flow_side *callee, char *out, size_t size)
{
    char token[FLOW_TOKEN_MAX] = "", sig[SIG_TEXT];
    if (((caller && caller->present) || (callee && callee->present)) &&
        flow_token_format(caller, callee, token, sizeof(token)) != 0)
        return SB_ERANGE;
    sign(s, call_id, from_tag, token, sig);
    bool v6 = strchr(host, ':') != NULL;
    const char *param = transport == SB_TCP   ? ";transport=tcp"
                        : transport == SB_TLS ? ";transport=tls"
                                              : "";
    int n = snprintf(out, size, "<sip:%s%s%s%s%s:%u%s;lr;" RECORD_ROUTE_SIG_PARAM "=%s>", token,
                     token[0] ? "@" : "", v6 ? "[" : "", host, v6 ? "]" : "", port, param, sig);
    return n < 0 || (size_t)n >= size ? SB_ERANGE : 0;
}

bool record_route_signed(const struct secret *s, const osip_uri_t *uri, const char *call_id,
                         const char *from_tag, const char *to_tag)
{
    osip_uri_param_t *p = NULL;
    if (osip_uri_uparam_get_byname((osip_uri_t *)uri, RECORD_ROUTE_SIG_PARAM, &p) != 0 || !p ||
        !p->gvalue || strlen(p->gvalue) != SIG_TEXT - 1)
        return false;
    char want[SIG_TEXT];
    const char *tags[2] = {from_tag, to_tag};
    for (int i = 0; i < 2; i++) {
        if (!tags[i])
            continue;
        sign(s, call_id, tags[i], uri->username, want);
        if (secret_equal(want, p->gvalue, SIG_TEXT - 1))
            return true;
    }
    return false;
}
