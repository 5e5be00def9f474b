/* The admin plane's input: query arguments, times, the bearer token, and
 * fields of the JSON it reads back (the workers' calls, the journal).
 * Pure functions, so the fuzzer and the unit tests drive them without a
 * server. */
#ifndef SWITCHBOARD_ADMIN_QUERY_H
#define SWITCHBOARD_ADMIN_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ADMIN_LIMIT_DEFAULT 50
#define ADMIN_LIMIT_MAX 1000

struct admin_params {
    char user[256];    /* user=: "" when absent */
    int64_t since_ms;  /* since=: wall-clock ms; 0 when absent */
    unsigned limit;    /* limit=: 1..ADMIN_LIMIT_MAX */
    bool text;         /* format=text: a table for people (switchboard-ctl) */
    char contact[512]; /* contact=: one device's Contact URI; "" when absent */
};

void admin_params_init(struct admin_params *p);
/* Applies one query argument (@value may be NULL: "?key"). Returns NULL,
 * or why it is refused (an unknown key, a bad value) for a 400. */
const char *admin_param(struct admin_params *p, const char *key, const char *value);

/* RFC 3339 UTC ("2026-11-27T12:00:00Z", fraction optional) or seconds
 * since the epoch, to wall-clock ms. Returns 0 or -1. */
int admin_time_parse(const char *text, int64_t *ms);

/* Whether an Authorization header value is "Bearer @token", compared in
 * constant time. */
bool admin_bearer_ok(const char *authorization, const char *token);

/* Does a Host header value name the loopback ("localhost", 127.0.0.0/8,
 * "[::1]", with or without a port)? A listener on loopback answers only
 * those, so a page whose name rebinds to 127.0.0.1 (DNS rebinding) is
 * refused. NULL (no Host) counts as loopback. */
bool admin_host_is_loopback(const char *host);

/* May a request that changes state carry this Origin? Only the page's own
 * (http[s]://@host) or none (a command line client). */
bool admin_origin_ok(const char *origin, const char *host);

/* A user name as the API takes it in a path or user=: 1-255 bytes, no
 * control characters, no '/'. */
bool admin_user_valid(const char *user);

/* Field @name of the JSON object at @obj as the workers and the journal
 * write them (flat keys, no spaces), searched up to @end (NULL: the end
 * of the text): a string unescaped, any other value as written, into
 * @buf ("" when absent), cut to fit. Returns @buf. */
const char *admin_json_field(const char *obj, const char *end, const char *name, char *buf,
                             size_t size);

#endif
