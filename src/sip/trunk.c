/* Trunks, dial patterns and inbound numbers. See trunk.h. */
#include "switchboard/trunk.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <urcu.h>

#include "switchboard/config.h"
#include "switchboard/conftext.h"
#include "switchboard/error.h"
#include "switchboard/sip_msg.h"

/* What the parser of one file needs. */
struct parse {
    struct trunk_plan *plan;
    struct conftext_pos pos;
    /* the section: -1 none of ours, else a trunk's index, or one of: */
    int section;
    bool seen_uri[TRUNK_MAX];
    int trunk_line[TRUNK_MAX];
    char password_file[TRUNK_MAX][256];
};

enum { SEC_OTHER = -1, SEC_OUTBOUND = -2, SEC_INBOUND = -3 };

static bool copy(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

/* --- numbers ----------------------------------------------------------- */

int trunk_dialled(const char *user, char *buf, size_t size)
{
    size_t n = 0;
    for (const char *s = user; *s; s++) {
        if (strchr(" -.()", *s))
            continue; /* RFC 3966 §5.1.1 visual separators */
        bool ok = isdigit((unsigned char)*s) || *s == '*' || *s == '#' || (*s == '+' && n == 0);
        if (!ok || n + 1 >= size)
            return SB_EINVAL;
        buf[n++] = *s;
    }
    buf[n] = '\0';
    return n == 0 || (n == 1 && buf[0] == '+') ? SB_EINVAL : 0;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

int trunk_e164(const struct trunk *t, const char *dialled, char *buf, size_t size)
{
    int n;
    if (t->country_code[0] && !strncmp(dialled, "00", 2) && all_digits(dialled + 2))
        n = snprintf(buf, size, "+%s", dialled + 2);
    else if (t->country_code[0] && dialled[0] == '0' && all_digits(dialled + 1))
        n = snprintf(buf, size, "+%s%s", t->country_code, dialled + 1);
    else
        n = snprintf(buf, size, "%s", dialled);
    return n < 0 || (size_t)n >= size ? SB_ERANGE : 0;
}

int trunk_normalise(const struct trunk *t, const char *dialled, char *buf, size_t size)
{
    int rc = trunk_e164(t, dialled, buf, size);
    if (rc == 0 && !t->plus && buf[0] == '+')
        memmove(buf, buf + 1, strlen(buf));
    return rc;
}

/* --- lookups ----------------------------------------------------------- */

const struct trunk_route *trunk_route_of(const struct trunk_plan *plan, const char *dialled)
{
    for (size_t i = 0; i < plan->route_count; i++) {
        const struct trunk_route *r = &plan->routes[i];
        regmatch_t m;
        if (regexec(r->re, dialled, 1, &m, 0) == 0 && m.rm_so == 0 &&
            (size_t)m.rm_eo == strlen(dialled))
            return r; /* the pattern matches the whole number */
    }
    return NULL;
}

size_t trunk_outbound(const struct trunk_plan *plan, const char *dialled, const struct trunk **out,
                      size_t max)
{
    const struct trunk_route *r = trunk_route_of(plan, dialled);
    size_t n = 0;
    for (; r && n < r->count && n < max; n++)
        out[n] = &plan->trunks[r->trunks[n]];
    return n;
}

const struct trunk *trunk_of_source(const struct trunk_plan *plan, const struct sb_addr *src)
{
    for (size_t i = 0; plan && i < plan->count; i++) {
        const struct trunk *t = &plan->trunks[i];
        const struct trunk_targets *tt = rcu_dereference(t->targets);
        for (size_t k = 0; tt && k < tt->count; k++)
            if (sipmsg_addr_same_ip(&tt->t[k].addr, src))
                return t;
    }
    return NULL;
}

bool trunk_target(const struct trunk *t, size_t i, struct sb_addr *addr, int *transport)
{
    rcu_read_lock();
    const struct trunk_targets *tt = rcu_dereference(t->targets);
    bool ok = tt && i < tt->count;
    if (ok) {
        *addr = tt->t[i].addr;
        *transport = tt->t[i].transport;
    }
    rcu_read_unlock();
    return ok;
}

void trunk_set_targets(struct trunk *t, struct trunk_targets *targets)
{
    struct trunk_targets *old = rcu_xchg_pointer(&t->targets, targets);
    if (old) {
        synchronize_rcu();
        free(old);
    }
}

const struct trunk *trunk_of_contact_user(const struct trunk_plan *plan, const char *user)
{
    for (size_t i = 0; plan && user && i < plan->count; i++)
        if (plan->trunks[i].reg && !strcmp(plan->trunks[i].username, user))
            return &plan->trunks[i];
    return NULL;
}

const char *trunk_inbound(const struct trunk_plan *plan, const struct trunk *t, const char *number)
{
    char dialled[TRUNK_NUMBER_MAX + 2], e164[TRUNK_NUMBER_MAX + 2];
    if (trunk_dialled(number, dialled, sizeof(dialled)) != 0 ||
        trunk_e164(t, dialled, e164, sizeof(e164)) != 0)
        return NULL;
    /* a carrier may drop the '+' of an E.164 number */
    bool bare = e164[0] != '+';
    for (size_t i = 0; i < plan->inbound_count; i++) {
        const char *ours = plan->inbound[i].number;
        if (!strcmp(ours, e164) || (bare && ours[0] == '+' && !strcmp(ours + 1, e164)))
            return plan->inbound[i].target;
    }
    return NULL;
}

const char *trunk_reg_state_name(int state)
{
    static const char *const names[] = {"idle", "trying", "registered", "failed"};
    return state >= 0 && state <= TRUNK_FAILED ? names[state] : "?";
}

void trunk_reg_call_id(const struct trunk *t, uint32_t instance, char *buf, size_t size)
{
    snprintf(buf, size, "sbreg-%s-%08" PRIx32, t->name, instance);
}

/* --- [trunk NAME] ------------------------------------------------------ */

static int trunk_index(const struct trunk_plan *plan, const char *name)
{
    for (size_t i = 0; i < plan->count; i++)
        if (!strcmp(plan->trunks[i].name, name))
            return (int)i;
    return -1;
}

static bool name_valid(const char *s)
{
    if (!*s || strlen(s) >= TRUNK_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
            return false;
    return true;
}

static int open_trunk(struct parse *p, const char *name)
{
    struct trunk_plan *plan = p->plan;
    if (!name_valid(name))
        return conftext_fail(&p->pos, "a trunk's name is letters, digits and . _ -, not '%s'",
                             name);
    if (trunk_index(plan, name) >= 0)
        return conftext_fail(&p->pos, "[trunk %s] appears twice", name);
    if (plan->count == TRUNK_MAX)
        return conftext_fail(&p->pos, "more than %d trunks", TRUNK_MAX);
    struct trunk *t = &plan->trunks[plan->count];
    memset(t, 0, sizeof(*t));
    copy(t->name, sizeof(t->name), name);
    t->expires = 600;
    t->plus = true;
    atomic_init(&t->status.reachable, -1);
    p->trunk_line[plan->count] = p->pos.line;
    p->section = (int)plan->count++;
    return 0;
}

static int yes_no(const char *v, bool *out)
{
    if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1"))
        *out = true;
    else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0"))
        *out = false;
    else
        return SB_EINVAL;
    return 0;
}

static int number_in(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (!isdigit((unsigned char)*s) || *end || errno || v < min || v > max)
        return SB_EINVAL;
    *out = (unsigned)v;
    return 0;
}

/* --- [trunk NAME]'s keys: one row each ----------------------------------- */

/* A key's parser: fills its field of @t from @value. Returns NULL, or
 * what the value should have been (for "KEY: want WHAT, not 'VALUE'"). */
typedef const char *(*trunk_key_fn)(struct parse *p, struct trunk *t, char *value);

/* uri = sip:HOST[:PORT][;transport=...] */
static const char *key_uri(struct parse *p, struct trunk *t, char *value)
{
    osip_uri_t *uri = NULL;
    bool ok = osip_uri_init(&uri) == 0 && osip_uri_parse(uri, value) == 0 && uri->host &&
              uri->scheme && (!strcasecmp(uri->scheme, "sip") || !strcasecmp(uri->scheme, "sips"));
    if (ok)
        ok = copy(t->host, sizeof(t->host), uri->host) && !uri->username;
    unsigned port = 0;
    if (ok && uri->port)
        ok = number_in(uri->port, 1, 65535, &port) == 0;
    int transport = ok ? sipmsg_uri_transport(uri) : -1;
    osip_uri_free(uri);
    if (!ok || transport < 0)
        return "sip:HOST[:PORT][;transport=udp|tcp|tls]";
    t->port = port;
    t->transport = transport;
    t->transport_set = strstr(value, "transport=") != NULL;
    p->seen_uri[p->section] = true;
    return NULL;
}

static const char *key_transport(struct parse *p, struct trunk *t, char *value)
{
    (void)p;
    if (!strcasecmp(value, "udp"))
        t->transport = SB_UDP;
    else if (!strcasecmp(value, "tcp"))
        t->transport = SB_TCP;
    else if (!strcasecmp(value, "tls"))
        t->transport = SB_TLS;
    else
        return "udp, tcp or tls";
    t->transport_set = true;
    return NULL;
}

static const char *key_username(struct parse *p, struct trunk *t, char *value)
{
    (void)p;
    return copy(t->username, sizeof(t->username), value) && !strpbrk(value, " \t\"")
               ? NULL
               : "a user name without spaces or quotes";
}

static const char *key_password_file(struct parse *p, struct trunk *t, char *value)
{
    (void)t;
    return copy(p->password_file[p->section], sizeof(p->password_file[0]), value)
               ? NULL
               : "a shorter path";
}

static const char *key_register(struct parse *p, struct trunk *t, char *value)
{
    (void)p;
    return yes_no(value, &t->reg) == 0 ? NULL : "yes or no";
}

static const char *key_plus(struct parse *p, struct trunk *t, char *value)
{
    (void)p;
    return yes_no(value, &t->plus) == 0 ? NULL : "yes or no";
}

static const char *key_expires(struct parse *p, struct trunk *t, char *value)
{
    (void)p;
    return number_in(value, 60, 86400, &t->expires) == 0 ? NULL : "60-86400 seconds";
}

static const char *key_keepalive(struct parse *p, struct trunk *t, char *value)
{
    (void)p;
    return number_in(value, 0, 3600, &t->keepalive) == 0 ? NULL : "0-3600 seconds";
}

static const char *key_caller_id(struct parse *p, struct trunk *t, char *value)
{
    (void)p;
    char n[TRUNK_NUMBER_MAX + 2];
    return trunk_dialled(value, n, sizeof(n)) == 0 && copy(t->caller_id, sizeof(t->caller_id), n)
               ? NULL
               : "a number";
}

static const char *key_country_code(struct parse *p, struct trunk *t, char *value)
{
    (void)p;
    if (!all_digits(value) || strlen(value) > 3)
        return "1-3 digits";
    copy(t->country_code, sizeof(t->country_code), value);
    return NULL;
}

/* numbers = DID, ...: the trunk's own numbers (checked; [inbound] says
 * where each rings). */
static const char *key_numbers(struct parse *p, struct trunk *t, char *value)
{
    (void)p;
    (void)t;
    for (char *save, *tok = strtok_r(value, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char n[TRUNK_NUMBER_MAX + 2];
        if (trunk_dialled(conftext_trim(tok), n, sizeof(n)) != 0 || n[0] != '+')
            return "E.164 numbers (+ then digits), comma-separated";
    }
    return NULL;
}

static const char *key_advertise(struct parse *p, struct trunk *t, char *value)
{
    (void)p;
    struct sb_addr addr;
    return config_parse_hostport(value, t->advertise_host, sizeof(t->advertise_host),
                                 &t->advertise_port) == 0 &&
                   sipmsg_host_to_addr(t->advertise_host, t->advertise_port, &addr) == 0
               ? NULL
               : "ADDRESS:PORT";
}

static const struct {
    const char *key;
    trunk_key_fn parse;
} trunk_keys[] = {
    {"uri", key_uri},
    {"transport", key_transport},
    {"username", key_username},
    {"password_file", key_password_file},
    {"register", key_register},
    {"expires", key_expires},
    {"caller_id", key_caller_id},
    {"country_code", key_country_code},
    {"plus", key_plus},
    {"numbers", key_numbers},
    {"keepalive", key_keepalive},
    {"advertise", key_advertise},
};

static int trunk_line(struct parse *p, const char *key, char *value)
{
    struct trunk *t = &p->plan->trunks[p->section];
    for (size_t i = 0; i < sizeof(trunk_keys) / sizeof(trunk_keys[0]); i++) {
        if (strcmp(key, trunk_keys[i].key) != 0)
            continue;
        char shown[256];
        copy(shown, sizeof(shown), strlen(value) < sizeof(shown) ? value : "(too long)");
        const char *want = trunk_keys[i].parse(p, t, value);
        return want ? conftext_fail(&p->pos, "[trunk %s] %s: want %s, not '%s'", t->name, key, want,
                                    shown)
                    : 0;
    }
    return conftext_fail(&p->pos, "unknown setting '%s' in [trunk %s]", key, t->name);
}

/* --- [outbound] and [inbound] ---------------------------------------- */

static int grow(void **array, size_t count, size_t item)
{
    if (count % 16)
        return 0;
    void *more = realloc(*array, (count + 16) * item);
    if (!more)
        return SB_ENOMEM;
    *array = more;
    return 0;
}

static int add_inbound(struct parse *p, const char *number, const char *target)
{
    struct trunk_plan *plan = p->plan;
    if (!number[0] || (number[0] != '+' && !all_digits(number)) ||
        (number[0] == '+' && !all_digits(number + 1)) ||
        strlen(number) >= sizeof(plan->inbound[0].number))
        return conftext_fail(&p->pos, "[inbound] '%s' is not a number (+ then digits)", number);
    if (!*target || strlen(target) >= sizeof(plan->inbound[0].target) || strpbrk(target, " \t,;"))
        return conftext_fail(&p->pos, "[inbound] %s: bad target '%s'", number, target);
    for (size_t i = 0; i < plan->inbound_count; i++)
        if (!strcmp(plan->inbound[i].number, number))
            return conftext_fail(&p->pos, "[inbound] %s appears twice", number);
    if (grow((void **)&plan->inbound, plan->inbound_count, sizeof(plan->inbound[0])) != 0)
        return SB_ENOMEM;
    struct trunk_inbound *in = &plan->inbound[plan->inbound_count++];
    copy(in->number, sizeof(in->number), number);
    copy(in->target, sizeof(in->target), target);
    return 0;
}

static int outbound_line(struct parse *p, const char *key, char *value)
{
    struct trunk_plan *plan = p->plan;
    if (grow((void **)&plan->routes, plan->route_count, sizeof(plan->routes[0])) != 0)
        return SB_ENOMEM;
    struct trunk_route *r = &plan->routes[plan->route_count];
    memset(r, 0, sizeof(*r));
    if (!copy(r->pattern, sizeof(r->pattern), key))
        return conftext_fail(&p->pos, "[outbound] pattern too long");
    regex_t *re = malloc(sizeof(*re));
    if (!re)
        return SB_ENOMEM;
    int rc = regcomp(re, key, REG_EXTENDED);
    if (rc != 0) {
        char why[128];
        regerror(rc, re, why, sizeof(why));
        free(re);
        return conftext_fail(&p->pos, "[outbound] bad pattern '%s': %s", key, why);
    }
    r->re = re;
    plan->route_count++;
    char *as = strstr(value, " as ");
    if (as) { /* the route's own caller ID */
        *as = '\0';
        char *number = conftext_trim(as + 4);
        if (trunk_dialled(number, r->caller_id, sizeof(r->caller_id)) != 0)
            return conftext_fail(&p->pos, "[outbound] %s: caller ID '%s' is not a number", key,
                                 number);
    }
    for (char *save, *tok = strtok_r(value, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int i = trunk_index(plan, conftext_trim(tok));
        if (i < 0)
            return conftext_fail(&p->pos, "[outbound] %s: no [trunk %s]", key, conftext_trim(tok));
        if (r->count == TRUNK_MAX_PER_ROUTE)
            return conftext_fail(&p->pos, "[outbound] %s: more than %d trunks", key,
                                 TRUNK_MAX_PER_ROUTE);
        r->trunks[r->count++] = (unsigned)i;
    }
    return r->count ? 0 : conftext_fail(&p->pos, "[outbound] %s: which trunk?", key);
}

/* --- the file ---------------------------------------------------------- */

static int open_section(struct parse *p, char *name)
{
    name = conftext_trim(name);
    p->section = SEC_OTHER;
    if (!strcmp(name, "outbound"))
        p->section = SEC_OUTBOUND;
    else if (!strcmp(name, "inbound"))
        p->section = SEC_INBOUND;
    else if (!strncmp(name, "trunk", 5) && isspace((unsigned char)name[5]))
        return open_trunk(p, conftext_trim(name + 5));
    else if (!strcmp(name, "trunk"))
        return conftext_fail(&p->pos, "[trunk] needs a name: [trunk NAME]");
    return 0;
}

static int parse_line(struct parse *p, char *line)
{
    char *s = conftext_trim(line);
    if (!*s || *s == ';' || *s == '#')
        return 0;
    if (*s == '[') {
        char *end = strchr(s, ']');
        if (!end)
            return 0; /* config.c names the missing ']' */
        *end = '\0';
        return open_section(p, s + 1);
    }
    if (p->section == SEC_OTHER)
        return 0;
    conftext_cut_comment(s); /* (after whitespace: a pattern has none) */
    char *eq = p->section == SEC_OUTBOUND ? strrchr(s, '=') : strchr(s, '=');
    if (!eq)
        return conftext_fail(&p->pos, "expected 'key = value'");
    *eq = '\0';
    char *key = conftext_trim(s), *value = conftext_trim(eq + 1);
    if (p->section == SEC_OUTBOUND)
        return outbound_line(p, key, value);
    if (p->section == SEC_INBOUND)
        return add_inbound(p, key, value);
    return trunk_line(p, key, value);
}

static int check_trunks(struct parse *p)
{
    for (size_t i = 0; i < p->plan->count; i++) {
        struct trunk *t = &p->plan->trunks[i];
        p->pos.line = p->trunk_line[i];
        if (!p->seen_uri[i])
            return conftext_fail(&p->pos, "[trunk %s] needs a uri", t->name);
        if (t->reg && !t->username[0])
            return conftext_fail(&p->pos, "[trunk %s] register = yes needs a username", t->name);
        if (t->username[0] && !p->password_file[i][0])
            return conftext_fail(&p->pos, "[trunk %s] username needs a password_file", t->name);
    }
    p->pos.line = 0;
    return 0;
}

void trunk_plan_free(struct trunk_plan *plan)
{
    if (!plan)
        return;
    for (size_t i = 0; i < plan->route_count; i++) {
        regfree(plan->routes[i].re);
        free(plan->routes[i].re);
    }
    for (size_t i = 0; i < plan->count; i++)
        free(plan->trunks[i].targets);
    free(plan->routes);
    free(plan->inbound);
    free(plan);
}

static int one_line(void *p, char *line)
{
    return parse_line(p, line);
}

static int parse_text(struct parse *p, const char *text)
{
    int rc = conftext_each_line(&p->pos, text, one_line, p);
    return rc != 0 ? rc : check_trunks(p);
}

/* Parses into @p (its password files named, not read). */
static int parse_into(struct parse *p, const char *text, const char *name, char *err,
                      size_t errsize)
{
    memset(p, 0, sizeof(*p));
    *p =
        (struct parse){.pos = {.name = name, .err = err, .errsize = errsize}, .section = SEC_OTHER};
    p->plan = calloc(1, sizeof(*p->plan));
    if (!p->plan)
        return SB_ENOMEM;
    err[0] = '\0';
    int rc = parse_text(p, text);
    if (rc != 0) {
        trunk_plan_free(p->plan);
        p->plan = NULL;
    }
    return rc;
}

int trunk_plan_parse(const char *text, const char *name, struct trunk_plan **out, char *err,
                     size_t errsize)
{
    struct parse *p = malloc(sizeof(*p));
    if (!p)
        return SB_ENOMEM;
    int rc = parse_into(p, text, name, err, errsize);
    if (rc == 0)
        *out = p->plan;
    free(p);
    return rc;
}

/* --- start-up: secrets and addresses ----------------------------------- */

static int read_password(struct trunk *t, const char *path, char *err, size_t errsize)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsize, "[trunk %s] password_file %s: %s", t->name, path, strerror(errno));
        return SB_EINVAL;
    }
    char line[sizeof(t->password) + 2] = "";
    bool got = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    if (!got || !line[0] || strlen(line) >= sizeof(t->password)) {
        snprintf(err, errsize, "[trunk %s] password_file %s: no password on its first line",
                 t->name, path);
        return SB_EINVAL;
    }
    copy(t->password, sizeof(t->password), line);
    return 0;
}

static unsigned default_port(int transport)
{
    return transport == SB_TLS ? 5061 : 5060;
}

/* A host that is an address is the trunk's one target, for good. */
static int numeric_target(struct trunk *t)
{
    struct sb_addr addr;
    unsigned port = t->port ? t->port : default_port(t->transport);
    if (sipmsg_host_to_addr(t->host, port, &addr) != 0)
        return 0; /* a name: resolver.h */
    struct trunk_targets *tt = calloc(1, sizeof(*tt));
    if (!tt)
        return SB_ENOMEM;
    tt->count = 1;
    tt->t[0].addr = addr;
    tt->t[0].transport = t->transport;
    t->numeric = true;
    t->targets = tt;
    return 0;
}

int trunk_plan_load(const char *path, struct trunk_plan **out, char *err, size_t errsize)
{
    char *text;
    int rc = conftext_read_file(path, &text, err, errsize);
    if (rc != 0)
        return rc;
    struct parse *p = malloc(sizeof(*p));
    rc = p ? parse_into(p, text, path, err, errsize) : SB_ENOMEM;
    free(text);
    for (size_t i = 0; rc == 0 && i < p->plan->count; i++) {
        struct trunk *t = &p->plan->trunks[i];
        if (p->password_file[i][0])
            rc = read_password(t, p->password_file[i], err, errsize);
        if (rc == 0)
            rc = numeric_target(t);
    }
    if (rc == 0)
        *out = p->plan;
    else if (p)
        trunk_plan_free(p->plan);
    free(p);
    return rc;
}
