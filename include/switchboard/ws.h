/* SIP over WebSocket (RFC 7118) on a TCP or TLS connection (RFC 6455):
 * the opening handshake, read as HTTP/1.1, and a session that frames what
 * the connection carries, through wslay's event API.
 *
 * DESIGN: no sockets here. The I/O thread that owns the connection feeds
 * its session the bytes it read (ws_session_feed), takes the whole
 * messages that came out of them (ws_session_next), gives it what to send
 * (ws_session_send), and writes whatever the session produced, handed to
 * the write callback while the session runs (frames, pongs, the close).
 * One message is one SIP message (RFC 7118 §5.1). Any thread, one per
 * session. The fuzzer drives both halves.
 *
 * A session's life: OPEN --a close frame, either way--> CLOSING (ours is
 * sent: close the connection once it is written) ; OPEN --a protocol
 * error, a message past the limit--> CLOSING with 1002/1009 ; any --the
 * write callback refused--> FAILED (close now). */
#ifndef SWITCHBOARD_WS_H
#define SWITCHBOARD_WS_H

#include <stdbool.h>
#include <stddef.h>

#define WS_HANDSHAKE_MAX 8192 /* the request's headers */

enum ws_request_kind {
    WS_REQUEST_MORE,    /* no blank line yet: read more */
    WS_REQUEST_UPGRADE, /* a WebSocket handshake offering "sip" */
    WS_REQUEST_GET,     /* a plain GET (a page), or HEAD */
    WS_REQUEST_BAD,     /* answer ->status, close */
};

/* What the handshake's request said (RFC 6455 §4.2.1). */
struct ws_request {
    enum ws_request_kind kind;
    int status;               /* WS_REQUEST_BAD: 400, 405, 426 (RFC 6455 §4.4) */
    const char *why;          /* WS_REQUEST_BAD: for the log */
    size_t length;            /* the request's bytes, up to the blank line */
    bool head;                /* HEAD rather than GET */
    char path[256];           /* the request-target */
    char host[256];           /* Host, as sent */
    char origin[256];         /* Origin; "" when the client sent none */
    char key[64];             /* Sec-WebSocket-Key */
    char authorization[1024]; /* Authorization (a GET of the directory); "" none */
};

/* Reads the request at the start of the @len bytes at @buf. */
void ws_request_parse(const char *buf, size_t len, struct ws_request *out);

/* May a page from @r's Origin open this WebSocket? @allowed: the
 * [ws] allowed_origins list (space or comma separated "scheme://host[:port]",
 * or "*"); NULL or "": the page must come from the host the request was
 * sent to (Origin's host and port are Host's). A request without Origin
 * comes from no browser page and is allowed (RFC 6455 §10.2). */
bool ws_origin_allowed(const struct ws_request *r, const char *allowed);

/* Writes the 101 that accepts @r with the "sip" subprotocol into @out.
 * Returns its length, or 0 if @size is too small. */
size_t ws_accept_response(const struct ws_request *r, char *out, size_t size);

/* Writes a short HTTP error (@status and its reason, @why as the text
 * body, Connection: close) into @out. Returns its length, or 0. */
size_t ws_http_error(int status, const char *why, char *out, size_t size);

struct ws_session;

/* Takes what the session sends; returns false when it cannot be queued
 * (the peer does not read): the session fails. */
typedef bool (*ws_write_fn)(void *ctx, const char *data, size_t len);

/* A server session whose messages may be @max_message bytes at most.
 * Returns 0, or SB_ENOMEM. */
int ws_session_new(size_t max_message, ws_write_fn write, void *ctx, struct ws_session **out);
void ws_session_free(struct ws_session *ws);

enum ws_state { WS_OPEN, WS_CLOSING, WS_FAILED };

/* Reads @len bytes received on the connection, queuing the whole
 * messages, answering pings and a close. */
enum ws_state ws_session_feed(struct ws_session *ws, const char *data, size_t len);

/* The oldest message received and not yet taken: @buf has room for a NUL
 * after its @len bytes and stays the session's until the next call.
 * Returns false when there is none. */
bool ws_session_next(struct ws_session *ws, char **buf, size_t *len);

/* Sends @len bytes as one message (text when they are UTF-8, else
 * binary). */
enum ws_state ws_session_send(struct ws_session *ws, const char *data, size_t len);

/* Starts the closing handshake with @code (1000, 1001 going away...). */
enum ws_state ws_session_close(struct ws_session *ws, unsigned code);

/* Pings and pongs received (keep-alives). */
unsigned long ws_session_pings(const struct ws_session *ws);

#endif
