/* Logging to stderr, one whole line per call. The level is set once at start
 * before any thread runs and only read afterwards. */
#ifndef SWITCHBOARD_LOG_H
#define SWITCHBOARD_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum sb_log_level { SB_LOG_ERROR = 0, SB_LOG_WARN, SB_LOG_INFO, SB_LOG_DEBUG };

void sb_log_set_level(enum sb_log_level level);
bool sb_log_enabled(enum sb_log_level level);
/* Returns the level named by @name ("error", "warn", "info", "debug") or -1. */
int sb_log_level_parse(const char *name);
void sb_log(enum sb_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* At most one log line a second for a recurring problem. Owned by one
 * thread. */
struct sb_log_limiter {
    uint64_t logged_ms;  /* 0: never logged */
    uint64_t suppressed; /* occurrences since the last line */
};

/* True when a line may be written now; then *@suppressed says how many
 * occurrences went unlogged since the last one. */
bool sb_log_limiter_ready(struct sb_log_limiter *limiter, uint64_t now_ms, uint64_t *suppressed);

#define SB_ERROR(...) sb_log(SB_LOG_ERROR, __VA_ARGS__)
#define SB_WARN(...) sb_log(SB_LOG_WARN, __VA_ARGS__)
#define SB_INFO(...) sb_log(SB_LOG_INFO, __VA_ARGS__)
#define SB_DEBUG(...)                                                                              \
    do {                                                                                           \
        if (sb_log_enabled(SB_LOG_DEBUG))                                                          \
            sb_log(SB_LOG_DEBUG, __VA_ARGS__);                                                     \
    } while (0)

#endif
