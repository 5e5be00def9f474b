/* An append-only file written by its own thread, so that no worker ever
 * blocks on disk. Used for the call journal and the SIP trace.
 *
 * DESIGN: producers (any thread) copy a record into a liburcu wfcqueue and
 * wake the writer only when it sleeps. The writer thread appends whole
 * records: if a write comes up short (disk full), it truncates the file back
 * to the last whole record and counts the rest as failed, so the file never
 * holds a torn record. The queue is bounded; records past the bound are
 * dropped and counted. async_file_close() drains everything queued. */
#ifndef SWITCHBOARD_ASYNC_FILE_H
#define SWITCHBOARD_ASYNC_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct async_file;

enum async_file_sync {
    ASYNC_FILE_SYNC_NONE,   /* leave it to the kernel */
    ASYNC_FILE_SYNC_BATCH,  /* fsync after each batch written */
    ASYNC_FILE_SYNC_RECORD, /* fsync after every record */
};

struct async_file_options {
    const char *path;
    const char *name; /* for log lines: "journal", "trace" */
    enum async_file_sync sync;
    size_t queue_limit;
    /* written first when the file is empty (a pcap header), may be NULL */
    const void *header;
    size_t header_len;
};

struct async_file_counters {
    uint64_t written; /* records on disk */
    uint64_t failed;  /* records the disk refused */
    uint64_t dropped; /* records refused because the queue was full */
    uint64_t queued;  /* records accepted, not yet written: the lag */
};

/* Opens (creating, appending) and starts the writer. */
int async_file_open(const struct async_file_options *options, struct async_file **out);
/* Copies @len bytes as one record. Returns 0 or SB_ELIMIT (dropped,
 * counted) or SB_ENOMEM. Any thread may call it. */
int async_file_append(struct async_file *f, const void *data, size_t len);
/* Reopens the path before the next write (log rotation on SIGHUP). */
void async_file_reopen(struct async_file *f);
void async_file_counters(const struct async_file *f, struct async_file_counters *out);
/* Writes everything queued, stops the writer, closes. @last (may be NULL)
 * receives the final counters. */
void async_file_close(struct async_file *f, struct async_file_counters *last);

/* Parses "none", "batch" or "record". Returns 0 or SB_EINVAL. */
int async_file_sync_parse(const char *text, enum async_file_sync *out);

#endif
