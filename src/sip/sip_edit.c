/* Forwarding by editing the received bytes. See sip_edit.h. */
#include "switchboard/sip_edit.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "switchboard/error.h"
#include "switchboard/fixbuf.h"

static void fail(struct sipedit *e)
{
    e->failed = true;
}

/* --- the index ------------------------------------------------------------ */

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The kind a field name (trimmed) names, compact forms included
 * (RFC 3261 §7.3.3). By length and first letter before any compare: it
 * runs for every field of every message relayed. */
static enum sipedit_kind kind_of(const char *name, size_t n)
{
    static const struct {
        const char *name;
        uint8_t len;
        char compact;
        enum sipedit_kind kind;
    } names[] = {
        {"via", 3, 'v', SIPEDIT_VIA},
        {"route", 5, 0, SIPEDIT_ROUTE},
        {"record-route", 12, 0, SIPEDIT_RECORD_ROUTE},
        {"max-forwards", 12, 0, SIPEDIT_MAX_FORWARDS},
        {"cseq", 4, 0, SIPEDIT_CSEQ},
        {"content-length", 14, 'l', SIPEDIT_CONTENT_LENGTH},
        {"from", 4, 'f', SIPEDIT_FROM},
        {"to", 2, 't', SIPEDIT_TO},
        {"call-id", 7, 'i', SIPEDIT_CALL_ID},
    };
    if (n == 0)
        return SIPEDIT_OTHER;
    char first = (char)(name[0] | 32);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (n == 1 && names[i].compact == first)
            return names[i].kind;
        if (n == names[i].len && names[i].name[0] == first &&
            strncasecmp(name + 1, names[i].name + 1, n - 1) == 0)
            return names[i].kind;
    }
    return SIPEDIT_OTHER;
}

/* The first CRLF at or after @at, or 0 when there is none (or a bare LF
 * comes first: a line shape not edited). */
static uint32_t line_end(const struct sipedit *e, uint32_t at)
{
    const char *nl = memchr(e->raw + at, '\n', e->len - at);
    if (!nl || nl == e->raw + at || nl[-1] != '\r')
        return 0;
    return (uint32_t)(nl - e->raw) - 1;
}

/* "METHOD SP Request-URI SP SIP/2.0" or "SIP/2.0 SP code SP reason". */
static int index_start_line(struct sipedit *e, uint32_t eol)
{
    const char *s = e->raw;
    if (eol >= 12 && memcmp(s, "SIP/2.0 ", 8) == 0) {
        const char *sp = memchr(s + 8, ' ', eol - 8);
        e->request = false;
        e->first = sp ? (uint32_t)(sp - s) + 1 : eol;
        e->first_end = eol;
        return 0;
    }
    const char *sp1 = memchr(s, ' ', eol);
    if (!sp1 || eol < 9 || memcmp(s + eol - 8, " SIP/2.0", 8) != 0 || sp1 >= s + eol - 8)
        return SB_EMALFORMED;
    e->request = true;
    e->first = (uint32_t)(sp1 - s) + 1;
    e->first_end = eol - 8;
    return e->first < e->first_end ? 0 : SB_EMALFORMED;
}

/* One header field starting at @at, its line ending at @eol. */
static int index_field(struct sipedit *e, uint32_t at, uint32_t eol)
{
    const char *s = e->raw;
    if (s[at] == ' ' || s[at] == '\t') { /* a continuation (§7.3.1) */
        if (e->count == 0)
            return SB_EMALFORMED;
        e->lines[e->count - 1].end = eol + 2;
        return 0;
    }
    const char *colon = memchr(s + at, ':', eol - at);
    if (!colon || e->count == SIPEDIT_LINES)
        return SB_EMALFORMED;
    size_t n = (size_t)(colon - (s + at));
    while (n && (s[at + n - 1] == ' ' || s[at + n - 1] == '\t'))
        n--;
    uint32_t value = (uint32_t)(colon - s) + 1;
    while (value < eol && (s[value] == ' ' || s[value] == '\t'))
        value++;
    e->lines[e->count++] = (struct sipedit_line){
        .start = at, .value = value, .end = eol + 2, .kind = (uint8_t)kind_of(s + at, n)};
    return 0;
}

