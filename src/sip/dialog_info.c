/* RFC 4235 dialog-info+xml, written by hand. See dialog_info.h. */
#include "switchboard/dialog_info.h"

#include <inttypes.h>
#include <string.h>

#include "switchboard/buf.h"
#include "switchboard/utf8.h"

void dinfo_set(char *dst, size_t size, const char *src)
{
    size_t len = 0, avail = src ? strlen(src) : 0;
    while (len < avail) {
        size_t n = utf8_sequence((const unsigned char *)src + len, avail - len);
        if (n == 0)
            n = 1; /* a stray byte: dinfo_escape() replaces it */
        if (len + n >= size)
            break;
        len += n;
    }
    if (size) {
        memcpy(dst, src ? src : "", len);
        dst[len] = '\0';
    }
}

const char *dinfo_state_name(enum dinfo_state s)
{
    static const char *const names[] = {"trying", "proceeding", "early", "confirmed", "terminated"};
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "terminated";
}

const char *dinfo_event_name(enum dinfo_event e)
{
    static const char *const names[] = {NULL,        "cancelled",  "rejected", "replaced",
                                        "local-bye", "remote-bye", "error",    "timeout"};
    return (unsigned)e < sizeof(names) / sizeof(names[0]) ? names[e] : NULL;
}

/* XML 1.0 §2.2: no control characters but tab, CR and LF, and only whole
 * UTF-8 characters; anything else becomes U+FFFD. */
void dinfo_escape(struct sb_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        size_t n = utf8_sequence(p + i, len - i);
        const char *rep = NULL;
        switch (n == 1 ? p[i] : 0) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        default:
            if (n == 0 || (n == 1 && p[i] < 0x20 && p[i] != '\t' && p[i] != '\r' && p[i] != '\n'))
                rep = "\xEF\xBF\xBD";
        }
        if (rep)
            sb_buf_puts(b, rep);
        else
            sb_buf_append(b, s + i, n);
        i += n ? n : 1;
    }
}

/* name="value" with a leading space, escaped; nothing for "". */
static void attr(struct sb_buf *b, const char *name, const char *value)
{
    if (!value[0])
        return;
    sb_buf_printf(b, " %s=\"", name);
    dinfo_escape(b, value);
    sb_buf_puts(b, "\"");
}

static void write_state(struct sb_buf *b, const struct dinfo_dialog *d)
{
    sb_buf_puts(b, "    <state");
    const char *event = d->state == DINFO_TERMINATED ? dinfo_event_name(d->event) : NULL;
    if (event)
        sb_buf_printf(b, " event=\"%s\"", event);
    if (d->code >= 100 && d->code <= 699)
        sb_buf_printf(b, " code=\"%d\"", d->code);
    sb_buf_printf(b, ">%s</state>\n", dinfo_state_name(d->state));
}

/* <remote>: the other side's identity, when policy gave one. */
static void write_remote(struct sb_buf *b, const struct dinfo_dialog *d)
{
    if (!d->remote[0])
        return;
    sb_buf_puts(b, "    <remote>\n      <identity");
    attr(b, "display", d->remote_display);
    sb_buf_puts(b, ">");
    dinfo_escape(b, d->remote);
    sb_buf_puts(b, "</identity>\n      <target");
    attr(b, "uri", d->remote);
    sb_buf_puts(b, "/>\n    </remote>\n");
}

static void write_dialog(struct sb_buf *b, const struct dinfo_dialog *d, int64_t now_ms)
{
    sb_buf_puts(b, "  <dialog");
    attr(b, "id", d->id);
    attr(b, "call-id", d->call_id);
    attr(b, "local-tag", d->local_tag);
    attr(b, "remote-tag", d->remote_tag);
    sb_buf_printf(b, " direction=\"%s\">\n", d->initiator ? "initiator" : "recipient");
    write_state(b, d);
    if (d->state == DINFO_CONFIRMED && d->since_ms && now_ms >= d->since_ms)
        sb_buf_printf(b, "    <duration>%" PRId64 "</duration>\n", (now_ms - d->since_ms) / 1000);
    write_remote(b, d);
    sb_buf_puts(b, "  </dialog>\n");
}

void dinfo_write(struct sb_buf *b, const char *entity, uint64_t version, bool full,
                 const struct dinfo_dialog *dialogs, size_t count, int64_t now_ms)
{
    sb_buf_printf(b,
                  "<?xml version=\"1.0\"?>\n"
                  "<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"%" PRIu64
                  "\" state=\"%s\"",
                  version, full ? "full" : "partial");
    attr(b, "entity", entity);
    sb_buf_puts(b, ">\n");
    for (size_t i = 0; i < count; i++)
        write_dialog(b, &dialogs[i], now_ms);
    sb_buf_puts(b, "</dialog-info>\n");
}
