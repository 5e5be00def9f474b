/* switchboard-ctl: asks a running switchboard's admin plane (admin.h) who
 * is registered, which calls are up, what the journal says; unregisters a
 * user. Tables for people by default (the server formats them), --json for
 * scripts. Plain HTTP/1.0 over a socket: nothing to install beside it. */
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "switchboard/utf8.h"

enum { EXIT_HTTP = 1, EXIT_USAGE = 2, EXIT_DOWN = 3 };

struct options {
    const char *admin; /* HOST:PORT */
    const char *token_file;
    bool json;
    const char *limit;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: switchboard-ctl [--admin HOST:PORT] [--json] [--token-file FILE] COMMAND\n"
            "\n"
            "  registrations [USER]   who is registered, from where, with which phone\n"
            "  calls                  calls being set up or talking now\n"
            "  journal [--limit N]    the last calls that ended\n"
            "  status                 version, uptime, listen addresses, counters\n"
            "  trunks                 each trunk: registered or not, reachable, calls\n"
            "  users [USER]           who is online, ringing or on the phone, devices, DND\n"
            "  unregister USER [CONTACT]  drop every device USER registered, or the one\n"
            "                         registered with CONTACT (its URI, as registrations shows)\n"
            "  user USER              USER's do-not-disturb, forwards and ring time\n"
            "  dnd USER on|off        set or clear USER's do-not-disturb (kept across restarts)\n"
            "\n"
            "  --admin HOST:PORT   the admin plane (default $SWITCHBOARD_ADMIN or 127.0.0.1:8060)\n"
            "  --json              print the API's JSON instead of a table\n"
            "  --token-file FILE   send the bearer token in FILE ([admin] token_file)\n");
}

/* %-escapes everything but unreserved characters (RFC 3986 §2.3). */
static void url_escape(const char *in, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)in; *c && n + 4 < size; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            strchr("-._~", *c)) {
            out[n++] = (char)*c;
        } else {
            out[n++] = '%';
            out[n++] = hex[*c >> 4];
            out[n++] = hex[*c & 15];
        }
    }
    out[n] = '\0';
}

