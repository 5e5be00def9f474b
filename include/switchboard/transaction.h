/* The transaction layer (RFC 3261 §17): server and client transactions with
 * their state machines, timers A-M and retransmissions, and the matching of
 * requests and responses to them (§17.1.3, §17.2.3).
 *
 * DESIGN: one txn_layer per worker thread; every transaction of a call lives
 * in the worker its Call-ID hashes to, so nothing here is locked or shared.
 * The transaction user (the proxy core) hears of events through
 * txn_user_ops and keeps its own state in the tu_data pointers. */
#ifndef SWITCHBOARD_TRANSACTION_H
#define SWITCHBOARD_TRANSACTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "switchboard/timer_wheel.h"
#include "switchboard/types.h"

struct txn_layer;
struct server_txn;
struct client_txn;

struct txn_config {
    unsigned t1_ms, t2_ms, t4_ms;
    size_t max_server; /* server transactions; 0 = unbounded */
    /* RFC 3261 §18.1.1: a request bigger than this (path MTU - 200) for a
     * UDP destination goes over TCP instead, back to UDP if that fails;
     * 0 = never */
    size_t udp_max;
};

/* How the layer reaches the network (net.h in the program, a recorder in
 * the unit tests). */
struct txn_io {
    /* Puts @data on the wire to @dest, as it is. */
    void (*send)(void *ctx, const struct sb_dest *dest, const char *data, size_t len);
    /* Points @dest at its peer over @transport instead (from one of our
     * addresses of that transport, no connection yet). Returns 0, or
     * SB_ENOTFOUND when we do not listen on it. May be NULL. */
    int (*retarget)(void *ctx, struct sb_dest *dest, int transport);
    void *ctx;
};

struct txn_user_ops {
    /* A response for @ct the user must see: every 1xx, the first final, and
     * for INVITE every 2xx (RFC 6026). The user may take *resp (setting it
     * to NULL); otherwise it stays the caller's. */
    void (*on_response)(void *user, struct client_txn *ct, void *tu_data, osip_message_t **resp);
    /* Timer B or F fired, or a CANCELled INVITE got no final answer: act as
     * if a 408 arrived (RFC 3261 §16.7 step 2, §9.1). */
    void (*on_timeout)(void *user, struct client_txn *ct, void *tu_data);
    /* The request could not be sent (its connection is gone or could not
     * be made): RFC 3261 §8.1.3.1 treats it as a 503; a proxy knows better
     * what to answer (480 or 430 for a flow, RFC 5626). NULL: on_timeout. */
    void (*on_transport_error)(void *user, struct client_txn *ct, void *tu_data);
    /* The transaction is being freed; forget every pointer to it. */
    void (*on_client_gone)(void *user, struct client_txn *ct, void *tu_data);
    void (*on_server_gone)(void *user, struct server_txn *st, void *tu_data);
    /* @resp is about to go upstream from @st; the user may rewrite it (its
     * reason phrase). @local: the proxy made it rather than relayed it. */
    void (*on_server_respond)(void *user, struct server_txn *st, void *tu_data,
                              osip_message_t *resp, bool local);
    /* Writes @msg (a response about to go upstream, a request about to go
     * downstream) for the wire when the user can do it cheaper than
     * libosip2: the bytes it arrived as, edited (sip_edit.h). *@out is
     * malloc'd, a NUL after its *@len bytes. Returns 0, or SB_EAGAIN to
     * have it serialized. May be NULL. */
    int (*render)(void *user, const osip_message_t *msg, char **out, size_t *len);
};

/* Timers A, E and G (retransmissions) run only over UDP; over TCP and TLS
 * Timers D, I, J and K are zero (RFC 3261 §17). */
int txn_layer_create(const struct txn_config *config, struct timer_wheel *wheel,
                     const struct txn_io *io, const struct txn_user_ops *ops, void *user,
                     struct txn_layer **out);
/* Frees every transaction without callbacks. */
void txn_layer_destroy(struct txn_layer *layer);
size_t txn_layer_server_count(const struct txn_layer *layer);
size_t txn_layer_client_count(const struct txn_layer *layer);

/* Formats the matching key of a request per RFC 3261 §17.2.3 into @buf:
 * branch, sent-by and method (INVITE for an ACK), or the RFC 2543 fallback
 * when the branch lacks the magic cookie. With @for_invite, an ACK's or a
 * CANCEL's key names the INVITE transaction it refers to. Returns the key
 * length, or SB_EMALFORMED / SB_ERANGE. */
