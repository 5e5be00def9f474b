/* Reading the settings: an INI file (conf/switchboard.conf) overridden by
 * command line flags, checked as a whole (config.h holds the struct and
 * its defaults). The top floor: checking a value may call the parser of
 * any floor below (auth modes, digest algorithms, NAT modes, Redis URLs).
 * Read once at start-up, read-only afterwards. */
#ifndef SWITCHBOARD_SETTINGS_H
#define SWITCHBOARD_SETTINGS_H

struct sb_config;

/* Applies an INI file. Returns 0, or a negative code after printing a message
 * naming the file and line to stderr. */
int settings_load_file(struct sb_config *cfg, const char *path);

/* Applies INI text as if it were a file named @name, then checks the
 * result as start-up does. Returns 0 or a negative code (after printing
 * why). For tests and the fuzzer. */
int settings_load_text(struct sb_config *cfg, const char *text, const char *name);

/* Parses the command line: -c FILE first, then every flag over it.
 * Returns 0 to run, 1 when --help or --version was answered (exit 0), or a
 * negative code after printing why (exit 2). */
int settings_from_args(struct sb_config *cfg, int argc, char **argv);

/* Resolves 0 in listeners/workers to the CPU count. */
void settings_finalize(struct sb_config *cfg);

#endif