static int connect_to(const char *admin)
{
    char host[256];
    const char *colon = strrchr(admin, ':');
    if (!colon || (size_t)(colon - admin) >= sizeof(host) || colon == admin)
        return -2;
    const char *h = admin;
    size_t len = (size_t)(colon - admin);
    if (*h == '[' && len >= 2 && h[len - 1] == ']') {
        h++;
        len -= 2;
    }
    memcpy(host, h, len);
    host[len] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        return -2;
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct timeval tv = {.tv_sec = 10};
        if (fd >= 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

static bool read_token(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f || !fgets(buf, (int)size, f)) {
        if (f)
            fclose(f);
        fprintf(stderr, "switchboard-ctl: cannot read %s: %s\n", path, strerror(errno));
        return false;
    }
    fclose(f);
    buf[strcspn(buf, " \t\r\n")] = '\0';
    return true;
}

/* Sends the request, prints the body; returns the exit status. */

/* Writes @text line by line with what a SIP phone may have put in it
 * (User-Agent, display names) made harmless for a terminal: control
 * characters and invalid UTF-8 become "\xNN" (utf8.h). */
static void print_clean(FILE *out, const char *text)
{
    char clean[4 * 1024 + 1];
    while (*text) {
        size_t line = strcspn(text, "\n");
        for (size_t done = 0; done < line;) {
            size_t piece = line - done < 1024 ? line - done : 1024;
            utf8_escape_controls(text + done, piece, clean, sizeof(clean));
            fputs(clean, out);
            done += piece;
        }
        text += line;
        if (*text == '\n') {
            fputc('\n', out);
            text++;
        }
    }
}
static int request(const struct options *o, const char *method, const char *path)
{
    char token[512] = "";
    if (o->token_file && !read_token(o->token_file, token, sizeof(token)))
        return EXIT_USAGE;
    int fd = connect_to(o->admin);
    if (fd < 0) {
        fprintf(stderr,
                fd == -2 ? "switchboard-ctl: bad admin address '%s' (want HOST:PORT)\n"
                         : "switchboard-ctl: no switchboard answers at %s (is it running? is "
                           "[admin] listen elsewhere? see --admin)\n",
                o->admin);
        return fd == -2 ? EXIT_USAGE : EXIT_DOWN;
    }
    char req[4096];
    int n = snprintf(
        req, sizeof(req), "%s %s HTTP/1.0\r\nHost: %s\r\n%s%s%sConnection: close\r\n\r\n", method,
        path, o->admin, token[0] ? "Authorization: Bearer " : "", token, token[0] ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n) {
        close(fd);
        fprintf(stderr, "switchboard-ctl: cannot send to %s\n", o->admin);
        return EXIT_DOWN;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    ssize_t got;
    while (buf && (got = read(fd, buf + len, cap - len)) > 0) {
        len += (size_t)got;
        if (len == cap) {
            char *bigger = realloc(buf, cap * 2 + 1);
            if (!bigger)
                break;
            buf = bigger;
            cap *= 2;
        }
    }
    close(fd);
    if (!buf)
        return EXIT_HTTP;
    buf[len] = '\0';
    int status = 0;
    char *body = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || !body) {
        fprintf(stderr, "switchboard-ctl: %s did not answer in HTTP\n", o->admin);
        free(buf);
        return EXIT_HTTP;
    }
    body += 4;
    if (status >= 400 && !o->json) {
        char *e = strstr(body, "\"error\":\"");
        char *end = e ? strchr(e + 9, '"') : NULL;
        if (end)
            *end = '\0';
        fputs("switchboard-ctl: ", stderr);
        print_clean(stderr, e ? e + 9 : body);
        fprintf(stderr, " (HTTP %d)\n", status);
    } else {
        print_clean(status >= 400 ? stderr : stdout, body);
    }
    free(buf);
    return status >= 400 ? EXIT_HTTP : 0;
}

static int run(const struct options *o, int argc, char **argv)
{
    const char *cmd = argv[0];
    const char *fmt = o->json ? "json" : "text";
    char path[2048], arg[768] = "";
    if (argc > 1)
        url_escape(argv[1], arg, sizeof(arg));
    if (!strcmp(cmd, "registrations") && argc <= 2) {
        snprintf(path, sizeof(path), "/api/registrations?format=%s%s%s", fmt,
                 argc > 1 ? "&user=" : "", arg);
    } else if (!strcmp(cmd, "calls") && argc == 1) {
        snprintf(path, sizeof(path), "/api/calls?format=%s", fmt);
    } else if (!strcmp(cmd, "journal") && argc == 1) {
        snprintf(path, sizeof(path), "/api/journal?format=%s&limit=%s", fmt,
                 o->limit ? o->limit : "20");
    } else if (!strcmp(cmd, "status") && argc == 1) {
        snprintf(path, sizeof(path), "/api/status?format=%s", fmt);
    } else if (!strcmp(cmd, "users") && argc <= 2) {
        snprintf(path, sizeof(path), "/api/users?format=%s%s%s", fmt, argc > 1 ? "&user=" : "",
                 arg);
    } else if (!strcmp(cmd, "trunks") && argc == 1) {
        snprintf(path, sizeof(path), "/api/trunks?format=%s", fmt);
    } else if (!strcmp(cmd, "user") && argc == 2) {
        snprintf(path, sizeof(path), "/api/users/%s", arg);
    } else if (!strcmp(cmd, "dnd") && argc == 3 &&
               (!strcmp(argv[2], "on") || !strcmp(argv[2], "off"))) {
        snprintf(path, sizeof(path), "/api/users/%s/dnd", arg);
        return request(o, !strcmp(argv[2], "on") ? "PUT" : "DELETE", path);
    } else if (!strcmp(cmd, "unregister") && (argc == 2 || argc == 3)) {
        char contact[768] = "";
        if (argc == 3)
            url_escape(argv[2], contact, sizeof(contact));
        snprintf(path, sizeof(path), "/api/registrations/%s%s%s", arg, argc == 3 ? "?contact=" : "",
                 contact);
        return request(o, "DELETE", path);
    } else {
        usage(stderr);
        return EXIT_USAGE;
    }
    return request(o, "GET", path);
}

int main(int argc, char **argv)
{
    struct options o = {.admin = getenv("SWITCHBOARD_ADMIN")};
    if (!o.admin || !*o.admin)
        o.admin = "127.0.0.1:8060";
    char *words[4];
    int count = 0;
    /* options may come before or after the command */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            o.json = true;
        } else if (!strcmp(argv[i], "--admin") && i + 1 < argc) {
            o.admin = argv[++i];
        } else if (!strcmp(argv[i], "--token-file") && i + 1 < argc) {
            o.token_file = argv[++i];
        } else if (!strcmp(argv[i], "--limit") && i + 1 < argc) {
            o.limit = argv[++i];
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] != '-' && count < 3) {
            words[count++] = argv[i];
        } else {
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (count == 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    words[count] = NULL;
    return run(&o, count, words);
}
