/* Line-by-line config text. See conftext.h. */
#include "switchboard/conftext.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/error.h"

int conftext_fail(const struct conftext_pos *pos, const char *fmt, ...)
{
    int n = pos->line ? snprintf(pos->err, pos->errsize, "%s:%d: ", pos->name, pos->line)
                      : snprintf(pos->err, pos->errsize, "%s: ", pos->name);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < pos->errsize)
        vsnprintf(pos->err + n, pos->errsize - (size_t)n, fmt, ap);
    va_end(ap);
    return SB_EINVAL;
}

char *conftext_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

void conftext_cut_comment(char *s)
{
    for (char *c = s; *c; c++)
        if ((*c == ';' || *c == '#') && c > s && isspace((unsigned char)c[-1])) {
            *c = '\0';
            return;
        }
}

int conftext_each_line(struct conftext_pos *pos, const char *text, int (*fn)(void *ctx, char *line),
                       void *ctx)
{
    char line[CONFTEXT_LINE_MAX];
    int rc = 0;
    for (const char *s = text; *s && rc == 0;) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        pos->line++;
        if (n >= sizeof(line))
            return conftext_fail(pos, "line longer than %zu bytes", sizeof(line) - 1);
        memcpy(line, s, n);
        line[n] = '\0';
        rc = fn(ctx, line);
        s = nl ? nl + 1 : s + n;
    }
    return rc;
}

int conftext_read_file(const char *path, char **text, char *err, size_t errsize)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsize, "cannot read %s: %s", path, strerror(errno));
        return SB_EINVAL;
    }
    size_t size = 0;
    FILE *mem = open_memstream(text, &size);
    char chunk[4096];
    size_t n;
    while (mem && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, n, mem);
    bool failed = ferror(f);
    fclose(f);
    if (!mem)
        return SB_ENOMEM;
    fclose(mem);
    if (failed) {
        snprintf(err, errsize, "cannot read %s: %s", path, strerror(EIO));
        free(*text);
        *text = NULL;
        return SB_EINVAL;
    }
    return 0;
}
