/* Presence documents. See pidf.h. */
#include "switchboard/pidf.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "switchboard/buf.h"
#include "switchboard/dialog_info.h"
#include "switchboard/error.h"

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

/* --- reading ----------------------------------------------------------------- */

/* One tag of the document: its local name (prefix dropped), whether it
 * closes or is empty (<x/>), and where its content begins. */
struct tag {
    const char *name;
    size_t len;
    bool closing, empty;
    const char *after;
};

/* The next tag at or after @p before @end (comments, <?...?> and
 * <!...> skipped); false when there is none. */
static bool next_tag(const char *p, const char *end, struct tag *t)
{
    for (;;) {
        p = memchr(p, '<', (size_t)(end - p));
        if (!p || p + 1 >= end)
            return false;
        p++;
        if (*p == '?' || *p == '!') {
            const char *gt = memchr(p, '>', (size_t)(end - p));
            if (!gt)
                return false;
            p = gt + 1;
            continue;
        }
        t->closing = *p == '/';
        if (t->closing)
            p++;
        const char *n = p;
        while (p < end && !isspace((unsigned char)*p) && *p != '>' && *p != '/')
            p++;
        const char *colon = memchr(n, ':', (size_t)(p - n));
        t->name = colon ? colon + 1 : n;
        t->len = (size_t)(p - t->name);
        const char *gt = memchr(p, '>', (size_t)(end - p));
        if (!gt)
            return false;
        t->empty = gt > p && gt[-1] == '/';
        t->after = gt + 1;
        return true;
    }
}

static bool named(const struct tag *t, const char *name)
{
    return t->len == strlen(name) && !memcmp(t->name, name, t->len);
}

/* Text from @p to the next '<' (or @end), trimmed, the five XML entities
 * undone, into @buf; cut to fit. */
static void text_of(const char *p, const char *end, char *buf, size_t size)
{
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
    const char *stop = memchr(p, '<', (size_t)(end - p));
    if (!stop)
        stop = end;
    while (p < stop && isspace((unsigned char)*p))
        p++;
    while (stop > p && isspace((unsigned char)stop[-1]))
        stop--;
    size_t n = 0;
    while (p < stop && n + 1 < size) {
        size_t k = 0;
        while (k < sizeof(ents) / sizeof(ents[0]) &&
               ((size_t)(stop - p) < strlen(ents[k].ent) ||
                memcmp(p, ents[k].ent, strlen(ents[k].ent)) != 0))
            k++;
        if (k < sizeof(ents) / sizeof(ents[0])) {
            buf[n++] = ents[k].c;
            p += strlen(ents[k].ent);
        } else {
            buf[n++] = *p++;
        }
    }
    buf[n] = '\0';
}

/* An activity kept only when RFC 4480 §3.2 names it (our documents
 * write it back as an element). */
static void keep_activity(const struct tag *t, struct pidf_published *out)
{
    static const char *const known[] = {"appointment", "away",
                                        "breakfast",   "busy",
                                        "dinner",      "holiday",
                                        "in-transit",  "looking-for-work",
                                        "lunch",       "meal",
                                        "meeting",     "on-the-phone",
                                        "performance", "permanent-absence",
                                        "playing",     "presentation",
                                        "shopping",    "sleeping",
                                        "spectator",   "steering",
                                        "travel",      "tv",
                                        "unknown",     "vacation",
                                        "working",     "worship"};
    for (size_t i = 0; !out->activity[0] && i < sizeof(known) / sizeof(known[0]); i++)
        if (named(t, known[i]))
            snprintf(out->activity, sizeof(out->activity), "%s", known[i]);
}

int pidf_read(const char *doc, size_t len, struct pidf_published *out)
{
    memset(out, 0, sizeof(*out));
    const char *end = doc + len;
    struct tag t;
    if (!next_tag(doc, end, &t) || t.closing || !named(&t, "presence"))
        return SB_EMALFORMED;
    bool in_activities = false;
    char word[16];
    for (const char *p = t.after; next_tag(p, end, &t); p = t.after) {
        if (named(&t, "activities") && !t.empty) {
            in_activities = !t.closing;
        } else if (in_activities && !t.closing && !named(&t, "other")) {
            keep_activity(&t, out);
        } else if (!t.closing && !t.empty && named(&t, "basic") && out->basic == PIDF_BASIC_NONE) {
            text_of(t.after, end, word, sizeof(word));
            out->basic = !strcmp(word, "open")     ? PIDF_BASIC_OPEN
                         : !strcmp(word, "closed") ? PIDF_BASIC_CLOSED
                                                   : PIDF_BASIC_NONE;
        } else if (!t.closing && !t.empty && named(&t, "note") && !out->note[0]) {
            text_of(t.after, end, out->note, sizeof(out->note));
        }
    }
    return 0;
}

/* --- writing ----------------------------------------------------------------- */

void pidf_write(struct sb_buf *b, const char *entity, enum pidf_status s,
                const struct pidf_published *pub)
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
    /* RFC 4479 §3.2: what the person does: on the phone as we see it,
     * else what the phone published; nothing said when idle */
    const char *activity = s == PIDF_ON_THE_PHONE                        ? "on-the-phone"
                           : s == PIDF_ONLINE && pub && pub->activity[0] ? pub->activity
                                                                         : NULL;
    const char *note = s == PIDF_ONLINE && pub && pub->note[0] ? pub->note : NULL;
    if (activity || note) {
        sb_buf_puts(b, "  <dm:person id=\"sb-person\">\n");
        if (activity)
            sb_buf_printf(b, "    <rpid:activities><rpid:%s/></rpid:activities>\n", activity);
        if (note) {
            sb_buf_puts(b, "    <dm:note>");
            dinfo_escape(b, note);
            sb_buf_puts(b, "</dm:note>\n");
        }
        sb_buf_puts(b, "  </dm:person>\n");
    }
    sb_buf_puts(b, "</presence>\n");
}
