/* Helpers over libosip2 messages: validation, building responses, Via and
 * branch handling (RFC 3261 §8.1.1.7, §16.6, §16.11, §18.2; RFC 3581), and
 * URI to socket address. Pure functions, safe from any thread. */
#ifndef SWITCHBOARD_SIP_MSG_H
#define SWITCHBOARD_SIP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "switchboard/types.h"

#define SB_BRANCH_COOKIE "z9hG4bK"
#define SB_SERVER_NAME "switchboard/" SB_VERSION

/* The Server header of every answer we make: @value, NULL for
 * SB_SERVER_NAME, "" for none ([server] server_header, so scanners need
 * not be told what answers). Call once at start, before any thread. */
void sipmsg_set_server_header(const char *value);

/* The Server header's value ("" for none). */
const char *sipmsg_server_header(void);

/* Is @buf only CR/LF (a keep-alive, RFC 5626 §4.4.1)? */
bool sipmsg_is_keepalive(const char *buf, size_t len);

/* Checks what RFC 3261 §8.2 and §18.3 require before a message is handled:
 * version, the mandatory headers, CSeq method equal to the request method,
 * Content-Length not past the datagram. @raw/@raw_len is the datagram.
 * Returns 0, or a SIP status code to answer (400, 505) with *why set. */
int sipmsg_validate(const osip_message_t *msg, const char *raw, size_t raw_len, const char **why);

/* Builds a response to @req: Via, From, To (with @to_tag added when To has
 * none and code > 100), Call-ID and CSeq copied, Content-Length 0.
 * @reason NULL means the standard phrase. Returns 0 or a negative code. */
int sipmsg_response_create(const osip_message_t *req, int code, const char *reason,
                           const char *to_tag, osip_message_t **out);

/* A response of ours to @req as those who note it read it (status,
 * reason, From, To, Call-ID, CSeq), before its bytes are written from
 * the request's (ingress_reply()): From, Call-ID and CSeq are @req's,
 * lent, not copied; the To is a copy with @to_tag added when it has
 * none and code > 100. No Via, no other header. @req must outlive it;
 * free it with sipmsg_response_unlend() only. Returns 0 or SB_ENOMEM. */
int sipmsg_response_lend(const osip_message_t *req, int code, const char *reason,
                         const char *to_tag, osip_message_t **out);
void sipmsg_response_unlend(osip_message_t *resp);

/* The text of sipmsg_response_create()'s response with @extra's header
 * lines ("Name: value\r\n" each; NULL for none) before its blank line:
 * a response of ours built from @req's parse, for a request whose bytes
 * were not kept (ingress_reply() writes it from them). *out is
 * osip_free()d by the caller. Returns 0 or a negative code. */
int sipmsg_response_text(const osip_message_t *req, int code, const char *reason,
                         const char *to_tag, const char *extra, char **out, size_t *len);

/* Serialises @msg (rebuilding it after changes). *out is osip_free()d by the
 * caller. A body kept by sipmsg_keep_raw_body() goes out byte for byte.
 * Returns 0 or SB_EMALFORMED. */
int sipmsg_serialize(osip_message_t *msg, char **out, size_t *len);

/* RFC 3261 §16.6: a proxy does not touch the body. Replaces what libosip2
 * parsed out of @msg's body (it re-serialises multipart bodies: a CRLF
 * added, part headers lower-cased, breaking signatures such as RFC 8224
 * Identity or S/MIME) with the body's bytes as they arrived in @raw: the
 * Content-Length bytes after the blank line, or all of them without one.
 * Returns 0 or SB_ENOMEM. */
int sipmsg_keep_raw_body(osip_message_t *msg, const char *raw, size_t raw_len);

/* A message changed in a way the bytes it arrived as cannot show by the
 * edits a proxy makes (sip_edit.h): a header added or taken away, Routes
 * fixed up for a strict router. What leaves is then serialized from it.
 * Kept in libosip2's application_data, which a clone copies. */
static inline void sipmsg_mark_rewritten(osip_message_t *msg)
{
    msg->application_data = (void *)1;
}

static inline bool sipmsg_rewritten(const osip_message_t *msg)
{
    return msg->application_data != NULL;
}

/* The top Via, or NULL. */
osip_via_t *sipmsg_top_via(const osip_message_t *msg);
/* A Via parameter's value ("" for a flag), or NULL if absent. */
const char *sipmsg_via_param(const osip_via_t *via, const char *name);

/* RFC 3261 §18.2.1 and RFC 3581: adds received= when the sent-by host differs
 * from the source (or replaces one the sender wrote), and fills an empty
 * rport with the source port. */
int sipmsg_via_stamp_source(osip_via_t *via, const struct sb_addr *src);

/* The Via value @v (@n bytes, as it came) with the received and rport
 * values sipmsg_via_stamp_source() gave @via, its parse, into @buf: the
 * length, or -1 when it cannot be written so (a comment, quotes, no
 * room); libosip2 then writes it. */
long sipmsg_via_stamped_text(const char *v, size_t n, const osip_via_t *via, char *buf,
                             size_t size);

/* Where a response goes (RFC 3261 §18.2.2, RFC 3581 §4): received/rport,
 * else sent-by. Returns 0, SB_EUNRESOLVED or SB_EMALFORMED. */
int sipmsg_via_destination(const osip_via_t *via, struct sb_addr *dst);