/* The body's end: Content-Length's bytes after the blank line, at most
 * what arrived (§18.3); all of it when the header is absent (UDP). */
static int index_body(struct sipedit *e)
{
    e->body_end = (uint32_t)e->len;
    bool seen = false;
    for (unsigned i = 0; i < e->count; i++) {
        const struct sipedit_line *l = &e->lines[i];
        if (l->kind != SIPEDIT_CONTENT_LENGTH)
            continue;
        /* digits, then blanks to the end of the field (§20.14) */
        uint32_t at = l->value, digits = 0;
        unsigned long n = 0;
        for (; at < l->end - 2 && e->raw[at] >= '0' && e->raw[at] <= '9' && digits < 9;
             at++, digits++)
            n = n * 10 + (unsigned long)(e->raw[at] - '0');
        while (at < l->end - 2 && blank(e->raw[at]))
            at++;
        if (seen || digits == 0 || at != l->end - 2)
            return SB_EMALFORMED;
        seen = true;
        if (n < e->len - e->body)
            e->body_end = e->body + (uint32_t)n;
    }
    return 0;
}

/* --- values --------------------------------------------------------------- */

/* Splits field @l's value at commas outside quotes and <> into the
 * edit's values. Returns false past SIPEDIT_VALUES or on an unclosed
 * quote or angle bracket. */
static bool split_values(struct sipedit *e, struct sipedit_line *l)
{
    /* the bytes that can end a value or open a part that hides a comma */
    static const bool special[256] = {
        ['"'] = true, ['\\'] = true, ['<'] = true, ['>'] = true, [','] = true};
    const char *s = e->raw;
    uint32_t at = l->value, end = l->end - 2;
    l->first = (uint16_t)e->nvalues;
    l->nvalues = 0;
    while (at < end) {
        while (at < end && (blank(s[at]) || s[at] == ','))
            at++;
        if (at == end)
            break;
        if (e->nvalues == SIPEDIT_VALUES || l->nvalues == UINT8_MAX)
            return false;
        uint32_t start = at;
        bool quoted = false;
        int angle = 0;
        for (; at < end; at++) {
            char c = s[at];
            if (!special[(unsigned char)c])
                continue;
            if (quoted && c == '\\' && at + 1 < end)
                at++;
            else if (c == '"')
                quoted = !quoted;
            else if (!quoted && c == '<')
                angle++;
            else if (!quoted && c == '>' && angle > 0)
                angle--;
            else if (!quoted && !angle && c == ',')
                break;
        }
        if (quoted || angle)
            return false;
        uint32_t stop = at;
        while (stop > start && blank(s[stop - 1]))
            stop--;
        e->values[e->nvalues++] = (struct sipedit_span){start, stop};
        l->nvalues++;
    }
    return true;
}

/* Every field of a kind an edit names, split once (From, To and Call-ID
 * are only ever copied whole: they are not). */
static void index_values(struct sipedit *e)
{
    for (unsigned i = 0; i < e->count; i++) {
        struct sipedit_line *l = &e->lines[i];
        if (l->kind == SIPEDIT_OTHER || l->kind >= SIPEDIT_FROM)
            continue;
        if (split_values(e, l))
            e->kind_values[l->kind] += l->nvalues;
        else
            e->unreadable |= 1u << l->kind;
    }
}

/* A CR not before an LF: libosip2 ends a line there, the index would not
 * (a bare LF already fails line_end()). */
static bool bare_cr(const char *s, uint32_t n)
{
    for (const char *cr = memchr(s, '\r', n); cr;
         cr = memchr(cr + 1, '\r', n - (size_t)(cr + 1 - s)))
        if (cr + 1 >= s + n || cr[1] != '\n')
            return true;
    return false;
}

