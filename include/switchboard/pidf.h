/* RFC 3863 presence documents (PIDF) with RFC 4480's activities (RPID),
 * as the presence event package (RFC 3856) sends them: written by hand,
 * the entity escaped. What a user's presence is comes from the exchange
 * itself (proxy_notify.c): registered or not, and on a call or not.
 *
 * A user's presence: OFFLINE (no live binding: basic "closed") <-->
 * ONLINE (basic "open") <--a call answered / ended--> ON_THE_PHONE
 * (open, with the rpid activity "on-the-phone"). */
#ifndef SWITCHBOARD_PIDF_H
#define SWITCHBOARD_PIDF_H

struct sb_buf;

enum pidf_status { PIDF_OFFLINE, PIDF_ONLINE, PIDF_ON_THE_PHONE };

const char *pidf_status_name(enum pidf_status s);

/* Appends to @b the document for @entity (the user's URI) in status @s. */
void pidf_write(struct sb_buf *b, const char *entity, enum pidf_status s);

#endif
