/* NULs that SIP allows, carried through libosip2. RFC 4475 has two valid
 * messages with them: escnull (§3.1.1.4), "%00" in URI user parts, and
 * intmeth (§3.1.1.2), a quoted-pair escaping NUL in a display name.
 * libosip2 reads C strings and unescapes URIs, so either would end a value
 * early. On the way in, the header section gets them as markers that no
 * message we accept holds: "%00" becomes "%C0%80" (NUL's overlong UTF-8
 * form) and "\" NUL inside a quoted string becomes "\" 0xFF (a quoted-pair
 * stops at %x7F); a message that already holds a marker is refused. On
 * the way out, sipnul_show() turns them back, so what leaves is byte-exact.
 * Between the two, logs and stored keys show the markers. */
#ifndef SWITCHBOARD_SIP_NUL_H
#define SWITCHBOARD_SIP_NUL_H

#include <stddef.h>

/* Rewrites @raw's header section when it holds a NUL SIP allows. Returns
 * 0 with *@out NULL when there is nothing to do (the hot path: three
 * memchr), 0 with *@out a new buffer of *@out_len bytes (and room for a
 * NUL after them; the caller frees it), SB_EMALFORMED with *@why when the
 * headers hold a marker or a 0xFF byte, or SB_ENOMEM. */
int sipnul_hide(const char *raw, size_t len, char **out, size_t *out_len, const char **why);

/* Turns the markers in the first @head bytes of @text (the header
 * section) back into what arrived, moving the rest of the @len bytes
 * down. Returns the new length; a NUL is kept after it. */
size_t sipnul_show(char *text, size_t len, size_t head);

/* Where @text's header section ends (the blank line), or @len. */
size_t sipnul_head_length(const char *text, size_t len);
/* The blank line ending the headers: the first CRLF CRLF, else the first
 * LF LF, and its length in *@sep; NULL when there is none. */
const char *sipnul_blank_line(const char *text, size_t len, size_t *sep);

#endif
