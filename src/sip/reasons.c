/* Reason phrase tables. See the DESIGN note in reasons.h. */
#include "switchboard/reasons.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <osipparser2/osip_port.h>
#include <urcu.h>

#include "switchboard/error.h"
#include "switchboard/log.h"
#include "tsan_annotate.h"

#define CODE_MIN 100
#define CODE_MAX 699

struct reason_table {
    char *phrase[CODE_MAX - CODE_MIN + 1];
};

struct reasons {
    struct reason_table *table; /* RCU-protected */
};

static void table_free(struct reason_table *t)
{
    if (!t)
        return;
    for (int i = 0; i <= CODE_MAX - CODE_MIN; i++)
        free(t->phrase[i]);
    free(t);
}

int reasons_create(struct reasons **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : SB_ENOMEM;
}

void reasons_destroy(struct reasons *r)
{
    if (!r)
        return;
    table_free(r->table);
    free(r);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* One "code = phrase" line. Returns 0, 1 for a blank or comment line, or
 * SB_EINVAL. */
static int parse_line(char *line, struct reason_table *t)
{
    char *s = trim(line);
    if (!*s || *s == '#' || *s == ';')
        return 1;
    char *eq = strchr(s, '=');
    if (!eq)
        return SB_EINVAL;
    *eq = '\0';
    char *code_text = trim(s), *phrase = trim(eq + 1), *end;
    long code = strtol(code_text, &end, 10);
    if (*end || code < CODE_MIN || code > CODE_MAX || !*phrase)
        return SB_EINVAL;
    for (const char *p = phrase; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\t')
            return SB_EINVAL; /* a phrase ends at CRLF in SIP */
    free(t->phrase[code - CODE_MIN]);
    t->phrase[code - CODE_MIN] = strdup(phrase);
    return t->phrase[code - CODE_MIN] ? 0 : SB_ENOMEM;
}

int reasons_load(struct reasons *r, const char *path)
{
    FILE *in = fopen(path, "r");
    if (!in) {
        SB_ERROR("reason phrases: cannot open %s: %s", path, strerror(errno));
        return SB_ESYS;
    }
    struct reason_table *t = calloc(1, sizeof(*t));
    char line[1024];
    int lineno = 0, rc = t ? 0 : SB_ENOMEM;
    while (rc >= 0 && fgets(line, sizeof(line), in)) {
        lineno++;
        rc = parse_line(line, t);
        if (rc < 0)
            SB_ERROR("reason phrases: %s:%d: want \"CODE = phrase\"", path, lineno);
    }
    fclose(in);
    if (rc < 0) {
        table_free(t);
        return rc;
    }
    tsan_publish(t);
    struct reason_table *old = rcu_xchg_pointer(&r->table, t);
    synchronize_rcu(); /* no worker reads the old table any more */
    tsan_rcu_reclaim(old);
    table_free(old);
    SB_INFO("reason phrases loaded from %s", path);
    return 0;
}

void reasons_apply(struct reasons *r, osip_message_t *resp)
{
    int code = resp->status_code;
    if (!r || code < CODE_MIN || code > CODE_MAX)
        return;
    rcu_read_lock();
    struct reason_table *t = rcu_dereference(r->table);
    if (t)
        tsan_observe(t);
    const char *phrase = t ? t->phrase[code - CODE_MIN] : NULL;
    if (phrase) {
        osip_free(resp->reason_phrase);
        resp->reason_phrase = osip_strdup(phrase);
    }
    tsan_rcu_read_done(t);
    rcu_read_unlock();
}

int reasons_lookup(struct reasons *r, int code, char *buf, size_t size)
{
    int rc = SB_ENOTFOUND;
    if (!r || code < CODE_MIN || code > CODE_MAX)
        return rc;
    rcu_read_lock();
    struct reason_table *t = rcu_dereference(r->table);
    if (t)
        tsan_observe(t);
    if (t && t->phrase[code - CODE_MIN]) {
        snprintf(buf, size, "%s", t->phrase[code - CODE_MIN]);
        rc = 0;
    }
    tsan_rcu_read_done(t);
    rcu_read_unlock();
    return rc;
}