/* Prepends "SIP/2.0/<transport> host:port;branch=@branch" to @msg. */
int sipmsg_via_push(osip_message_t *msg, int transport, const char *host, unsigned port,
                    const char *branch);
/* That Via's text into @buf: its length, or -1 if @size is too small. */
long sipmsg_via_format(int transport, const char *host, unsigned port, const char *branch,
                       char *buf, size_t size);
/* Prepends the Via @text (sipmsg_via_format()) to @msg; *@pushed (may be
 * NULL) is the one now on top. Returns 0, SB_ENOMEM or SB_EMALFORMED. */
int sipmsg_via_push_text(osip_message_t *msg, const char *text, osip_via_t **pushed);
/* A Via's transport (enum sb_transport), or SB_EINVAL for one we lack. */
int sipmsg_via_transport(const osip_via_t *via);
/* Removes the top Via. */
void sipmsg_via_pop(osip_message_t *msg);

/* Do @a and @b hold the same parts, as libosip2 read them (each written
 * out would be the same text)? */
bool sipmsg_uri_same(const osip_uri_t *a, const osip_uri_t *b);

/* The loop-detection hash of RFC 3261 §16.6 step 8: over Request-URI, From
 * tag, To tag, Call-ID, CSeq number and the top Route. */
uint32_t sipmsg_loop_hash(const osip_message_t *req);

/* Formats a branch "z9hG4bK-sb<loophash>.<unique>" into @buf. */
void sipmsg_branch_format(char *buf, size_t size, uint32_t loop_hash, uint64_t unique);
/* Parses the loop hash out of a branch we made. Returns 0 or SB_ENOTFOUND. */
int sipmsg_branch_loop_hash(const char *branch, uint32_t *loop_hash);

/* The transport a URI asks for (RFC 3261 §19.1.1, RFC 5630 §3): sips: is
 * TLS, else ;transport= udp, tcp or tls, else UDP. SB_EINVAL for any other
 * (sctp, ws): one we cannot speak. */
int sipmsg_uri_transport(const osip_uri_t *uri);
/* Resolves a SIP URI's host (numeric first, then the resolver) and port
 * (default 5060, 5061 for TLS) to a socket address. */
int sipmsg_uri_to_addr(const osip_uri_t *uri, struct sb_addr *dst);
/* @host without the brackets of an IPv6 reference ("[::1]" -> "::1"),
 * copied into @buf when they are stripped. */
const char *sipmsg_bare_host(const char *host, char *buf, size_t size);
/* An IP literal (brackets allowed) and port into @dst; a host name is
 * SB_EUNRESOLVED: SIP threads never resolve (thread_role.h). */
int sipmsg_host_to_addr(const char *host, unsigned port, struct sb_addr *dst);
/* As sipmsg_host_to_addr(), resolving a name (blocking, IPv4): for
 * start-up only; asserts it is not called on a SIP thread. */
int sipmsg_host_resolve(const char *host, unsigned port, struct sb_addr *dst);

/* Formats an address's IP (no brackets) and returns its port. */
unsigned sipmsg_addr_host(const struct sb_addr *addr, char *buf, size_t size);
/* Same address family and IP (ports aside)? */
bool sipmsg_addr_same_ip(const struct sb_addr *a, const struct sb_addr *b);
/* Formats "ip:port" ("[v6]:port") into @buf (64 bytes are always enough). */
void sipmsg_addr_format(const struct sb_addr *addr, char *buf, size_t size);
/* Parses what sipmsg_addr_format() wrote. Returns 0 or SB_EMALFORMED. */
int sipmsg_addr_parse(const char *text, struct sb_addr *addr);

/* Decrements Max-Forwards (adding "70 - 1" when absent). Returns the value
 * before decrementing, or SB_EMALFORMED. */
int sipmsg_max_forwards_take(osip_message_t *req);
/* Reads Max-Forwards (70 when absent), or SB_EMALFORMED. */
int sipmsg_max_forwards(const osip_message_t *req);

/* A header's value by name (case-insensitive, compact forms are not
 * expanded: osip already stores full names), or NULL. */
const char *sipmsg_header(const osip_message_t *msg, const char *name);

/* The To tag / From tag, or NULL. */
const char *sipmsg_to_tag(const osip_message_t *msg);
const char *sipmsg_from_tag(const osip_message_t *msg);

/* The whole Call-ID (osip keeps "number@host" in two parts) into @buf.
 * Returns 0, or SB_ERANGE when it does not fit. */
int sipmsg_call_id(const osip_message_t *msg, char *buf, size_t size);

/* "Route: X\r\n" for each entry of @list (a Route or Record-Route list,
 * in its order): heap memory, "" when empty, NULL when out of memory. */
char *sipmsg_route_lines(const osip_list_t *list);

/* The Call-ID a Replaces header names (RFC 3891 §6.1: the part before
 * the first ';', spaces trimmed) into @buf; false when there is none or
 * it does not fit. */
bool sipmsg_replaces_call_id(const osip_message_t *msg, char *buf, size_t size);

/* CSeq number, or 0 when unparsable. */
uint32_t sipmsg_cseq_number(const osip_message_t *msg);
/* Rewrites the CSeq's number. Returns 0, SB_EMALFORMED (none) or SB_ENOMEM. */
int sipmsg_set_cseq_number(osip_message_t *msg, uint32_t number);

#endif