int sipedit_open(struct sipedit *e, const char *raw, size_t len)
{
    e->raw = raw;
    e->len = len;
    e->count = 0;
    e->nvalues = 0;
    e->unreadable = 0;
    memset(e->kind_values, 0, sizeof(e->kind_values));
    e->nops = 0;
    e->text_len = 0;
    e->failed = true;
    if (len == 0 || len >= UINT32_MAX / 2)
        return SB_EMALFORMED;
    uint32_t eol = line_end(e, 0);
    if (!eol || index_start_line(e, eol) != 0)
        return SB_EMALFORMED;
    uint32_t at = eol + 2;
    for (;;) {
        if (at + 2 > len)
            return SB_EMALFORMED; /* no blank line */
        if (raw[at] == '\r' && raw[at + 1] == '\n')
            break;
        eol = line_end(e, at);
        if (!eol || index_field(e, at, eol) != 0)
            return SB_EMALFORMED;
        at = eol + 2;
    }
    e->head_end = at;
    e->body = at + 2;
    if (memchr(raw, '\0', e->head_end) || bare_cr(raw, e->head_end) || index_body(e) != 0)
        return SB_EMALFORMED;
    index_values(e);
    e->failed = false;
    return 0;
}

unsigned sipedit_count(const struct sipedit *e, enum sipedit_kind kind)
{
    return e->unreadable & (1u << kind) || kind >= SIPEDIT_FROM ? UINT_MAX : e->kind_values[kind];
}

/* Value @index of @kind: its span. */
static bool find_value(const struct sipedit *e, enum sipedit_kind kind, unsigned index,
                       struct sipedit_span *out)
{
    if (e->unreadable & (1u << kind) || kind >= SIPEDIT_FROM)
        return false;
    for (unsigned i = 0; i < e->count; i++) {
        const struct sipedit_line *l = &e->lines[i];
        if (l->kind != kind)
            continue;
        if (index < l->nvalues) {
            *out = e->values[l->first + index];
            return true;
        }
        index -= l->nvalues;
    }
    return false;
}

/* Where line @l's value ends: before its CRLF and trailing blanks. */
static uint32_t value_end(const struct sipedit *e, const struct sipedit_line *l)
{
    uint32_t end = l->end;
    while (end > l->value && (e->raw[end - 1] == ' ' || e->raw[end - 1] == '\t' ||
                              e->raw[end - 1] == '\r' || e->raw[end - 1] == '\n'))
        end--;
    return end;
}

const char *sipedit_field(const struct sipedit *e, enum sipedit_kind kind, size_t *len)
{
    for (unsigned i = 0; i < e->count; i++) {
        const struct sipedit_line *l = &e->lines[i];
        if (l->kind == kind) {
            *len = value_end(e, l) - l->value;
            return e->raw + l->value;
        }
    }
    return NULL;
}

const char *sipedit_value(const struct sipedit *e, enum sipedit_kind kind, unsigned index,
                          size_t *len)
{
    struct sipedit_span v;
    if (!find_value(e, kind, index, &v))
        return NULL;
    *len = v.end - v.start;
    return e->raw + v.start;
}

/* --- edits ---------------------------------------------------------------- */

/* Copies @n bytes of @s (and @m of @t) into the text store. */
static const char *store(struct sipedit *e, const char *s, size_t n, const char *t, size_t m)
{
    if (e->text_len + n + m > SIPEDIT_TEXT) {
        fail(e);
        return NULL;
    }
    char *at = e->text + e->text_len;
    memcpy(at, s, n);
    if (m)
        memcpy(at + n, t, m);
    e->text_len += (uint32_t)(n + m);
    return at;
}

static void add_op(struct sipedit *e, uint32_t at, uint32_t cut, const char *with, size_t with_len)
{
    if (e->failed || (with_len && !with) || e->nops == SIPEDIT_OPS) {
        fail(e);
        return;
    }
    e->ops[e->nops++] =
        (struct sipedit_op){.at = at, .cut = cut, .with = with, .with_len = (uint32_t)with_len};
}

/* Adds "@name: @text CRLF" at @at. */
static void add_field(struct sipedit *e, uint32_t at, const char *name, const char *text)
{
    char head[64];
    struct fixbuf b;
    fixbuf_init(&b, head, sizeof(head));
    fixbuf_puts(&b, name);
    fixbuf_puts(&b, ": ");
    long n = fixbuf_end(&b);
    size_t t = strlen(text);
    if (n < 0 || e->text_len + (size_t)n + t + 2 > SIPEDIT_TEXT) {
        fail(e);
        return;
    }
    const char *with = store(e, head, (size_t)n, text, t);
    store(e, "\r\n", 2, NULL, 0);
    add_op(e, at, 0, with, (size_t)n + t + 2);
}

