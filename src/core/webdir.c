/* Web files held in memory. See webdir.h. */
#include "switchboard/webdir.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "switchboard/error.h"

struct webdir {
    size_t count, cap, bytes;
    struct webdir_file *files;
};

static const struct {
    const char *ext, *type;
} TYPES[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".wav", "audio/wav"},
    {".txt", "text/plain; charset=utf-8"},
};

const char *webdir_type_of(const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof(TYPES) / sizeof(TYPES[0]); i++) {
        size_t n = strlen(TYPES[i].ext);
        if (len > n && strcmp(name + len - n, TYPES[i].ext) == 0)
            return TYPES[i].type;
    }
    return NULL;
}

/* Reads regular file @full (@size bytes) as @path into @w. */
static int add_file(struct webdir *w, const char *full, const char *path, size_t size,
                    const char *type, char *err, size_t err_size)
{
    if (w->count == WEBDIR_MAX_FILES || w->bytes + size > WEBDIR_MAX_BYTES) {
        snprintf(err, err_size, "more than %u files or %u MiB", WEBDIR_MAX_FILES,
                 WEBDIR_MAX_BYTES >> 20);
        return SB_ELIMIT;
    }
    if (w->count == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        struct webdir_file *grown = realloc(w->files, cap * sizeof(*grown));
        if (!grown)
            return SB_ENOMEM;
        w->files = grown;
        w->cap = cap;
    }
    char *data = malloc(size + 1), *name = strdup(path);
    FILE *f = fopen(full, "rb");
    bool ok = data && name && f && fread(data, 1, size, f) == size;
    if (f)
        fclose(f);
    if (!ok) {
        snprintf(err, err_size, "cannot read %s: %s", full, strerror(errno ? errno : EIO));
        free(data);
        free(name);
        return SB_ESYS;
    }
    data[size] = '\0';
    w->files[w->count++] = (struct webdir_file){name, type, data, size};
    w->bytes += size;
    return 0;
}

/* Adds what folder @full (served as @path) holds. */
static int walk(struct webdir *w, const char *full, const char *path, int depth, char *err,
                size_t err_size)
{
    DIR *d = opendir(full);
    if (!d) {
        snprintf(err, err_size, "cannot open %s: %s", full, strerror(errno));
        return SB_ESYS;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue; /* ., .., hidden files */
        char sub_full[4096], sub_path[1024];
        struct stat st;
        if (snprintf(sub_full, sizeof(sub_full), "%s/%s", full, e->d_name) >=
                (int)sizeof(sub_full) ||
            snprintf(sub_path, sizeof(sub_path), "%s/%s", path, e->d_name) >=
                (int)sizeof(sub_path) ||
            stat(sub_full, &st) != 0)
            continue;
        const char *type = webdir_type_of(e->d_name);
        if (S_ISDIR(st.st_mode) && depth < 16)
            rc = walk(w, sub_full, sub_path, depth + 1, err, err_size);
        else if (S_ISREG(st.st_mode) && type)
            rc = add_file(w, sub_full, sub_path, (size_t)st.st_size, type, err, err_size);
    }
    closedir(d);
    return rc;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct webdir_file *)a)->path, ((const struct webdir_file *)b)->path);
}

int webdir_load(const char *dir, struct webdir **out, char *err, size_t err_size)
{
    struct webdir *w = calloc(1, sizeof(*w));
    if (!w)
        return SB_ENOMEM;
    int rc = walk(w, dir, "", 0, err, err_size);
    if (rc != 0) {
        webdir_free(w);
        return rc;
    }
    if (w->count)
        qsort(w->files, w->count, sizeof(*w->files), by_path);
    *out = w;
    return 0;
}

void webdir_free(struct webdir *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->count; i++) {
        free((char *)w->files[i].path);
        free((char *)w->files[i].data);
    }
    free(w->files);
    free(w);
}

/* Is @path (up to its query) plain: '/'-separated names of safe
 * characters, none of them "." or ".."? */
static bool plain_path(const char *path, size_t len)
{
    if (len == 0 || path[0] != '/')
        return false;
    size_t seg = 1;
    for (size_t i = 1; i <= len; i++) {
        if (i == len || path[i] == '/') {
            size_t n = i - seg;
            if ((n == 1 && path[seg] == '.') ||
                (n == 2 && path[seg] == '.' && path[seg + 1] == '.'))
                return false;
            seg = i + 1;
            continue;
        }
        char c = path[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_' || c == '@';
        if (!ok)
            return false;
    }
    return true;
}

const struct webdir_file *webdir_find(const struct webdir *w, const char *target)
{
    size_t len = strcspn(target, "?#");
    if (!w || !plain_path(target, len) || len >= 1024)
        return NULL;
    char path[1024 + 16];
    memcpy(path, target, len);
    path[len] = '\0';
    if (path[len - 1] == '/')
        strcpy(path + len, "index.html");
    struct webdir_file key = {.path = path};
    return w->count ? bsearch(&key, w->files, w->count, sizeof(*w->files), by_path) : NULL;
}

size_t webdir_count(const struct webdir *w)
{
    return w ? w->count : 0;
}
