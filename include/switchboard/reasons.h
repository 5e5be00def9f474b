/* Custom reason phrases: a table "code = phrase" (UTF-8) that replaces the
 * phrase of every response the proxy sends or relays upstream, e.g.
 * 486 Busy Here -> 486 Obsadené.
 *
 * DESIGN: the table is immutable and published through an RCU pointer, so
 * workers read it without locks while main() reloads it on SIGHUP. Callers
 * of reasons_apply() must be registered with liburcu. */
#ifndef SWITCHBOARD_REASONS_H
#define SWITCHBOARD_REASONS_H

#include <osipparser2/osip_message.h>

struct reasons;

int reasons_create(struct reasons **out);
/* Frees the table; no reader may still use it. */
void reasons_destroy(struct reasons *r);

/* Loads @path and publishes it, replacing the previous table. Returns 0,
 * or a negative code after logging the file and line at fault (the old
 * table stays). */
int reasons_load(struct reasons *r, const char *path);

/* Replaces @resp's reason phrase when the table has its code. */
void reasons_apply(struct reasons *r, osip_message_t *resp);

/* The phrase for @code, copied into @buf; returns 0 or SB_ENOTFOUND. */
int reasons_lookup(struct reasons *r, int code, char *buf, size_t size);

#endif
