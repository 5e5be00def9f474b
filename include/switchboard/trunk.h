/* SIP trunks to a carrier (README "Trunks"): the [trunk NAME] sections,
 * the [outbound] dial patterns that send a dialled number out through
 * them, the [inbound] numbers (DIDs) they bring in, and each trunk's
 * number normalisation. Pure tables and their lookups; the proxy's
 * proxy_trunk.c uses them, trunk_reg.h registers upstream.
 *
 * DESIGN: read once at start-up from the main config file and never
 * changed (every worker reads it without locks); a trunk's host is
 * resolved then, on the main thread, never on a SIP thread. Only the
 * status of its registration changes, through atomics (trunk_status). */
#ifndef SWITCHBOARD_TRUNK_H
#define SWITCHBOARD_TRUNK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "switchboard/types.h"

#define TRUNK_MAX 16
#define TRUNK_MAX_PER_ROUTE 4 /* a route's trunk and its fallbacks */
#define TRUNK_NAME_MAX 48
#define TRUNK_NUMBER_MAX 32 /* digits of a dialled or sent number */
#define TRUNK_MAX_TARGETS 8 /* addresses DNS gives one trunk (RFC 3263) */

/* Where a trunk's requests go, in the order to try them: RFC 3263's
 * NAPTR -> SRV -> A (resolver.h), or its address as written. Replaced as
 * a whole, never changed: readers take it under rcu_read_lock(). */
struct trunk_targets {
    size_t count;
    struct {
        struct sb_addr addr;
        int transport; /* enum sb_transport */
    } t[TRUNK_MAX_TARGETS];
    uint32_t ttl; /* seconds until it is looked up again (0: never) */
};

/* A trunk's upstream registration, shared by the worker that runs it and
 * the admin plane.
 * States: IDLE (register = no) | TRYING -> REGISTERED -> (refresh) TRYING
 * ...; TRYING -> FAILED (a final error, a wrong password, no answer) ->
 * after the back-off TRYING again. */
enum trunk_reg_state { TRUNK_IDLE, TRUNK_TRYING, TRUNK_REGISTERED, TRUNK_FAILED };

struct trunk_status {
    _Atomic int state;           /* enum trunk_reg_state */
    _Atomic int last_code;       /* the last final answer to REGISTER (0: none, 408: none came) */
    _Atomic int64_t expires_at;  /* wall-clock seconds the registration lasts until */
    _Atomic uint64_t registers;  /* REGISTERs sent (refreshes, answers to challenges) */
    _Atomic uint64_t failures;   /* registrations that failed */
    _Atomic uint64_t calls_out;  /* calls sent out through it */
    _Atomic uint64_t calls_in;   /* calls it brought in */
    _Atomic uint64_t challenges; /* 401/407 answered with its credentials */
    _Atomic int reachable;       /* keep-alives: 1 answered, 0 not, -1 not asked yet */
    _Atomic uint64_t keepalives; /* OPTIONS sent */
    _Atomic uint64_t keepalive_failures; /* ...and left unanswered */
};

struct trunk {
    char name[TRUNK_NAME_MAX];
    char host[256];                /* of its uri: what Request-URIs and To name */
    unsigned port;                 /* 0: the transport's default */
    int transport;                 /* enum sb_transport */
    bool transport_set;            /* ;transport= or transport = (else DNS decides) */
    bool numeric;                  /* host is an address: no DNS */
    struct trunk_targets *targets; /* RCU: resolver.h publishes; NULL: none yet */
    char username[128];            /* its digest user (and our registration's user) */
    char password[128];            /* from password_file; "" none */
    bool reg;                      /* register = yes */
    unsigned expires;              /* seconds asked for */
    char caller_id[64];            /* our number toward it ("" none) */
    char country_code[8];          /* normalisation: 0N -> +CC N, 00N -> +N ("" none) */
    bool plus;                     /* numbers it takes are written with '+' */
    unsigned keepalive;            /* seconds between OPTIONS; 0 off */
    /* the office's address as the carrier sees it (behind NAT: the
     * router's public address and port), named in our Contact and
     * Record-Route toward it; "" our own */
    char advertise_host[64];
    unsigned advertise_port;
    struct trunk_status status;
};

