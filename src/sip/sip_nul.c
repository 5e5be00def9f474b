/* NULs that SIP allows, carried through libosip2. See sip_nul.h. */
#include "switchboard/sip_nul.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "switchboard/error.h"

#define URI_NUL "%00"
#define URI_MARK "%C0%80"
#define QUOTED_MARK '\xff'

/* The first "\r\n\r\n" in @text, by its LFs: memmem() builds a shift
 * table on every call, and this runs for every message twice. */
static const char *blank_crlf(const char *text, size_t len)
{
    const char *end = text + len;
    for (const char *lf = memchr(text, '\n', len); lf;
         lf = memchr(lf + 1, '\n', (size_t)(end - lf - 1)))
        if (lf - text >= 3 && lf[-1] == '\r' && lf[-2] == '\n' && lf[-3] == '\r')
            return lf - 3;
    return NULL;
}

const char *sipnul_blank_line(const char *text, size_t len, size_t *sep)
{
    const char *end = blank_crlf(text, len);
    *sep = 4;
    if (!end) {
        end = memmem(text, len, "\n\n", 2);
        *sep = 2;
    }
    return end;
}

size_t sipnul_head_length(const char *text, size_t len)
{
    size_t sep;
    const char *end = sipnul_blank_line(text, len, &sep);
    return end ? (size_t)(end - text) : len;
}

/* Whether a line break at @raw[i] ends a quoted string: it does unless
 * the next line is folded (RFC 3261 §7.3.1: LWS may sit inside one). */
static bool line_ends(const char *raw, size_t i, size_t head)
{
    return i + 1 >= head || (raw[i + 1] != ' ' && raw[i + 1] != '\t');
}

/* The quoted-pairs that matter here: an escaped quote or backslash (no
 * end of the string), or NUL. Others are read as plain bytes. */
static bool hides_pair(char next)
{
    return next == '"' || next == '\\' || next == '\0';
}

/* Copies @n bytes to @text at *@at (when @text is not NULL: the measuring
 * pass writes nothing) and moves *@at on. */
static void emit(char *text, size_t *at, const char *bytes, size_t n)
{
    if (text)
        memcpy(text + *at, bytes, n);
    *at += n;
}

/* One pass over the header section, into @text (NULL: only measures).
 * Quoted strings (RFC 3261 §25.1) are followed so that only a
 * quoted-pair's NUL is marked. *@at ends at the output's length;
 * *@changed says whether anything was marked. Returns what makes the
 * headers unacceptable, or NULL. */
static const char *walk(const char *raw, size_t head, char *text, size_t *at, bool *changed)
{
    static const char quoted_mark = QUOTED_MARK;
    bool quoted = false;
    for (size_t i = 0; i < head; i++) {
        char c = raw[i];
        if (c == QUOTED_MARK)
            return "a 0xFF byte in the headers";
        if (c == '%' && head - i >= 6 && !strncasecmp(raw + i, URI_MARK, 6))
            return "the escape %C0%80 (an overlong NUL)";
        if (c == '%' && head - i >= 3 && !memcmp(raw + i, URI_NUL, 3)) {
            emit(text, at, URI_MARK, 6);
            *changed = true;
            i += 2;
            continue;
        }
        emit(text, at, &c, 1);
        if (c == '\n' && line_ends(raw, i, head)) {
            quoted = false;
        } else if (quoted && c == '\\' && i + 1 < head && hides_pair(raw[i + 1])) {
            i++; /* the escaped byte is no quote */
            *changed |= raw[i] == '\0';
            emit(text, at, raw[i] == '\0' ? &quoted_mark : raw + i, 1);
        } else if (c == '"') {
            quoted = !quoted;
        }
    }
    return NULL;
}

int sipnul_hide(const char *raw, size_t len, char **out, size_t *out_len, const char **why)
{
    *out = NULL;
    if (!memchr(raw, '%', len) && !memchr(raw, '\0', len) && !memchr(raw, QUOTED_MARK, len))
        return 0;
    size_t head = sipnul_head_length(raw, len), n = 0;
    bool changed = false;
    *why = walk(raw, head, NULL, &n, &changed);
    if (*why)
        return SB_EMALFORMED;
    if (!changed)
        return 0;
    char *text = malloc(n + (len - head) + 1);
    if (!text)
        return SB_ENOMEM;
    n = 0;
    walk(raw, head, text, &n, &changed);
    memcpy(text + n, raw + head, len - head);
    n += len - head;
    text[n] = '\0';
    *out = text;
    *out_len = n;
    return 0;
}

size_t sipnul_show(char *text, size_t len, size_t head)
{
    size_t r = 0, w = 0;
    while (r < head) {
        if (text[r] == '%' && head - r >= 6 && !memcmp(text + r, URI_MARK, 6)) {
            memcpy(text + w, URI_NUL, 3);
            w += 3;
            r += 6;
        } else if (text[r] == '\\' && r + 1 < head && text[r + 1] == QUOTED_MARK) {
            text[w++] = '\\';
            text[w++] = '\0';
            r += 2;
        } else {
            text[w++] = text[r++];
        }
    }
    if (w != r)
        memmove(text + w, text + r, len - r);
    len -= r - w;
    text[len] = '\0';
    return len;
}