int txn_server_key(const osip_message_t *req, bool for_invite, char *buf, size_t size);

/* --- server transactions ------------------------------------------------ */

/* The server transaction @req belongs to (ACK: its INVITE), or NULL. */
struct server_txn *txn_server_match(struct txn_layer *layer, const osip_message_t *req);
/* The INVITE server transaction a CANCEL refers to (§9.2), or NULL. */
struct server_txn *txn_server_match_cancelled(struct txn_layer *layer,
                                              const osip_message_t *cancel);

/* Creates a server transaction for @in, which it takes (freed with the
 * transaction). Returns 0, SB_ELIMIT or SB_ENOMEM (@in is then the
 * caller's). */
int txn_server_create(struct txn_layer *layer, struct sb_inbound *in, void *tu_data,
                      struct server_txn **out);

/* A retransmitted request: resends the last response, if any. */
void txn_server_retransmission(struct server_txn *st);
/* An ACK matched an INVITE transaction. Returns true when it was absorbed
 * (ACK to a non-2xx final), false when it belongs to the user (2xx). */
bool txn_server_ack(struct server_txn *st);

/* Sends @resp (consumed) upstream, driving the state machine. Returns 0 or
 * a negative code. */
int txn_server_respond(struct server_txn *st, osip_message_t *resp);
/* As txn_server_respond(), for a response the proxy made itself (with
 * headers of its own, such as a challenge). */
int txn_server_respond_own(struct server_txn *st, osip_message_t *resp);
/* Builds and sends a response to the transaction's request (§8.2.6),
 * written from the lines it arrived as (sip_edit.h) when it kept them,
 * else from its parse. @reason NULL: the standard phrase. on_server_respond
 * reads a response lent from the request (sipmsg_response_lend()). */
int txn_server_respond_code(struct server_txn *st, int code, const char *reason);
/* The same with header lines of ours after the CSeq: @extra, each
 * "Name: value" and CRLF (a challenge, Unsupported), or NULL. */
int txn_server_respond_extra(struct server_txn *st, int code, const char *reason,
                             const char *extra);

/* 100 Trying (@reason, NULL: "Trying") for @st's new INVITE, written from
 * the lines it arrived as (sip_edit.h) without building a libosip2
 * message; on_server_respond is not called (a 100 moves nothing). Falls
 * back to txn_server_respond_code() when the request kept no bytes. */
int txn_server_trying(struct server_txn *st, const char *reason);

/* Where the transaction's responses go: the connection the request came
 * on, or its Via's address (RFC 3261 §18.2.2). */
const struct sb_dest *txn_server_reply_dest(const struct server_txn *st);
/* The request, and how it arrived; NULL once a final response was sent
 * (the transaction then keeps only what retransmissions need). */
const osip_message_t *txn_server_request(const struct server_txn *st);
const struct sb_inbound *txn_server_inbound(const struct server_txn *st);
bool txn_server_is_invite(const struct server_txn *st);
/* Has a final response been sent? */
bool txn_server_final_sent(const struct server_txn *st);
void txn_server_set_tu(struct server_txn *st, void *tu_data);
void *txn_server_tu(const struct server_txn *st);
/* The To tag this transaction adds to its locally built responses. */
const char *txn_server_local_tag(const struct server_txn *st);

/* --- client transactions ------------------------------------------------ */

/* Serialises @req (whose top Via must carry our branch) and sends it to
 * @dest, starting Timer A/B or E/F. A UDP request bigger than udp_max goes
 * over TCP (its Via says so). @req stays the caller's, its top Via maybe
 * changed. Returns 0, SB_EMALFORMED or SB_ENOMEM. */
int txn_client_send(struct txn_layer *layer, osip_message_t *req, const struct sb_dest *dest,
                    void *tu_data, struct client_txn **out);

/* Our request @req (handed back by the I/O thread that could not send it)
 * failed: a request switched from UDP to TCP goes again over UDP, any
 * other fails its transaction (on_transport_error). Returns whether a
 * transaction was waiting for it. */
bool txn_client_send_failed(struct txn_layer *layer, const osip_message_t *req);

/* Matches a response to its client transaction (§17.1.3) and runs the
 * state machine. Returns true when a transaction matched (the user may have
 * been told, and may have taken *resp), false when none did. */
bool txn_client_receive(struct txn_layer *layer, osip_message_t **resp);

/* CANCELs an INVITE client transaction (§9.1): at once if a provisional
 * response came, else as soon as one does. Idempotent. */
void txn_client_cancel(struct client_txn *ct);

#endif
