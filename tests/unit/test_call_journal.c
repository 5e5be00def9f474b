/* Unit tests for src/sip/call_journal.c: one well-formed JSON line per call. */
#include <stdio.h>
#include <unistd.h>

#include "switchboard/buf.h"
#include "switchboard/call_journal.h"
#include "switchboard/sip_msg.h"
#include "test_helpers.h"

static char path[64];
static struct async_file *file;
static struct call_journal *cj;
static struct sb_counters counters;

static void setup(void)
{
    snprintf(path, sizeof(path), "/tmp/sb-journal-%d.jsonl", getpid());
    unlink(path);
    struct async_file_options o = {.path = path, .name = "journal"};
    cr_assert_eq(async_file_open(&o, &file), 0);
    memset(&counters, 0, sizeof(counters));
    cr_assert_eq(call_journal_create(file, &counters, &cj), 0);
}

static void teardown(void)
{
    unlink(path);
}

TestSuite(call_journal, .init = setup, .fini = teardown);

/* Closes everything and returns the journal's text. */
static char *finish(void)
{
    call_journal_destroy(cj);
    async_file_close(file, NULL);
    FILE *f = fopen(path, "r");
    static char text[8192];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

#define RESP(code, phrase, totag)                                                                  \
    "SIP/2.0 " code " " phrase "\n"                                                                \
    "Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-abc123\n"                                       \
    "From: \"Alice\" <sip:alice@127.0.0.1>;tag=from1\n"                                            \
    "To: <sip:bob@127.0.0.1>" totag "\n"                                                           \
    "Call-ID: call-1@10.0.0.5\n"                                                                   \
    "CSeq: 7 INVITE\n"                                                                             \
    "Contact: <sip:bob@10.0.0.9:5070>\n"                                                           \
    "Content-Length: 0\n\n"

#define BYE_FROM_CALLEE                                                                            \
    "BYE sip:alice@10.0.0.5:5062 SIP/2.0\n"                                                        \
    "Via: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK-bye1\n"                                         \
    "From: <sip:bob@127.0.0.1>;tag=bob9\n"                                                         \
    "To: \"Alice\" <sip:alice@127.0.0.1>;tag=from1\n"                                              \
    "Call-ID: call-1@10.0.0.5\n"                                                                   \
    "CSeq: 1 BYE\n"                                                                                \
    "Content-Length: 0\n\n"

Test(call_journal, answered_call_ended_by_callee)
{
    osip_message_t *inv = parse(INVITE_TEXT), *ringing = parse(RESP("180", "Ringing", ";tag=bob9"));
    osip_message_t *ok = parse(RESP("200", "OK", ";tag=bob9")), *bye = parse(BYE_FROM_CALLEE);
    int64_t t0 = 1764075600000; /* 2025-11-25T13:00:00Z */
    call_journal_request(cj, inv, t0);
    cr_assert_eq(call_journal_open_calls(cj), 1);
    call_journal_response(cj, inv, ringing, CALL_END_RELAYED, t0 + 100);
    call_journal_response(cj, inv, ok, CALL_END_RELAYED, t0 + 2000);
    call_journal_request(cj, bye, t0 + 14500);
    cr_assert_eq(call_journal_open_calls(cj), 0);
    char *text = finish();
    cr_assert_not_null(strstr(text, "\"call_id\":\"call-1@10.0.0.5\""), "%s", text);
    cr_assert_not_null(
        strstr(text, "\"from\":{\"aor\":\"sip:alice@127.0.0.1\",\"name\":\"Alice\"}"));
    cr_assert_not_null(strstr(text, "\"answered_by\":\"sip:bob@10.0.0.9:5070\""));
    cr_assert_not_null(strstr(text, "\"invite_at\":\"2025-11-25T13:00:00.000Z\""));
    cr_assert_not_null(strstr(text, "\"ringing_at\":\"2025-11-25T13:00:00.100Z\""));
    cr_assert_not_null(strstr(text, "\"answered_at\":\"2025-11-25T13:00:02.000Z\""));
    cr_assert_not_null(strstr(text, "\"duration_s\":12.500"));
    cr_assert_not_null(
        strstr(text, "\"outcome\":\"answered\",\"status\":200,\"hung_up_by\":\"callee\""));
    cr_assert_eq(strchr(text, '\n'), text + strlen(text) - 1, "exactly one line");
    osip_message_free(inv);
    osip_message_free(ringing);
    osip_message_free(ok);
    osip_message_free(bye);
}

/* The admin plane's view: open calls with their state, outcomes counted
 * once known, set-up time observed; without a journal file too. */
Test(call_journal, snapshot_and_counters_without_a_file)
{
    struct call_journal *view;
    cr_assert_eq(call_journal_create(NULL, &counters, &view), 0);
    osip_message_t *inv = parse(INVITE_TEXT), *ringing = parse(RESP("180", "Ringing", ";tag=bob9"));
    osip_message_t *ok = parse(RESP("200", "OK", ";tag=bob9")), *bye = parse(BYE_FROM_CALLEE);
    int64_t t0 = 1764075600000;
    call_journal_request(view, inv, t0);
    cr_assert(call_journal_changed(view));
    call_journal_response(view, inv, ringing, CALL_END_RELAYED, t0 + 100);
    struct sb_buf b = {0};
    call_journal_snapshot(view, &b);
    sb_buf_append(&b, "", 1);
    cr_assert_not_null(strstr(b.data, "\"caller\":\"sip:alice@127.0.0.1\""), "%s", b.data);
    cr_assert_not_null(strstr(b.data, "\"callee\":\"sip:bob@127.0.0.1\""), "%s", b.data);
    cr_assert_not_null(strstr(b.data, "\"state\":\"ringing\""), "%s", b.data);
    cr_assert_not(call_journal_changed(view), "a snapshot clears the flag");
    sb_buf_free(&b);
    call_journal_response(view, inv, ok, CALL_END_RELAYED, t0 + 2000);
    cr_assert_eq(counters.value[SB_CNT_O_ANSWERED], 1);
    cr_assert_eq(counters.call_setup.count, 1);
    cr_assert_eq(counters.call_setup.sum_ns, 2000000000ull);
    memset(&b, 0, sizeof(b));
    call_journal_snapshot(view, &b);
    sb_buf_append(&b, "", 1);
    cr_assert_not_null(
        strstr(b.data, "\"state\":\"answered\",\"since\":\"2025-11-25T13:00:02.000Z\""), "%s",
        b.data);
    sb_buf_free(&b);
    call_journal_request(view, bye, t0 + 5000);
    cr_assert_eq(call_journal_open_calls(view), 0);
    cr_assert(call_journal_changed(view));
    call_journal_destroy(view);
    osip_message_free(inv);
    osip_message_free(ringing);
    osip_message_free(ok);
    osip_message_free(bye);
}

Test(call_journal, busy_and_open_calls_at_shutdown)
{
    osip_message_t *inv = parse(INVITE_TEXT), *busy = parse(RESP("486", "Busy Here", ";tag=b"));
    call_journal_request(cj, inv, 1000);
    call_journal_response(cj, inv, busy, CALL_END_RELAYED, 2000);
    osip_message_t *inv2 = parse(INVITE_TEXT);
    osip_free(inv2->call_id->number);
    osip_call_id_set_number(inv2->call_id, osip_strdup("call-2"));
    call_journal_request(cj, inv2, 3000);
    cr_assert_eq(counters.value[SB_CNT_O_BUSY], 1);
    char *text = finish();
    cr_assert_not_null(
        strstr(text, "\"outcome\":\"busy\",\"status\":486,\"hung_up_by\":\"callee\""));
    cr_assert_not_null(strstr(text, "\"call_id\":\"call-2@10.0.0.5\""));
    cr_assert_not_null(strstr(text, "\"outcome\":\"interrupted\""), "open calls are not lost");
    osip_message_free(inv);
    osip_message_free(inv2);
    osip_message_free(busy);
}

/* The outcome of one attempt that ends with @code, after a 180 or not. */
static char *outcome_of(const char *final, bool ringing, enum call_end_hint hint)
{
    osip_message_t *inv = parse(INVITE_TEXT), *ring = parse(RESP("180", "Ringing", ";tag=b"));
    osip_message_t *resp = parse(final);
    call_journal_request(cj, inv, 1000);
    if (ringing)
        call_journal_response(cj, inv, ring, CALL_END_RELAYED, 1500);
    call_journal_response(cj, inv, resp, hint, 2000);
    osip_message_free(inv);
    osip_message_free(ring);
    osip_message_free(resp);
    return finish();
}

Test(call_journal, an_immediate_480_is_unavailable)
{
    char *text =
        outcome_of(RESP("480", "Temporarily Unavailable", ";tag=b"), false, CALL_END_LOCAL);
    cr_assert_not_null(strstr(text, "\"outcome\":\"unavailable\",\"status\":480,"
                                    "\"hung_up_by\":\"proxy\""),
                       "%s", text);
    cr_assert_eq(counters.value[SB_CNT_O_UNAVAILABLE], 1);
}

Test(call_journal, a_480_after_ringing_is_no_answer)
{
    char *text =
        outcome_of(RESP("480", "Temporarily Unavailable", ";tag=b"), true, CALL_END_RELAYED);
    cr_assert_not_null(strstr(text, "\"outcome\":\"no-answer\",\"status\":480,"
                                    "\"hung_up_by\":\"callee\""),
                       "%s", text);
}

Test(call_journal, a_dnd_refusal_is_dnd_not_the_callee)
{
    char *text = outcome_of(RESP("486", "Busy Here", ";tag=b"), false, CALL_END_DND);
    cr_assert_not_null(strstr(text, "\"outcome\":\"dnd\",\"status\":486,\"hung_up_by\":\"proxy\""),
                       "%s", text);
    cr_assert_eq(counters.value[SB_CNT_O_DND], 1);
    cr_assert_eq(counters.value[SB_CNT_O_BUSY], 0);
}

Test(call_journal, hostile_display_names_still_make_valid_json)
{
    osip_message_t *inv = parse(INVITE_TEXT), *nf = parse(RESP("404", "Not Found", ";tag=x"));
    osip_free(inv->from->displayname);
    inv->from->displayname = osip_strdup("\"Ev\xff\"il\\ \x01 \xc5\xa0tef\"");
    call_journal_request(cj, inv, 1000);
    call_journal_response(cj, inv, nf, CALL_END_LOCAL, 1001);
    char *text = finish();
    cr_assert_not_null(strstr(text, "\"name\":\"Ev\xef\xbf\xbd\\\"il\\\\ \\u0001 \xc5\xa0tef\""),
                       "%s", text);
    cr_assert_not_null(
        strstr(text, "\"outcome\":\"not-found\",\"status\":404,\"hung_up_by\":\"proxy\""));
    osip_message_free(inv);
    osip_message_free(nf);
}

/* A message of @head (ending in "Content-Length: ") with an SDP body whose
 * only video line is "m=video PORT". */
static osip_message_t *with_video(const char *head, int port)
{
    char sdp[160], text[1024];
    snprintf(sdp, sizeof(sdp),
             "v=0\no=x 1 1 IN IP4 10.0.0.5\ns=-\nc=IN IP4 10.0.0.5\nt=0 0\n"
             "m=audio 4000 RTP/AVP 0\nm=video %d RTP/AVP 96\n",
             port);
    snprintf(text, sizeof(text), "%s%zu\nContent-Type: application/sdp\n\n%s", head, strlen(sdp),
             sdp);
    return parse(text);
}

/* The dialog of the call above, as a re-INVITE and its 200 carry it. */
#define REINVITE_DIALOG                                                                            \
    "Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-re1\n"                                          \
    "From: \"Alice\" <sip:alice@127.0.0.1>;tag=from1\n"                                            \
    "To: <sip:bob@127.0.0.1>;tag=bob9\n"                                                           \
    "Call-ID: call-1@10.0.0.5\n"                                                                   \
    "CSeq: 8 INVITE\n"                                                                             \
    "Content-Length: "

/* The journal's line for an answered call with one re-INVITE offering video
 * on @offer_port, answered with video on @answer_port (0: declined). */
static char *journal_of_reinvite(int offer_port, int answer_port)
{
    osip_message_t *inv = parse(INVITE_TEXT), *ok = parse(RESP("200", "OK", ";tag=bob9"));
    osip_message_t *offer =
        with_video("INVITE sip:bob@10.0.0.9:5070 SIP/2.0\n" REINVITE_DIALOG, offer_port);
    osip_message_t *answer = with_video("SIP/2.0 200 OK\n" REINVITE_DIALOG, answer_port);
    call_journal_request(cj, inv, 1000);
    call_journal_response(cj, inv, ok, CALL_END_RELAYED, 2000);
    call_journal_request(cj, offer, 3000);
    call_journal_response(cj, offer, answer, CALL_END_RELAYED, 3100);
    osip_message_free(inv);
    osip_message_free(ok);
    osip_message_free(offer);
    osip_message_free(answer);
    return finish();
}

/* Video counts only once an answer accepts an offered stream: a conference
 * re-INVITE whose video the callee declines (port 0) is no video call; a
 * re-INVITE whose answer accepts it is. */
Test(call_journal, declined_video_is_no_video_call)
{
    char *text = journal_of_reinvite(5000, 0);
    cr_assert_not_null(strstr(text, "\"reinvites\":1,\"video\":false"), "%s", text);
}

Test(call_journal, accepted_video_makes_a_video_call)
{
    char *text = journal_of_reinvite(5000, 6000);
    cr_assert_not_null(strstr(text, "\"video\":true"), "%s", text);
}

/* A relayed call's line waits, after its BYE, for the engine's figures
 * (call_journal_media); when they never come (the BYE never reached the
 * engine) it is written without them after CALL_JOURNAL_MEDIA_WAIT_MS,
 * not at shutdown. */
Test(call_journal, a_relayed_calls_line_waits_for_the_engine_a_while)
{
    osip_message_t *inv = parse(INVITE_TEXT), *ok = parse(RESP("200", "OK", ";tag=bob9"));
    osip_message_t *bye = parse(BYE_FROM_CALLEE);
    int64_t t0 = 1764075600000;
    call_journal_request(cj, inv, t0);
    call_journal_relayed(cj, inv, "127.0.0.1:2223");
    call_journal_response(cj, inv, ok, CALL_END_RELAYED, t0 + 1000);
    call_journal_request(cj, bye, t0 + 5000);
    cr_assert_eq(call_journal_ending(cj), 1, "waiting for the engine");
    call_journal_expire(cj, t0 + 5000 + CALL_JOURNAL_MEDIA_WAIT_MS - 1);
    cr_assert_eq(call_journal_open_calls(cj), 1, "not yet");
    call_journal_expire(cj, t0 + 5000 + CALL_JOURNAL_MEDIA_WAIT_MS + 1000);
    cr_assert_eq(call_journal_open_calls(cj), 0);
    cr_assert_eq(call_journal_ending(cj), 0);
    char *text = finish();
    cr_assert_not_null(strstr(text, "\"hung_up_by\":\"callee\""), "%s", text);
    cr_assert_not_null(strstr(text, "\"media\":{\"engine\":\"127.0.0.1:2223\"}"), "%s", text);
    cr_assert_not_null(strstr(text, "\"duration_s\":4.000"), "the BYE's time, not the expiry's");
    osip_message_free(inv);
    osip_message_free(ok);
    osip_message_free(bye);
}

/* A call out through a trunk names it, the number dialled and the one
 * sent; the last trunk tried wins (failover); a call without one says
 * null. */
Test(call_journal, a_trunk_call_names_its_trunk_and_numbers)
{
    osip_message_t *inv = parse(INVITE_TEXT), *ok = parse(RESP("200", "OK", ";tag=bob9"));
    osip_message_t *bye = parse(BYE_FROM_CALLEE);
    int64_t t0 = 1764075600000;
    call_journal_request(cj, inv, t0);
    call_journal_trunk(cj, inv, "carrier", true, "0301234567", "+49301234567");
    call_journal_trunk(cj, inv, "backup", true, "0301234567", "49301234567");
    call_journal_response(cj, inv, ok, CALL_END_RELAYED, t0 + 1000);
    call_journal_request(cj, bye, t0 + 5000);
    char *text = finish();
    cr_assert_not_null(strstr(text, "\"trunk\":{\"name\":\"backup\",\"direction\":\"out\","
                                    "\"dialled\":\"0301234567\",\"sent\":\"49301234567\"}"),
                       "%s", text);
    osip_message_free(inv);
    osip_message_free(ok);
    osip_message_free(bye);
}

/* What a watcher (call_journal_watch) heard, one line per phase. */
static char heard[1024];
static int states_freed;

static void hook(void *ctx, const struct call_event *ev, void **state)
{
    static const char *const names[] = {"trying", "ringing", "answered", "ended"};
    (void)ctx;
    if (ev->phase == CALL_TRYING) {
        cr_assert_not_null(ev->invite);
        cr_assert_null(*state);
        *state = malloc(1);
    }
    cr_assert_not_null(*state, "the hook's own pointer comes back");
    snprintf(heard + strlen(heard), sizeof(heard) - strlen(heard), "%s %d %s %s %s/%s;",
             names[ev->phase], ev->code, ev->outcome ? ev->outcome : "-", ev->by ? ev->by : "-",
             ev->caller_tag ? ev->caller_tag : "-", ev->callee_tag ? ev->callee_tag : "-");
    if (ev->phase == CALL_ENDED) {
        free(*state);
        *state = NULL;
        states_freed++;
    }
}

Test(call_journal, a_watcher_hears_each_phase_once_and_ended_at_the_bye)
{
    heard[0] = '\0';
    states_freed = 0;
    call_journal_watch(cj, hook, NULL);
    osip_message_t *inv = parse(INVITE_TEXT), *ringing = parse(RESP("180", "Ringing", ";tag=bob9"));
    osip_message_t *ringing2 = parse(RESP("183", "Session Progress", ";tag=bob9"));
    osip_message_t *ok = parse(RESP("200", "OK", ";tag=bob9")), *bye = parse(BYE_FROM_CALLEE);
    call_journal_request(cj, inv, 1000);
    call_journal_response(cj, inv, ringing, CALL_END_RELAYED, 1100);
    call_journal_response(cj, inv, ringing2, CALL_END_RELAYED, 1200);
    call_journal_response(cj, inv, ok, CALL_END_RELAYED, 2000);
    call_journal_request(cj, bye, 9000);
    cr_assert_str_eq(heard, "trying 0 - - from1/-;ringing 180 - - from1/bob9;"
                            "answered 200 - - from1/bob9;ended 0 answered callee from1/bob9;");
    cr_assert_eq(states_freed, 1);
    finish();
    osip_message_free(inv);
    osip_message_free(ringing);
    osip_message_free(ringing2);
    osip_message_free(ok);
    osip_message_free(bye);
}

Test(call_journal, a_watcher_hears_failures_and_shutdown)
{
    heard[0] = '\0';
    states_freed = 0;
    call_journal_watch(cj, hook, NULL);
    osip_message_t *inv = parse(INVITE_TEXT), *busy = parse(RESP("486", "Busy Here", ";tag=b"));
    call_journal_request(cj, inv, 1000);
    call_journal_response(cj, inv, busy, CALL_END_RELAYED, 1500);
    cr_assert_str_eq(heard, "trying 0 - - from1/-;ended 486 busy callee from1/-;");
    heard[0] = '\0';
    call_journal_request(cj, inv, 2000); /* the same Call-ID again: a new call */
    finish();                            /* open at shutdown: interrupted */
    cr_assert_str_eq(heard, "trying 0 - - from1/-;ended 0 interrupted proxy from1/-;");
    cr_assert_eq(states_freed, 2);
    osip_message_free(inv);
    osip_message_free(busy);
}
