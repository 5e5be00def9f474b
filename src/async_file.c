/* A file appended to by its own thread. See the DESIGN note in async_file.h. */
#include "switchboard/async_file.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <urcu/wfcqueue.h>

#include "switchboard/error.h"
#include "switchboard/log.h"
#include "switchboard/types.h"
#include "tsan_annotate.h"

#define WRITE_BATCH 256

struct record {
    struct cds_wfcq_node node;
    size_t len;
    char data[];
};

struct async_file {
    struct cds_wfcq_head head;
    struct cds_wfcq_tail tail;
    atomic_long depth;
    atomic_int sleeping;
    atomic_bool stopping;
    atomic_bool reopen;
    atomic_uint_fast64_t written, failed, dropped;
    int wake_fd;
    int fd;
    char *path;
    char *name;
    void *header;
    size_t header_len;
    enum async_file_sync sync;
    size_t queue_limit;
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
    struct cds_wfcq_head head;
    struct cds_wfcq_tail tail;
    struct record *batch[WRITE_BATCH];
    size_t n = 0, total = 0;
    cds_wfcq_init(&head, &tail);
    if (cds_wfcq_empty(&f->head, &f->tail))
        return 0;
    __cds_wfcq_splice_blocking(&head, &tail, &f->head, &f->tail);
    struct cds_wfcq_node *node;
    while ((node = __cds_wfcq_dequeue_blocking(&head, &tail)) != NULL) {
        tsan_observe(node);
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
    atomic_fetch_sub(&f->depth, (long)total);
    cds_wfcq_destroy(&head, &tail);
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
        if (atomic_load(&f->stopping) && cds_wfcq_empty(&f->head, &f->tail))
            break;
        atomic_store(&f->sleeping, 1);
        if (cds_wfcq_empty(&f->head, &f->tail) && !atomic_load(&f->stopping) &&
            !atomic_load(&f->reopen)) {
            struct pollfd pfd = {.fd = f->wake_fd, .events = POLLIN};
            if (poll(&pfd, 1, 1000) > 0) {
                uint64_t v;
                ssize_t r = read(f->wake_fd, &v, sizeof(v));
                (void)r;
            }
        }
        atomic_store(&f->sleeping, 0);
    }
    return NULL;
}

static void wake(struct async_file *f)
{
    uint64_t one = 1;
    ssize_t r = write(f->wake_fd, &one, sizeof(one));
    (void)r;
}

static void file_free(struct async_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    if (f->wake_fd >= 0)
        close(f->wake_fd);
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
    cds_wfcq_init(&f->head, &f->tail);
    f->fd = -1;
    f->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    f->path = strdup(o->path);
    f->name = strdup(o->name);
    f->sync = o->sync;
    f->queue_limit = o->queue_limit ? o->queue_limit : 65536;
    if (o->header) {
        f->header = malloc(o->header_len);
        if (f->header)
            memcpy(f->header, o->header, o->header_len);
        f->header_len = o->header_len;
    }
    int rc = (f->wake_fd < 0 || !f->path || !f->name || (o->header && !f->header)) ? SB_ENOMEM : 0;
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
    if ((size_t)atomic_fetch_add(&f->depth, 1) >= f->queue_limit) {
        atomic_fetch_sub(&f->depth, 1);
        atomic_fetch_add(&f->dropped, 1);
        return SB_ELIMIT;
    }
    struct record *r = malloc(sizeof(*r) + len);
    if (!r) {
        atomic_fetch_sub(&f->depth, 1);
        atomic_fetch_add(&f->dropped, 1);
        return SB_ENOMEM;
    }
    r->len = len;
    memcpy(r->data, data, len);
    cds_wfcq_node_init(&r->node);
    tsan_publish(&r->node);
    cds_wfcq_enqueue(&f->head, &f->tail, &r->node);
    if (atomic_exchange(&f->sleeping, 0))
        wake(f);
    return 0;
}

void async_file_reopen(struct async_file *f)
{
    atomic_store(&f->reopen, true);
    wake(f);
}

void async_file_counters(const struct async_file *f, struct async_file_counters *out)
{
    out->written = atomic_load(&f->written);
    out->failed = atomic_load(&f->failed);
    out->dropped = atomic_load(&f->dropped);
}

void async_file_close(struct async_file *f, struct async_file_counters *last)
{
    if (!f)
        return;
    atomic_store(&f->stopping, true);
    wake(f);
    pthread_join(f->thread, NULL);
    drain(f); /* anything appended while it stopped */
    if (last)
        async_file_counters(f, last);
    cds_wfcq_destroy(&f->head, &f->tail);
    file_free(f);
}
