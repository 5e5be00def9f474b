/* Request input of the admin plane. See admin_query.h. */
#include "switchboard/admin_query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void admin_params_init(struct admin_params *p)
{
    memset(p, 0, sizeof(*p));
    p->limit = ADMIN_LIMIT_DEFAULT;
}

bool admin_user_valid(const char *user)
{
    size_t n = strlen(user);
    if (n == 0 || n > 255)
        return false;
    for (const unsigned char *c = (const unsigned char *)user; *c; c++)
        if (*c < 0x20 || *c == 0x7f || *c == '/')
            return false;
    return true;
}

static bool all_digits(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (no timegm: it
 * reads the environment and is not in C11). */
static int64_t days_from_civil(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

int admin_time_parse(const char *text, int64_t *ms)
{
    if (all_digits(text, 12)) {
        *ms = strtoll(text, NULL, 10) * 1000;
        return 0;
    }
    int y, mo, d, h, mi, s, used = 0;
    if (strlen(text) > 40 ||
        sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &used) != 6 ||
        used != 19)
        return -1;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 || h < 0 ||
        mi < 0 || s < 0)
        return -1;
    const char *rest = text + used;
    int frac = 0;
    if (*rest == '.') {
        int digits = 0;
        for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++)
            if (digits < 3)
                frac = frac * 10 + (*rest - '0');
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            frac *= 10;
    }
    if (strcmp(rest, "Z") != 0)
        return -1;
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    *ms = ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)s * 1000 + frac;
    return 0;
}

const char *admin_param(struct admin_params *p, const char *key, const char *value)
{
    if (!value)
        value = "";
    if (!strcmp(key, "user")) {
        if (!admin_user_valid(value))
            return "user: want a user name";
        snprintf(p->user, sizeof(p->user), "%s", value);
    } else if (!strcmp(key, "since")) {
        if (admin_time_parse(value, &p->since_ms) != 0)
            return "since: want an RFC 3339 UTC time or seconds since the epoch";
    } else if (!strcmp(key, "limit")) {
        if (!all_digits(value, 4) || atoi(value) < 1 || atoi(value) > ADMIN_LIMIT_MAX)
            return "limit: want a number from 1 to 1000";
        p->limit = (unsigned)atoi(value);
    } else if (!strcmp(key, "contact")) {
        if (!*value || strlen(value) >= sizeof(p->contact))
            return "contact: want a Contact URI";
        snprintf(p->contact, sizeof(p->contact), "%s", value);
    } else if (!strcmp(key, "format")) {
        if (strcmp(value, "text") != 0 && strcmp(value, "json") != 0)
            return "format: want json or text";
        p->text = !strcmp(value, "text");
    } else {
        return "unknown query parameter";
    }
    return NULL;
}

bool admin_bearer_ok(const char *authorization, const char *token)
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return false;
    const char *given = authorization + 7;
    size_t n = strlen(token), m = strlen(given);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(token[i] ^ (i < m ? given[i] : 0));
    return diff == 0;
}

/* The host part of a Host header value ("name", "name:port", "[v6]",
 * "[v6]:port") into @buf; false when it does not fit or is malformed. */
static bool host_part(const char *value, char *buf, size_t size)
{
    const char *end;
    if (value[0] == '[') {
        end = strchr(value, ']');
        if (!end || (end[1] && end[1] != ':'))
            return false;
        value++;
    } else {
        end = strchr(value, ':');
        if (!end)
            end = value + strlen(value);
    }
    size_t n = (size_t)(end - value);
    if (n == 0 || n >= size)
        return false;
    memcpy(buf, value, n);
    buf[n] = '\0';
    return true;
}

bool admin_host_is_loopback(const char *host)
{
    char name[64];
    if (!host)
        return true; /* HTTP/1.0 without Host: not a browser's request */
    if (!host_part(host, name, sizeof(name)))
        return false;
    if (!strcasecmp(name, "localhost") || !strcmp(name, "::1"))
        return true;
    unsigned a, b, c, d;
    char rest;
    return sscanf(name, "%u.%u.%u.%u%c", &a, &b, &c, &d, &rest) == 4 && a == 127 && b < 256 &&
           c < 256 && d < 256;
}

bool admin_origin_ok(const char *origin, const char *host)
{
    if (!origin)
        return true; /* curl, switchboard-ctl: not a page's request */
    if (!host)
        return false;
    const char *rest = !strncmp(origin, "http://", 7)    ? origin + 7
                       : !strncmp(origin, "https://", 8) ? origin + 8
                                                         : NULL;
    return rest && !strcasecmp(rest, host);
}

const char *admin_json_field(const char *obj, const char *end, const char *name, char *buf,
                             size_t size)
{
    char key[40];
    snprintf(key, sizeof(key), "\"%s\":", name);
    const char *p = strstr(obj, key);
    size_t n = 0;
    if (p && (!end || p < end)) {
        p += strlen(key);
        if (*p == '"') {
            for (p++; *p && *p != '"' && n + 1 < size; p++)
                buf[n++] = *p == '\\' && p[1] ? *++p : *p;
        } else {
            while (*p && *p != ',' && *p != '}' && n + 1 < size)
                buf[n++] = *p++;
        }
    }
    buf[n] = '\0';
    return buf;
}
