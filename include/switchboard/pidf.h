/* RFC 3863 presence documents (PIDF) with RFC 4480's activities (RPID),
 * as the presence event package (RFC 3856) sends them: written by hand,
 * every value escaped. What a user's presence is comes from the exchange
 * itself (proxy_notify.c): registered or not, and on a call or not; and
 * from what the user's phone published (RFC 3903), read here by a small
 * tolerant scanner: its basic status, first activity and first note.
 *
 * A user's presence: OFFLINE (no live binding: basic "closed") <-->
 * ONLINE (basic "open") <--a call answered / ended--> ON_THE_PHONE
 * (open, with the rpid activity "on-the-phone"). */
#ifndef SWITCHBOARD_PIDF_H
#define SWITCHBOARD_PIDF_H

#include <stddef.h>

struct sb_buf;

enum pidf_status { PIDF_OFFLINE, PIDF_ONLINE, PIDF_ON_THE_PHONE };

const char *pidf_status_name(enum pidf_status s);

/* What a phone published of its user. */
struct pidf_published {
    enum { PIDF_BASIC_NONE, PIDF_BASIC_OPEN, PIDF_BASIC_CLOSED } basic;
    char activity[32]; /* an RPID activity's name ("away", "busy"); "" none */
    char note[128];    /* the first <note>, unescaped; "" none */
};

/* Reads @len bytes of a PIDF document into @out. Returns 0, or
 * SB_EMALFORMED when it is not a <presence> document. */
int pidf_read(const char *doc, size_t len, struct pidf_published *out);

/* Appends to @b the document for @entity (the user's URI) in status @s,
 * with @pub's activity and note while @s is ONLINE (@pub may be NULL). */
void pidf_write(struct sb_buf *b, const char *entity, enum pidf_status s,
                const struct pidf_published *pub);

#endif
