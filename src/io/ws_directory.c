/* The office directory over HTTP. See ws_directory.h. */
#include "switchboard/ws_directory.h"

#include <string.h>

#include "switchboard/auth.h"
#include "switchboard/buf.h"
#include "switchboard/dialplan.h"
#include "switchboard/directory.h"
#include "switchboard/ws.h"

#define DIRECTORY_PATH "/directory"

bool ws_directory_wanted(const struct ws_request *r)
{
    size_t n = strlen(DIRECTORY_PATH);
    return !strncmp(r->path, DIRECTORY_PATH, n) && (r->path[n] == '\0' || r->path[n] == '?');
}

/* One response: @status line, @extra headers (CRLF each), @type, @body. */
static void respond(struct sb_buf *out, const struct ws_request *r, const char *status,
                    const char *extra, const char *type, const struct sb_buf *body)
{
    sb_buf_printf(out,
                  "HTTP/1.1 %s\r\n%sContent-Type: %s\r\nContent-Length: %zu\r\n"
                  "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\r\n",
                  status, extra, type, body->len);
    if (!r->head)
        sb_buf_append(out, body->data ? body->data : "", body->len);
}

void ws_directory_reply(const struct ws_directory *d, const struct ws_request *r,
                        const struct sb_addr *peer, struct sb_buf *out)
{
    struct sb_buf body = {0};
    enum auth_result res = d->auth ? auth_check_http(d->auth, r->head ? "HEAD" : "GET", r->path,
                                                     r->authorization, peer, NULL)
                                   : AUTH_OK;
    if (res == AUTH_THROTTLED) {
        sb_buf_puts(&body, "too many failed attempts from here or for this user; wait\n");
        respond(out, r, "403 Forbidden", "", "text/plain; charset=utf-8", &body);
    } else if (res != AUTH_OK) {
        char challenge[1024];
        if (!auth_http_challenge(d->auth, res == AUTH_STALE, challenge, sizeof(challenge)))
            challenge[0] = '\0';
        sb_buf_puts(&body, "sign in with your SIP user name and password\n");
        respond(out, r, "401 Unauthorized", challenge, "text/plain; charset=utf-8", &body);
    } else {
        struct dialplan *dp = d->plans ? dialplan_holder_get(d->plans) : NULL;
        int rc = directory_json(dp, d->auth, &body);
        if (dp)
            dialplan_unref(dp);
        if (rc == 0) {
            respond(out, r, "200 OK", "", "application/json", &body);
        } else {
            sb_buf_free(&body);
            sb_buf_puts(&body, "out of memory\n");
            respond(out, r, "503 Service Unavailable", "", "text/plain; charset=utf-8", &body);
        }
    }
    sb_buf_free(&body);
}
