/* Forwarding by editing (Kamailio's "lumps"): the message that leaves is
 * the received bytes with a few edits applied (a Via inserted or taken
 * off, Routes popped, Record-Routes inserted, Max-Forwards, the
 * Request-URI, the reason phrase, the body and its Content-Length),
 * never libosip2's re-serialization of the whole. Everything not edited
 * leaves byte for byte: header order, case, compact names, folding.
 *
 * sipedit_open() indexes the header lines of @raw (no copy: @raw must
 * outlive the edit); the setters record edits at offsets in @raw;
 * sipedit_render() writes the result; nothing is allocated before it. Edits may not overlap; one
 * that cannot be made (a shape the index does not know, too many edits) marks the edit failed, and
 * the caller serializes as before. Single-threaded per struct; no I/O. */
#ifndef SWITCHBOARD_SIP_EDIT_H
#define SWITCHBOARD_SIP_EDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The header fields an edit can name (full and compact names). */
enum sipedit_kind {
    SIPEDIT_OTHER,
    SIPEDIT_VIA,
    SIPEDIT_ROUTE,
    SIPEDIT_RECORD_ROUTE,
    SIPEDIT_MAX_FORWARDS,
    SIPEDIT_CSEQ,
    SIPEDIT_CONTENT_LENGTH,
    SIPEDIT_FROM, /* from here on: whole fields only, no values */
    SIPEDIT_TO,
    SIPEDIT_CALL_ID,
    SIPEDIT_KINDS
};

#define SIPEDIT_LINES 128  /* header fields indexed; more: the edit fails */
#define SIPEDIT_VALUES 128 /* values of the kinds above, split once */
#define SIPEDIT_OPS 32
#define SIPEDIT_TEXT 2048 /* the new bytes of every edit together */

/* One header field: its first byte, where its value starts (after the
 * colon and blanks), and the first byte after its CRLF (continuation
 * lines included). */
struct sipedit_line {
    uint32_t start, value, end;
    uint8_t kind;    /* enum sipedit_kind */
    uint8_t nvalues; /* a kind's other than OTHER: its values... */
    uint16_t first;  /* ...from this one of the edit's values */
};

struct sipedit_span {
    uint32_t start, end;
};

struct sipedit_op {
    uint32_t at, cut; /* bytes of @raw replaced: [at, at + cut) */
    const char *with; /* by these (in the text store, or a new body) */
    uint32_t with_len;
};

struct sipedit {
    const char *raw;
    size_t len;
    bool request;
    uint32_t first;          /* request: the Request-URI; response: the reason phrase */
    uint32_t first_end;      /* ...the first byte after it */
    uint32_t head_end;       /* where the blank line after the headers starts */
    uint32_t body, body_end; /* the body: Content-Length's bytes after the blank line */
    struct sipedit_line lines[SIPEDIT_LINES];
    unsigned count;
    struct sipedit_span values[SIPEDIT_VALUES];
    unsigned nvalues;
    unsigned kind_values[SIPEDIT_KINDS]; /* how many of each kind */
    unsigned unreadable;                 /* bit per kind whose values did not split */
    struct sipedit_op ops[SIPEDIT_OPS];
    unsigned nops;
    char text[SIPEDIT_TEXT]; /* the new bytes of every edit, one after another */
    uint32_t text_len;
    bool failed;
};

/* Indexes @raw[0..@len) (CRLF line ends, "SIP/2.0" on the start line).
 * Returns 0, or SB_EMALFORMED for a shape it does not edit (then @e is
 * failed). Nothing to free. */
int sipedit_open(struct sipedit *e, const char *raw, size_t len);

/* How many values (comma-separated, quotes and <> respected) the fields
 * of @kind hold together; UINT_MAX when one would not split (an
 * unclosed quote, too many values): edits of that kind fail. From, To
 * and Call-ID are indexed as whole fields only (sipedit_reply() copies
 * them): UINT_MAX, and no value of theirs is read. */
unsigned sipedit_count(const struct sipedit *e, enum sipedit_kind kind);

/* The whole value of the first field of @kind (From, To and Call-ID
 * too) without its CRLF and trailing blanks (*@len bytes), or NULL. */
const char *sipedit_field(const struct sipedit *e, enum sipedit_kind kind, size_t *len);

/* Value @index of @kind as it arrived (*@len bytes), or NULL. */
const char *sipedit_value(const struct sipedit *e, enum sipedit_kind kind, unsigned index,
                          size_t *len);

/* Removes the first @n values of @kind: a field left empty goes whole. */
void sipedit_drop_values(struct sipedit *e, enum sipedit_kind kind, unsigned n);

/* Replaces value @index of @kind by @text. */
void sipedit_replace_value(struct sipedit *e, enum sipedit_kind kind, unsigned index,
                           const char *text);

/* Inserts a field "@name: @text" before the first field of @kind; with
 * none, after the last Via (or before the blank line). */
void sipedit_insert_field(struct sipedit *e, enum sipedit_kind kind, const char *name,
                          const char *text);

/* Replaces the whole value of the first field of @kind by @text, or adds
 * "@name: @text" before the blank line when there is none. */
void sipedit_set_field(struct sipedit *e, enum sipedit_kind kind, const char *name,
                       const char *text);

/* The Request-URI (a request) or the reason phrase (a response): its
 * bytes in @raw, and replacing them. */
const char *sipedit_first(const struct sipedit *e, size_t *len);
void sipedit_set_first(struct sipedit *e, const char *text);

/* The body as received, and replacing it (Content-Length follows; @body
 * is not copied: it must outlive the render). */
const char *sipedit_body(const struct sipedit *e, size_t *len);
void sipedit_set_body(struct sipedit *e, const char *body, size_t len);

/* A response to the request @e indexes, written from its own lines
 * without libosip2 or printf (RFC 3261 §8.2.6.2): "SIP/2.0 @code
 * @reason", the Vias with the top one as @top_via (stamped,
 * §18.2.1), the From, To, Call-ID and CSeq fields as they arrived (the
 * To with ";tag=@to_tag" added unless @to_tag is NULL: the caller knows
 * it had none), the header lines @extra unless NULL (each "Name: value"
 * and CRLF, as they are), "Server: @server" unless NULL or "",
 * Content-Length 0.
 * *@out is malloc'd, a NUL after its *@len bytes. Returns 0, SB_EAGAIN
 * when @e is failed or not a request with a Via, or SB_ENOMEM. */
int sipedit_reply(const struct sipedit *e, const char *code, const char *reason,
                  const char *top_via, const char *to_tag, const char *extra, const char *server,
                  char **out, size_t *len);

/* Writes @raw with every edit into a new malloc'd buffer (*@out, a NUL
 * after its *@len bytes). Returns 0, SB_EAGAIN when @e failed (serialize
 * instead), or SB_ENOMEM. */
int sipedit_render(struct sipedit *e, char **out, size_t *len);

#endif
