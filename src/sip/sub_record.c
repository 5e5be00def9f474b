/* Subscriptions as the store keeps them. See sub_record.h. */
#include "switchboard/sub_record.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/bencode.h"
#include "switchboard/buf.h"
#include "switchboard/error.h"

#define RECORD_NODES 64 /* a dictionary of 19 keys and values, with room */

/* The record's text fields: key, then where each lives in the record. */
static char **text_field(struct sub_record *r, size_t i, const char **key)
{
    static const char *const keys[] = {"user",     "source",  "entity", "their_from",
                                       "their_to", "our_tag", "target", "routes",
                                       "event",    "call_id", "peer",   "local"};
    char **fields[] = {&r->user,     &r->source,  &r->entity, &r->their_from,
                       &r->their_to, &r->our_tag, &r->target, &r->routes,
                       &r->event,    &r->call_id, &r->peer,   &r->local};
    if (i >= sizeof(keys) / sizeof(keys[0]))
        return NULL;
    *key = keys[i];
    return fields[i];
}

void sub_record_write(struct sb_buf *b, const struct sub_record *r)
{
    /* keys in sorted order, as bencoding wants */
    bencode_dict(b);
    bencode_cstr(b, "call_id");
    bencode_cstr(b, r->call_id);
    bencode_cstr(b, "cseq");
    bencode_int(b, r->cseq);
    bencode_cstr(b, "doc_version");
    bencode_int(b, (long long)r->doc_version);
    bencode_cstr(b, "entity");
    bencode_cstr(b, r->entity);
    bencode_cstr(b, "event");
    bencode_cstr(b, r->event);
    bencode_cstr(b, "listen");
    bencode_int(b, r->listen_index);
    bencode_cstr(b, "local");
    bencode_cstr(b, r->local);
    bencode_cstr(b, "our_tag");
    bencode_cstr(b, r->our_tag);
    bencode_cstr(b, "peer");
    bencode_cstr(b, r->peer);
    bencode_cstr(b, "pkg");
    bencode_int(b, r->pkg);
    bencode_cstr(b, "routes");
    bencode_cstr(b, r->routes);
    bencode_cstr(b, "source");
    bencode_cstr(b, r->source);
    bencode_cstr(b, "target");
    bencode_cstr(b, r->target);
    bencode_cstr(b, "their_from");
    bencode_cstr(b, r->their_from);
    bencode_cstr(b, "their_to");
    bencode_cstr(b, r->their_to);
    bencode_cstr(b, "transport");
    bencode_int(b, r->transport);
    bencode_cstr(b, "user");
    bencode_cstr(b, r->user);
    bencode_end(b);
}

/* The integer under @key, within [0, @max]. */
static bool int_field(const struct bencode_node *n, const char *key, long long max, long long *out)
{
    long i = bencode_get(n, 0, key);
    if (i < 0 || n[i].type != BENCODE_INT || n[i].num < 0 || n[i].num > max)
        return false;
    *out = n[i].num;
    return true;
}

/* A copy of the string under @key (no NUL inside); SB_EMALFORMED when
 * there is none. */
static int str_field(const struct bencode_node *n, const char *key, char **out)
{
    long i = bencode_get(n, 0, key);
    if (i < 0 || n[i].type != BENCODE_STR || memchr(n[i].str, '\0', n[i].len))
        return SB_EMALFORMED;
    *out = malloc(n[i].len + 1);
    if (!*out)
        return SB_ENOMEM;
    memcpy(*out, n[i].str, n[i].len);
    (*out)[n[i].len] = '\0';
    return 0;
}

int sub_record_read(const char *text, size_t len, struct sub_record *out)
{
    struct bencode_node n[RECORD_NODES];
    size_t count;
    memset(out, 0, sizeof(*out));
    long used = bencode_parse(text, len, n, RECORD_NODES, &count);
    if (used < 0 || (size_t)used != len || n[0].type != BENCODE_DICT)
        return SB_EMALFORMED;
    long long pkg, transport, listen, cseq, version;
    if (!int_field(n, "pkg", 255, &pkg) || !int_field(n, "transport", 255, &transport) ||
        !int_field(n, "listen", 65535, &listen) || !int_field(n, "cseq", UINT32_MAX, &cseq) ||
        !int_field(n, "doc_version", INT64_MAX, &version))
        return SB_EMALFORMED;
    int rc = 0;
    const char *key;
    char **field;
    for (size_t i = 0; rc == 0 && (field = text_field(out, i, &key)) != NULL; i++)
        rc = str_field(n, key, field);
    if (rc != 0) {
        sub_record_free(out);
        return rc;
    }
    out->pkg = (unsigned)pkg;
    out->transport = (unsigned)transport;
    out->listen_index = (unsigned)listen;
    out->cseq = (uint32_t)cseq;
    out->doc_version = (uint64_t)version;
    return 0;
}

void sub_record_free(struct sub_record *r)
{
    const char *key;
    char **field;
    for (size_t i = 0; (field = text_field(r, i, &key)) != NULL; i++) {
        free(*field);
        *field = NULL;
    }
}
