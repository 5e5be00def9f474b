/* A folder of web files (the softphone page and its scripts) held in
 * memory: read once at start-up, so the threads that serve it (the
 * WebSocket listeners, which also carry SIP) never wait on the disk.
 *
 * DESIGN: webdir_load walks the folder (regular files with a known type,
 * no hidden names, at most WEBDIR_MAX_FILES and WEBDIR_MAX_BYTES) into
 * one table sorted by path; it is read-only afterwards, so any thread may
 * look a path up without a lock. */
#ifndef SWITCHBOARD_WEBDIR_H
#define SWITCHBOARD_WEBDIR_H

#include <stddef.h>

#define WEBDIR_MAX_FILES 4096
#define WEBDIR_MAX_BYTES (32u << 20)

struct webdir;

struct webdir_file {
    const char *path; /* "/index.html", "/node_modules/sip.js/lib/index.js" */
    const char *type; /* its Content-Type */
    const char *data;
    size_t len;
};

/* Reads @dir's tree. Returns 0, or a negative code with @err saying why
 * (a missing folder, too many or too large files). */
int webdir_load(const char *dir, struct webdir **out, char *err, size_t err_size);
void webdir_free(struct webdir *w);

/* The file a request-target names ("/" is "/index.html"; a query string
 * is ignored), or NULL: none, or a path that climbs out ("..") or is not
 * plain. */
const struct webdir_file *webdir_find(const struct webdir *w, const char *target);

/* The Content-Type for a file name, or NULL when it is not served. */
const char *webdir_type_of(const char *name);

size_t webdir_count(const struct webdir *w);

#endif
