/* Framing SIP messages on a stream (RFC 3261 §18.3): where one message ends
 * in what a TCP or TLS connection has delivered so far. Headers end at the
 * first blank line; Content-Length, mandatory on streams, says how many
 * body bytes follow. Between messages a peer may send CRLF keep-alives
 * (RFC 5626 §4.4.1): a double CRLF "ping" is answered with one CRLF "pong".
 * Pure functions; any thread. The I/O threads and the fuzzer use it. */
#ifndef SWITCHBOARD_STREAM_FRAME_H
#define SWITCHBOARD_STREAM_FRAME_H

#include <stddef.h>

#define STREAM_FRAME_MAX 65536 /* one message, headers and body */

enum stream_frame_kind {
    STREAM_FRAME_MORE,      /* no whole message yet: read more */
    STREAM_FRAME_MESSAGE,   /* a message of ->length bytes (->skip CRLF before it) */
    STREAM_FRAME_PING,      /* ->skip bytes of CRLFCRLF keep-alive: answer CRLF */
    STREAM_FRAME_PONG,      /* ->skip bytes of a lone CRLF (a pong, or padding) */
    STREAM_FRAME_NO_LENGTH, /* headers without Content-Length: answer 400, close */
    STREAM_FRAME_TOO_BIG,   /* past STREAM_FRAME_MAX: close */
    STREAM_FRAME_BAD,       /* a Content-Length that is no number: answer 400, close */
};

struct stream_frame {
    enum stream_frame_kind kind;
    size_t skip;   /* bytes before the message (keep-alives), or consumed */
    size_t length; /* the message, headers and body */
    size_t header_length;
};

/* What is known of the message being received, kept per connection so
 * each new read is looked at once, not the whole buffer again (a peer
 * sending a byte at a time cannot make framing quadratic). Zero it when
 * a frame is consumed (anything but STREAM_FRAME_MORE). */
struct stream_scan {
    size_t scanned; /* leading bytes known to hold no end of headers */
    size_t total;   /* the whole message's length, once its headers are in */
};

/* Looks at the @len bytes at @buf (what is buffered, oldest first), from
 * where @scan (may be NULL: from the start) says the last look stopped. */
void stream_frame_next(const char *buf, size_t len, struct stream_scan *scan,
                       struct stream_frame *out);

#endif
