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

size_t sipnul_head_length(const char *text, size_t len)
{
    const char *end = memmem(text, len, "\r\n\r\n", 4);
    if (!end)
        end = memmem(text, len, "\n\n", 2);
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

/* One pass over the header section: counts what is to hide, or says
 * what makes it unacceptable. Quoted strings (RFC 3261 §25.1) are
 * followed so that only a quoted-pair's NUL counts. */
static const char *survey(const char *raw, size_t head, size_t *uri_nuls, size_t *quoted_nuls)
{
    bool quoted = false;
    for (size_t i = 0; i < head; i++) {
        char c = raw[i];
        if (c == QUOTED_MARK)
            return "a 0xFF byte in the headers";
        if (c == '%' && head - i >= 6 && !strncasecmp(raw + i, URI_MARK, 6))
            return "the escape %C0%80 (an overlong NUL)";
        if (c == '%' && head - i >= 3 && !memcmp(raw + i, URI_NUL, 3))
            (*uri_nuls)++;
        if (c == '\n' && line_ends(raw, i, head)) {
            quoted = false;
        } else if (quoted && c == '\\' && i + 1 < head && hides_pair(raw[i + 1])) {
            *quoted_nuls += raw[i + 1] == '\0';
            i++; /* the escaped byte is no quote */
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
    size_t head = sipnul_head_length(raw, len), uri_nuls = 0, quoted_nuls = 0;
    *why = survey(raw, head, &uri_nuls, &quoted_nuls);
    if (*why)
        return SB_EMALFORMED;
    if (uri_nuls == 0 && quoted_nuls == 0)
        return 0;
    size_t extra = uri_nuls * (sizeof(URI_MARK) - sizeof(URI_NUL));
    char *text = malloc(len + extra + 1);
    if (!text)
        return SB_ENOMEM;
    size_t n = 0;
    bool quoted = false;
    for (size_t i = 0; i < head; i++) {
        char c = raw[i];
        if (c == '%' && head - i >= 3 && !memcmp(raw + i, URI_NUL, 3)) {
            memcpy(text + n, URI_MARK, 6);
            n += 6;
            i += 2;
            continue;
        }
        text[n++] = c;
        if (c == '\n' && line_ends(raw, i, head)) {
            quoted = false;
        } else if (quoted && c == '\\' && i + 1 < head && hides_pair(raw[i + 1])) {
            i++;
            text[n++] = raw[i] == '\0' ? QUOTED_MARK : raw[i];
        } else if (c == '"') {
            quoted = !quoted;
        }
    }
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
