#include "switchboard/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "switchboard/utf8.h"

/* Written once by main() before threads start, read-only afterwards. */
static enum sb_log_level log_level = SB_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void sb_log_set_level(enum sb_log_level level)
{
    log_level = level;
}

bool sb_log_enabled(enum sb_log_level level)
{
    return level <= log_level;
}

int sb_log_level_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return (int)i;
    return -1;
}

bool sb_log_limiter_ready(struct sb_log_limiter *limiter, uint64_t now_ms, uint64_t *suppressed)
{
    if (limiter->logged_ms != 0 && now_ms - limiter->logged_ms < 1000) {
        limiter->suppressed++;
        return false;
    }
    *suppressed = limiter->suppressed;
    limiter->logged_ms = now_ms;
    limiter->suppressed = 0;
    return true;
}

void sb_log(enum sb_log_level level, const char *fmt, ...)
{
    if (!sb_log_enabled(level))
        return;
    char line[8192];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)(tv.tv_usec / 1000), level_names[level]);
    char text[6144]; /* the counters line (main.c) is ~2.5 KiB */
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    size_t text_len = m < 0 ? 0 : (size_t)m < sizeof(text) ? (size_t)m : sizeof(text) - 1;
    /* what strangers sent (user names, methods) cannot move the cursor,
     * clear a terminal or break a line in two */
    size_t len = (size_t)n + utf8_escape_controls(text, text_len, line + n,
                                                  sizeof(line) - (size_t)n - 1);
    line[len++] = '\n';
    /* one write per line so lines from threads never interleave */
    fwrite(line, 1, len, stderr);
}
