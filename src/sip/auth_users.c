/* The users file. See auth_users.h. */
#include "switchboard/auth_users.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "switchboard/error.h"
#include "switchboard/types.h"

#define USERS_MAX 1000000
#define FILE_MAX (64u << 20)
#define USER_KEY_MAX 384 /* user (127) '@' realm */

struct user_entry {
    char *name; /* NULL: empty slot */
    char ha1[DIGEST_ALG_COUNT][DIGEST_HEX_MAX];
    unsigned line[DIGEST_ALG_COUNT]; /* where each came from (0: none) */
};

struct auth_users {
    size_t count, other_realms;
    size_t mask; /* slots - 1 */
    struct user_entry *slots;
};

static struct user_entry *slot_for(const struct auth_users *u, const char *name, size_t len)
{
    size_t i = (size_t)sb_hash(name, len) & u->mask;
    while (u->slots[i].name &&
           (strlen(u->slots[i].name) != len || memcmp(u->slots[i].name, name, len) != 0))
        i = (i + 1) & u->mask;
    return &u->slots[i];
}

void auth_users_free(struct auth_users *u)
{
    if (!u)
        return;
    for (size_t i = 0; u->slots && i <= u->mask; i++)
        free(u->slots[i].name);
    free(u->slots);
    free(u);
}

static size_t count_lines(const char *text, size_t len)
{
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += text[i] == '\n';
    return n;
}

static int fail(char *err, size_t size, unsigned line, const char *what)
{
    snprintf(err, size, "line %u: %s", line, what);
    return SB_EINVAL;
}

static bool hex_only(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* The table's key for a line's user into @out (USER_KEY_MAX bytes): the
 * user alone, or with @realm "user@realm", the realm lower-cased as a
 * domain is. Returns its length, 0 when it does not fit. */
static size_t user_key(const char *user, size_t ulen, const char *realm, size_t rlen, char *out)
{
    if (ulen + (realm ? 1 + rlen : 0) >= USER_KEY_MAX)
        return 0;
    memcpy(out, user, ulen);
    size_t n = ulen;
    if (realm) {
        out[n++] = '@';
        for (size_t i = 0; i < rlen; i++)
            out[n++] = (char)tolower((unsigned char)realm[i]);
    }
    out[n] = '\0';
    return n;
}

/* Handles one line (without its newline). */
static int parse_line(struct auth_users *u, const char *line, size_t len, const char *realm,
                      unsigned number, char *err, size_t err_size)
{
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    if (len == 0 || line[0] == '#')
        return 0;
    const char *c1 = memchr(line, ':', len);
    const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
    if (!c1 || !c2)
        return fail(err, err_size, number, "want user:realm:HA1");
    size_t ulen = (size_t)(c1 - line), rlen = (size_t)(c2 - c1 - 1);
    const char *ha1 = c2 + 1;
    size_t hlen = len - (size_t)(ha1 - line);
    if (ulen == 0 || ulen > 127)
        return fail(err, err_size, number, "empty or overlong user name");
    if ((hlen != 32 && hlen != 64) || !hex_only(ha1, hlen))
        return fail(err, err_size, number,
                    "HA1 must be 32 (MD5) or 64 (SHA-256) hex digits, as htdigest writes");
    if (realm && (rlen != strlen(realm) || memcmp(c1 + 1, realm, rlen) != 0)) {
        u->other_realms++;
        return 0;
    }
    char name[USER_KEY_MAX];
    size_t nlen =
        realm ? user_key(line, ulen, NULL, 0, name) : user_key(line, ulen, c1 + 1, rlen, name);
    if (nlen == 0)
        return fail(err, err_size, number, "overlong realm");
    enum digest_alg alg = hlen == 32 ? DIGEST_MD5 : DIGEST_SHA256;
    struct user_entry *e = slot_for(u, name, nlen);
    if (!e->name) {
        if (!(e->name = strndup(name, nlen)))
            return SB_ENOMEM;
        u->count++;
    } else if (e->line[alg]) {
        char what[96];
        snprintf(what, sizeof(what), "a second %s HA1 for this user (the first is on line %u)",
                 digest_alg_name(alg), e->line[alg]);
        return fail(err, err_size, number, what);
    }
    for (size_t i = 0; i < hlen; i++)
        e->ha1[alg][i] = (char)tolower((unsigned char)ha1[i]);
    e->ha1[alg][hlen] = '\0';
    e->line[alg] = number;
    return 0;
}

int auth_users_parse(const char *text, size_t len, const char *realm, struct auth_users **out,
                     char *err, size_t err_size)
{
    size_t lines = count_lines(text, len);
    if (lines > USERS_MAX)
        return fail(err, err_size, USERS_MAX, "too many lines");
    struct auth_users *u = calloc(1, sizeof(*u));
    size_t slots = 16;
    while (slots < 2 * lines)
        slots *= 2;
    if (!u || !(u->slots = calloc(slots, sizeof(*u->slots)))) {
        free(u);
        return SB_ENOMEM;
    }
    u->mask = slots - 1;
    unsigned number = 1;
    int rc = 0;
    for (const char *p = text, *end = text + len; p < end && rc == 0; number++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (memchr(p, '\0', n))
            rc = fail(err, err_size, number, "NUL byte");
        else
            rc = parse_line(u, p, n, realm, number, err, err_size);
        p += n + 1;
    }
    if (rc != 0) {
        auth_users_free(u);
        return rc;
    }
    *out = u;
    return 0;
}

int auth_users_load(const char *path, const char *realm, struct auth_users **out, char *err,
                    size_t err_size)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        snprintf(err, err_size, "cannot read: %s", strerror(errno));
        if (f)
            fclose(f);
        return SB_ESYS;
    }
    if ((uint64_t)st.st_size > FILE_MAX) {
        fclose(f);
        return fail(err, err_size, 0, "file larger than 64 MiB");
    }
    size_t size = (size_t)st.st_size;
    char *text = malloc(size + 1);
    size_t len = text ? fread(text, 1, size, f) : 0;
    fclose(f);
    int rc = text ? auth_users_parse(text, len, realm, out, err, err_size) : SB_ENOMEM;
    free(text);
    return rc;
}

const char *auth_users_ha1(const struct auth_users *u, const char *user, enum digest_alg alg)
{
    if (!u || alg >= DIGEST_ALG_COUNT)
        return NULL;
    const struct user_entry *e = slot_for(u, user, strlen(user));
    return e->name && e->line[alg] ? e->ha1[alg] : NULL;
}

void auth_users_each(const struct auth_users *u, void (*fn)(void *arg, const char *name), void *arg)
{
    for (size_t i = 0; u && i <= u->mask; i++)
        if (u->slots[i].name)
            fn(arg, u->slots[i].name);
}

size_t auth_users_count(const struct auth_users *u)
{
    return u ? u->count : 0;
}

size_t auth_users_other_realms(const struct auth_users *u)
{
    return u ? u->other_realms : 0;
}