static const struct sipedit_line *first_of(const struct sipedit *e, enum sipedit_kind kind)
{
    for (unsigned i = 0; i < e->count; i++)
        if (e->lines[i].kind == kind)
            return &e->lines[i];
    return NULL;
}

void sipedit_drop_values(struct sipedit *e, enum sipedit_kind kind, unsigned n)
{
    if (e->unreadable & (1u << kind))
        fail(e);
    for (unsigned i = 0; i < e->count && n > 0 && !e->failed; i++) {
        const struct sipedit_line *l = &e->lines[i];
        if (l->kind != kind)
            continue;
        if (l->nvalues <= n) {
            add_op(e, l->start, l->end - l->start, NULL, 0); /* the field goes whole */
            n -= l->nvalues;
        } else {
            const struct sipedit_span *v = &e->values[l->first];
            add_op(e, v[0].start, v[n].start - v[0].start, NULL, 0);
            n = 0;
        }
    }
    if (n > 0)
        fail(e);
}

void sipedit_replace_value(struct sipedit *e, enum sipedit_kind kind, unsigned index,
                           const char *text)
{
    struct sipedit_span v;
    if (!find_value(e, kind, index, &v)) {
        fail(e);
        return;
    }
    size_t t = strlen(text);
    add_op(e, v.start, v.end - v.start, store(e, text, t, NULL, 0), t);
}

void sipedit_insert_field(struct sipedit *e, enum sipedit_kind kind, const char *name,
                          const char *text)
{
    const struct sipedit_line *l = first_of(e, kind);
    uint32_t at = e->head_end;
    if (l) {
        at = l->start;
    } else {
        for (unsigned i = 0; i < e->count; i++)
            if (e->lines[i].kind == SIPEDIT_VIA)
                at = e->lines[i].end;
    }
    add_field(e, at, name, text);
}

void sipedit_set_field(struct sipedit *e, enum sipedit_kind kind, const char *name,
                       const char *text)
{
    const struct sipedit_line *l = first_of(e, kind);
    if (!l) {
        add_field(e, e->head_end, name, text);
        return;
    }
    size_t t = strlen(text);
    add_op(e, l->value, l->end - 2 - l->value, store(e, text, t, NULL, 0), t);
}

const char *sipedit_first(const struct sipedit *e, size_t *len)
{
    *len = e->first_end - e->first;
    return e->raw + e->first;
}

void sipedit_set_first(struct sipedit *e, const char *text)
{
    size_t t = strlen(text);
    add_op(e, e->first, e->first_end - e->first, store(e, text, t, NULL, 0), t);
}

const char *sipedit_body(const struct sipedit *e, size_t *len)
{
    *len = e->body_end - e->body;
    return e->raw + e->body;
}

void sipedit_set_body(struct sipedit *e, const char *body, size_t len)
{
    char n[24];
    struct fixbuf b;
    fixbuf_init(&b, n, sizeof(n));
    fixbuf_uint(&b, len);
    fixbuf_end(&b);
    sipedit_set_field(e, SIPEDIT_CONTENT_LENGTH, "Content-Length", n);
    if (e->body_end > e->body || len)
        add_op(e, e->body, e->body_end - e->body, len ? body : "", len);
}

/* --- the result ----------------------------------------------------------- */

/* In offset order, the order of making among equal offsets; false when
 * two overlap. */
static bool sort_ops(struct sipedit *e)
{
    for (unsigned i = 1; i < e->nops; i++) {
        struct sipedit_op op = e->ops[i];
        unsigned j = i;
        for (; j > 0 && e->ops[j - 1].at > op.at; j--)
            e->ops[j] = e->ops[j - 1];
        e->ops[j] = op;
    }
    for (unsigned i = 1; i < e->nops; i++)
        if (e->ops[i - 1].at + e->ops[i - 1].cut > e->ops[i].at)
            return false;
    return true;
}

