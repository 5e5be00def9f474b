/* The office's own sections of the config file ([extensions], [trunk
 * NAME], ...) read line by line by their modules (dialplan.c, trunk.c)
 * with inih's rules for comments and whitespace, every error named
 * "FILE:LINE: what". Pure; any thread. */
#ifndef SWITCHBOARD_CONFTEXT_H
#define SWITCHBOARD_CONFTEXT_H

#include <stddef.h>

#define CONFTEXT_LINE_MAX 1024

/* Where a parser is, and where its first error goes. */
struct conftext_pos {
    const char *name; /* the file's */
    int line;         /* 0: not at a line (a check over the whole file) */
    char *err;
    size_t errsize;
};

/* Writes "NAME:LINE: " (or "NAME: ") and the message into pos->err.
 * Returns SB_EINVAL. */
__attribute__((format(printf, 2, 3))) int conftext_fail(const struct conftext_pos *pos,
                                                        const char *fmt, ...);

/* @s without leading and trailing whitespace (in place). */
char *conftext_trim(char *s);
/* Cuts an inline comment: ';' or '#' after whitespace (as inih does). */
void conftext_cut_comment(char *s);

/* Calls @fn with each line of @text (a writable copy without its
 * newline), pos->line counting from 1; stops at the first non-zero
 * return, which it returns. A line of CONFTEXT_LINE_MAX bytes or more is
 * an error. */
int conftext_each_line(struct conftext_pos *pos, const char *text, int (*fn)(void *ctx, char *line),
                       void *ctx);

/* The whole of @path into *@text (free() it). Returns 0, or SB_EINVAL
 * with "cannot read PATH: why" in @err, or SB_ENOMEM. */
int conftext_read_file(const char *path, char **text, char *err, size_t errsize);

#endif
