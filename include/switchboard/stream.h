/* TCP, TLS and WebSocket transports (RFC 3261 §18, RFC 5630, RFC 7118):
 * listen sockets, I/O threads and the connections they own.
 *
 * DESIGN: each I/O thread runs an epoll loop over its own SO_REUSEPORT
 * listen sockets and the connections it accepted or opened; no other
 * thread touches a connection. It frames messages by Content-Length
 * (stream_frame.h), answers CRLF keep-alive pings, parses with libosip2 and
 * hands each message to the Call-ID's worker exactly as the UDP listeners
 * do, stamped with the connection's id. Workers never touch a socket: they
 * post what to send to the owning I/O thread's wakeq (the program's one
 * hand-off primitive), and that thread writes it, connecting first when
 * there is no connection yet (non-blocking, bounded in time). A request it
 * cannot deliver goes back to the worker that sent it (send_failed).
 *
 * Connection ids are 64 bits and never reused: a sequence number, the
 * connection's slot in its thread, and the thread's index. A worker can
 * ask whether one is still open (stream_conn_alive) without a lock: each
 * thread publishes its open ids in an array of atomics.
 *
 * A ws:/wss: connection is framed by its WebSocket session (ws.h), each
 * message one SIP message; before the upgrade it is HTTP, answered with
 * the phone page's files held in memory (webdir.h). We never open one.
 *
 * Connection life: CONNECTING (ours, until connect() completes) ->
 * HANDSHAKE (TLS only) -> [UPGRADE (ws:, wss:)] -> OPEN -> closed. Any
 * state closes on error, on the idle or header timeout, on a full write
 * queue, or at shutdown after what was queued is written. */
#ifndef SWITCHBOARD_STREAM_H
#define SWITCHBOARD_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "switchboard/stats.h"
#include "switchboard/types.h"

struct stream;
struct sb_config;
struct listen_table;
struct dispatch;
struct sip_trace;
struct reasons;
struct auth;
struct dialplan_holder;

/* Opens the tcp: and tls: listen addresses of @listens (noting the ports
 * the kernel chose) and loads the TLS certificate. Returns 0, or a
 * negative code after logging why. */
int stream_create(const struct sb_config *cfg, struct listen_table *listens, struct stream **out);
void stream_destroy(struct stream *s);

/* Starts the I/O threads, feeding @d. */
/* What GET /directory on a ws: or wss: listener reads (ws_directory.h):
 * @auth NULL under [auth] require = none, @plans NULL without a plan.
 * Before stream_start. */
void stream_set_office(struct stream *s, struct auth *auth, struct dialplan_holder *plans);

int stream_start(struct stream *s, struct dispatch *d, struct sip_trace *trace,
                 struct reasons *reasons);
/* Stops reading and accepting (shutdown, before the workers drain). */
void stream_stop_input(struct stream *s);
/* Writes what the workers queued (for a second at most), closes every
 * connection and joins the threads. */
void stream_stop(struct stream *s);

/* Queues a copy of @data for @dest on the I/O thread owning its
 * connection (or, without one, the thread that connects to its peer).
 * @request: hand it back to worker @worker if it cannot be sent. Returns
 * the thread to wake (stream_wake, once per batch), or -1 (no memory, or
 * the thread's queue is full). Any thread. */
int stream_post(struct stream *s, const struct sb_dest *dest, const char *data, size_t len,
                bool request);
void stream_wake(struct stream *s, unsigned thread);
unsigned stream_thread_count(const struct stream *s);

/* Is connection @conn open? Any thread, no lock. */
bool stream_conn_alive(const struct stream *s, uint64_t conn);

/* Connections open now. */
size_t stream_connection_count(const struct stream *s);
void stream_counters(const struct stream *s, uint64_t total[SB_CNT_COUNT]);

#endif