int sipedit_render(struct sipedit *e, char **out, size_t *len)
{
    if (e->failed || !sort_ops(e))
        return SB_EAGAIN;
    size_t total = e->body_end;
    for (unsigned i = 0; i < e->nops; i++)
        total = total - e->ops[i].cut + e->ops[i].with_len;
    char *text = malloc(total + 1);
    if (!text)
        return SB_ENOMEM;
    size_t w = 0;
    uint32_t from = 0;
    for (unsigned i = 0; i < e->nops; i++) {
        const struct sipedit_op *op = &e->ops[i];
        memcpy(text + w, e->raw + from, op->at - from);
        w += op->at - from;
        if (op->with_len)
            memcpy(text + w, op->with, op->with_len);
        w += op->with_len;
        from = op->at + op->cut;
    }
    memcpy(text + w, e->raw + from, e->body_end - from);
    w += e->body_end - from;
    text[w] = '\0';
    *out = text;
    *len = w;
    return 0;
}

/* --- a reply from the request's lines ------------------------------------- */

/* Appends @n bytes of @s at *@at in @dst (or only counts them, @dst NULL). */
static void put(char *dst, size_t *at, const char *s, size_t n)
{
    if (dst && n)
        memcpy(dst + *at, s, n);
    *at += n;
}

static void put_str(char *dst, size_t *at, const char *s)
{
    put(dst, at, s, strlen(s));
}

/* The To field of line @l with ";tag=@tag" after its value (§8.2.6.2):
 * a header parameter whether or not the URI is in angle brackets. */
static void put_tagged_to(const struct sipedit *e, const struct sipedit_line *l, const char *tag,
                          char *dst, size_t *at)
{
    put(dst, at, e->raw + l->start, value_end(e, l) - l->start);
    put_str(dst, at, ";tag=");
    put_str(dst, at, tag);
    put(dst, at, "\r\n", 2);
}

/* The reply's bytes into @dst (NULL: only measured); returns how many. */
static size_t write_reply(const struct sipedit *e, const char *const status[2], const char *top_via,
                          const char *to_tag, const char *extra, const char *server, char *dst)
{
    size_t at = 0;
    bool first_via = true;
    put_str(dst, &at, "SIP/2.0 ");
    put_str(dst, &at, status[0]);
    put(dst, &at, " ", 1);
    put_str(dst, &at, status[1]);
    put(dst, &at, "\r\n", 2);
    for (unsigned i = 0; i < e->count; i++) {
        const struct sipedit_line *l = &e->lines[i];
        if (l->kind == SIPEDIT_VIA && first_via) {
            first_via = false;
            put_str(dst, &at, "Via: ");
            put_str(dst, &at, top_via);
            put(dst, &at, "\r\n", 2);
            if (l->nvalues > 1) { /* the rest of that field, as it came */
                uint32_t from = e->values[l->first + 1].start;
                put_str(dst, &at, "Via: ");
                put(dst, &at, e->raw + from, l->end - from);
            }
        } else if (l->kind == SIPEDIT_TO && to_tag) {
            put_tagged_to(e, l, to_tag, dst, &at);
        } else if (l->kind == SIPEDIT_VIA || l->kind == SIPEDIT_FROM || l->kind == SIPEDIT_TO ||
                   l->kind == SIPEDIT_CALL_ID || l->kind == SIPEDIT_CSEQ) {
            put(dst, &at, e->raw + l->start, l->end - l->start);
        }
    }
    if (extra)
        put_str(dst, &at, extra);
    if (server && *server) {
        put_str(dst, &at, "Server: ");
        put_str(dst, &at, server);
        put(dst, &at, "\r\n", 2);
    }
    put_str(dst, &at, "Content-Length: 0\r\n\r\n");
    return at;
}

int sipedit_reply(const struct sipedit *e, const char *code, const char *reason,
                  const char *top_via, const char *to_tag, const char *extra, const char *server,
                  char **out, size_t *len)
{
    const char *const status[2] = {code, reason};
    if (e->failed || !e->request || sipedit_count(e, SIPEDIT_VIA) == 0 ||
        sipedit_count(e, SIPEDIT_VIA) == UINT_MAX)
        return SB_EAGAIN;
    size_t n = write_reply(e, status, top_via, to_tag, extra, server, NULL);
    char *text = malloc(n + 1);
    if (!text)
        return SB_ENOMEM;
    write_reply(e, status, top_via, to_tag, extra, server, text);
    text[n] = '\0';
    *out = text;
    *len = n;
    return 0;
}
