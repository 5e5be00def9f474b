/* Datagram to validated message. See ingress.h. */
#include "switchboard/ingress.h"

#include <stdbool.h>
#include <string.h>

#include <osipparser2/osip_message.h>

#include "switchboard/sip_msg.h"

enum ingress_kind ingress_parse(char *buf, size_t len, const struct sb_addr *src,
                                struct ingress *out)
{
    out->msg = NULL;
    out->code = 0;
    out->why = NULL;
    if (sipmsg_is_keepalive(buf, len))
        return INGRESS_KEEPALIVE;
    buf[len] = '\0';
    osip_message_t *msg = NULL;
    if (osip_message_init(&msg) != 0)
        return INGRESS_DROP;
    if (osip_message_parse(msg, buf, len) != 0) {
        out->why = "unparsable";
        osip_message_free(msg);
        return INGRESS_DROP;
    }
    out->code = sipmsg_validate(msg, buf, len, &out->why);
    bool can_reply = MSG_IS_REQUEST(msg) && !MSG_IS_ACK(msg) && osip_list_size(&msg->vias) > 0;
    if (MSG_IS_REQUEST(msg) && osip_list_size(&msg->vias) > 0)
        sipmsg_via_stamp_source(sipmsg_top_via(msg), src);
    if (out->code == 0) {
        out->msg = msg;
        return INGRESS_MESSAGE;
    }
    if (can_reply) {
        out->msg = msg;
        return INGRESS_REJECT;
    }
    osip_message_free(msg);
    return INGRESS_DROP;
}
