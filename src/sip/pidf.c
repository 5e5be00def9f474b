/* Presence documents. See pidf.h. */
#include "switchboard/pidf.h"

#include "switchboard/buf.h"
#include "switchboard/dialog_info.h"

const char *pidf_status_name(enum pidf_status s)
{
    switch (s) {
    case PIDF_OFFLINE:
        return "offline";
    case PIDF_ONLINE:
        return "online";
    case PIDF_ON_THE_PHONE:
        return "on-the-phone";
    }
    return "?";
}

void pidf_write(struct sb_buf *b, const char *entity, enum pidf_status s)
{
    sb_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\""
                   " xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\""
                   " xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" entity=\"");
    dinfo_escape(b, entity);
    sb_buf_printf(b,
                  "\">\n  <tuple id=\"sb-phone\">\n    <status><basic>%s</basic></status>\n"
                  "  </tuple>\n",
                  s == PIDF_OFFLINE ? "closed" : "open");
    /* RFC 4479 §3.2: what the person does; nothing said when idle */
    if (s == PIDF_ON_THE_PHONE)
        sb_buf_puts(b, "  <dm:person id=\"sb-person\">\n"
                       "    <rpid:activities><rpid:on-the-phone/></rpid:activities>\n"
                       "  </dm:person>\n");
    sb_buf_puts(b, "</presence>\n");
}
