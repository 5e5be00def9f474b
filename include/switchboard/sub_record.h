/* A subscription as the store keeps it (store.h: DOCUMENTS): what the
 * notifier (proxy_notify.c) needs to go on sending NOTIFYs after a
 * restart: the dialog (RFC 6665 §4.1.2: Call-ID, tags, route set, remote
 * target, our CSeq), the package and whom it watches, the document
 * version, and where the subscriber was reached. Written as one
 * bencoded dictionary; read back strictly (a field missing or of the
 * wrong type: the record is refused). Pure; any thread. */
#ifndef SWITCHBOARD_SUB_RECORD_H
#define SWITCHBOARD_SUB_RECORD_H

#include <stddef.h>
#include <stdint.h>

struct sb_buf;

struct sub_record {
    unsigned pkg; /* the notifier's package number */
    char *user;   /* the watched user's key */
    char *source; /* the subscriber's address: the per-source bound */
    char *entity; /* the Request-URI subscribed to */
    char *their_from, *their_to, *our_tag;
    char *target, *routes, *event, *call_id;
    unsigned transport;    /* enum sb_transport */
    char *peer, *local;    /* ip:port (sipmsg_addr_format) */
    unsigned listen_index; /* our listen address then */
    uint32_t cseq;         /* the last NOTIFY's */
    uint64_t doc_version;  /* the next document's */
};

/* Appends @r's record to @b. */
void sub_record_write(struct sb_buf *b, const struct sub_record *r);

/* Reads a record from @text[0..len) into @out, every string a copy (free
 * with sub_record_free). Returns 0, SB_EMALFORMED or SB_ENOMEM. */
int sub_record_read(const char *text, size_t len, struct sub_record *out);

void sub_record_free(struct sub_record *r);

#endif