/* [outbound] pattern = trunk[, fallback...] [as CALLER-ID] */
struct trunk_route {
    char pattern[128];
    void *re; /* its compiled regex_t */
    size_t count;
    unsigned trunks[TRUNK_MAX_PER_ROUTE];
    char caller_id[TRUNK_NUMBER_MAX + 2]; /* "": each trunk's own */
};

struct trunk_inbound {
    char number[TRUNK_NUMBER_MAX + 2]; /* E.164, "+" and digits */
    char target[128];                  /* extension, group or user */
};

struct trunk_plan {
    size_t count, route_count, inbound_count;
    struct trunk trunks[TRUNK_MAX];
    struct trunk_route *routes;
    struct trunk_inbound *inbound;
};

/* Parses the [trunk NAME], [outbound] and [inbound] sections of @text (a
 * whole config file named @name; others are skipped). Password files are
 * not read and hosts not resolved (trunk_plan_load() does). Returns 0 and
 * a plan (with no trunks when the file has none), or SB_EINVAL with
 * "NAME:LINE: what is wrong" in @err, or SB_ENOMEM. */
int trunk_plan_parse(const char *text, const char *name, struct trunk_plan **out, char *err,
                     size_t errsize);
/* Reads @path, parses it, reads each trunk's password_file; a host that
 * is an address becomes its one target (names: resolver.h). */
int trunk_plan_load(const char *path, struct trunk_plan **out, char *err, size_t errsize);
/* Frees the plan and its targets (no reader may be left). */
void trunk_plan_free(struct trunk_plan *plan);

/* Copies @t's target @i (as published now) into @addr and @transport.
 * Returns false when it has no such target. Takes rcu_read_lock(). */
bool trunk_target(const struct trunk *t, size_t i, struct sb_addr *addr, int *transport);
/* Publishes @targets (taken) for @t; the old ones are freed once no
 * reader holds them (synchronize_rcu: never on a SIP thread). */
void trunk_set_targets(struct trunk *t, struct trunk_targets *targets);

/* The dialled user part without RFC 3966 visual separators (space - . ( )),
 * into @buf. Returns 0, or SB_EINVAL when what is left is not a number
 * ('+' then digits, or digits, * and #). */
int trunk_dialled(const char *user, char *buf, size_t size);

/* The trunks @dialled (as trunk_dialled() left it) goes out through, in
 * order: the first [outbound] pattern matching all of it. Returns how
 * many (0: no route). */
size_t trunk_outbound(const struct trunk_plan *plan, const char *dialled, const struct trunk **out,
                      size_t max);
/* The [outbound] route @dialled takes (its caller ID), or NULL. */
const struct trunk_route *trunk_route_of(const struct trunk_plan *plan, const char *dialled);

/* @dialled in E.164 ("+4930..."), by @t's country code: "00" then N is
 * +N, "0" then N is +CC N, "+N" stays; anything else (an extension, no
 * country code) is copied. Returns 0 or SB_ERANGE. */
int trunk_e164(const struct trunk *t, const char *dialled, char *buf, size_t size);
/* What @t is sent: the E.164 form, with or without its '+' (plus). */
int trunk_normalise(const struct trunk *t, const char *dialled, char *buf, size_t size);

/* The trunk one of whose targets @src is (by IP: a carrier answers and
 * calls from any port), or NULL. Call under rcu_read_lock(). */
const struct trunk *trunk_of_source(const struct trunk_plan *plan, const struct sb_addr *src);
/* The user our registration to @t names in its Contact (its username). */
const struct trunk *trunk_of_contact_user(const struct trunk_plan *plan, const char *user);

/* The [inbound] target of @number as @t brought it in (normalised to
 * E.164 by @t's country code first), or NULL: not one of our numbers. */
const char *trunk_inbound(const struct trunk_plan *plan, const struct trunk *t, const char *number);

const char *trunk_reg_state_name(int state);

/* The Call-ID of @t's registrations by process @instance: the worker it
 * hashes to runs them (their answers come back there). */
void trunk_reg_call_id(const struct trunk *t, uint32_t instance, char *buf, size_t size);

#endif
