/* A file appended to by its own thread. See the DESIGN note in async_file.h. */
#include "switchboard/async_file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "switchboard/error.h"
#include "switchboard/log.h"
#include "switchboard/types.h"
#include "switchboard/wakeq.h"

#define WRITE_BATCH 256

struct record {
    struct cds_wfcq_node node;
    size_t len;
    char data[];
};

struct async_file {
    struct wakeq *queue; /* records from any thread to the writer */
    atomic_bool reopen;
    atomic_uint_fast64_t written, failed, dropped;
    int fd;
    char *path;
    char *name;
    void *header;
    size_t header_len;
    enum async_file_sync sync;
    pthread_t thread;
    uint64_t last_error_log_ms;
};

int async_file_sync_parse(const char *text, enum async_file_sync *out)
{
    if (!strcmp(text, "none"))
        *out = ASYNC_FILE_SYNC_NONE;
    else if (!strcmp(text, "batch"))
        *out = ASYNC_FILE_SYNC_BATCH;
    else if (!strcmp(text, "record"))
        *out = ASYNC_FILE_SYNC_RECORD;
    else
        return SB_EINVAL;
    return 0;
}

/* Opens the path; writes the header into a new, empty file. */
static int file_open(struct async_file *f)
{
    int fd = open(f->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        SB_ERROR("%s: cannot open %s: %s", f->name, f->path, strerror(errno));
        return SB_ESYS;
    }
    if (f->header && lseek(fd, 0, SEEK_END) == 0 &&
        write(fd, f->header, f->header_len) != (ssize_t)f->header_len) {
        SB_ERROR("%s: cannot write the header of %s: %s", f->name, f->path, strerror(errno));
        close(fd);
        return SB_ESYS;
    }
    if (f->fd >= 0)
        close(f->fd);
    f->fd = fd;
    return 0;
}

static void report_failure(struct async_file *f, size_t lost, int err)
{
    atomic_fetch_add(&f->failed, lost);
    uint64_t now = sb_now_ms();
    if (now - f->last_error_log_ms >= 1000 || f->last_error_log_ms == 0) {
        SB_ERROR("%s: %zu record(s) could not be written to %s: %s (%llu lost so far)", f->name,
                 lost, f->path, strerror(err), (unsigned long long)atomic_load(&f->failed));
        f->last_error_log_ms = now;
    }
}

/* Appends @n records with one writev; on a short write, cuts the file back
 * to the last whole record. */
static void write_batch(struct async_file *f, struct record **recs, size_t n)
{
    struct iovec iov[WRITE_BATCH];
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        iov[i].iov_base = recs[i]->data;
        iov[i].iov_len = recs[i]->len;
        total += recs[i]->len;
    }
    if (f->fd < 0) {
        report_failure(f, n, EBADF);
        return;
    }
    off_t start = lseek(f->fd, 0, SEEK_END);
    ssize_t done = writev(f->fd, iov, (int)n);
    if (done == (ssize_t)total) {
        atomic_fetch_add(&f->written, n);
        if (f->sync != ASYNC_FILE_SYNC_NONE)
            fsync(f->fd);
        return;
    }
    int err = done < 0 ? errno : ENOSPC;
    size_t whole = 0, kept = 0;
    while (done > 0 && whole < n && kept + recs[whole]->len <= (size_t)done)
        kept += recs[whole++]->len;
    if (start >= 0 && ftruncate(f->fd, start + (off_t)kept) != 0)
        SB_ERROR("%s: cannot cut a torn record from %s: %s", f->name, f->path, strerror(errno));
    atomic_fetch_add(&f->written, whole);
    report_failure(f, n - whole, err);
}

static size_t drain(struct async_file *f)
{
    struct wakeq_batch taken;
    struct record *batch[WRITE_BATCH];
    size_t n = 0, total = 0;
    wakeq_batch_init(&taken);
    if (!wakeq_take(f->queue, &taken)) {
        wakeq_batch_fini(&taken);
        return 0;
    }
    struct cds_wfcq_node *node;
    while ((node = wakeq_batch_pop(&taken)) != NULL) {
        batch[n++] = caa_container_of(node, struct record, node);
        if (n == WRITE_BATCH || f->sync == ASYNC_FILE_SYNC_RECORD) {
            write_batch(f, batch, n);
            for (size_t i = 0; i < n; i++)
                free(batch[i]);
            total += n;
            n = 0;
        }
    }
    if (n) {
        write_batch(f, batch, n);
        for (size_t i = 0; i < n; i++)
            free(batch[i]);
        total += n;
    }
    wakeq_done(f->queue, total);
    wakeq_batch_fini(&taken);
    return total;
}

static void *writer_main(void *arg)
{
    struct async_file *f = arg;
    for (;;) {
        if (atomic_exchange(&f->reopen, false) && file_open(f) == 0)
            SB_INFO("%s: reopened %s", f->name, f->path);
        if (drain(f) > 0)
            continue;
        if (wakeq_stopping(f->queue))
            break;
        /* a reopen request stops the queue's sleep through wakeq_kick */
        if (!atomic_load(&f->reopen))
            wakeq_wait(f->queue, 1000);
    }
    return NULL;
}

static void free_record(struct cds_wfcq_node *node)
{
    free(caa_container_of(node, struct record, node));
}

static void file_free(struct async_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    wakeq_destroy(f->queue, free_record);
    free(f->path);
    free(f->name);
    free(f->header);
    free(f);
}

int async_file_open(const struct async_file_options *o, struct async_file **out)
{
    struct async_file *f = calloc(1, sizeof(*f));
    if (!f)
        return SB_ENOMEM;
    f->fd = -1;
    int rc = wakeq_create(o->queue_limit ? o->queue_limit : 65536, &f->queue);
    if (rc != 0) {
        free(f);
        return rc;
    }
    f->path = strdup(o->path);
    f->name = strdup(o->name);
    f->sync = o->sync;
    if (o->header) {
        f->header = malloc(o->header_len);
        if (f->header)
            memcpy(f->header, o->header, o->header_len);
        f->header_len = o->header_len;
    }
    rc = (!f->path || !f->name || (o->header && !f->header)) ? SB_ENOMEM : 0;
    if (rc == 0)
        rc = file_open(f);
    if (rc == 0 && pthread_create(&f->thread, NULL, writer_main, f) != 0)
        rc = SB_ESYS;
    if (rc != 0) {
        file_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

int async_file_append(struct async_file *f, const void *data, size_t len)
{
    struct record *r = malloc(sizeof(*r) + len);
    if (!r) {
        atomic_fetch_add(&f->dropped, 1);
        return SB_ENOMEM;
    }
    r->len = len;
    memcpy(r->data, data, len);
    int rc = wakeq_push(f->queue, &r->node);
    if (rc != 0) {
        free(r);
        atomic_fetch_add(&f->dropped, 1);
        return rc;
    }
    wakeq_wake(f->queue);
    return 0;
}

void async_file_reopen(struct async_file *f)
{
    atomic_store(&f->reopen, true);
    wakeq_kick(f->queue); /* a flag, not a queued line */
}

void async_file_counters(const struct async_file *f, struct async_file_counters *out)
{
    out->written = atomic_load(&f->written);
    out->failed = atomic_load(&f->failed);
    out->dropped = atomic_load(&f->dropped);
    out->queued = wakeq_depth(f->queue);
}

void async_file_close(struct async_file *f, struct async_file_counters *last)
{
    if (!f)
        return;
    wakeq_stop(f->queue);
    pthread_join(f->thread, NULL);
    drain(f); /* anything appended while it stopped */
    if (last)
        async_file_counters(f, last);
    file_free(f);
}
