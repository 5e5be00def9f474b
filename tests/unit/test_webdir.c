/* Unit tests for src/core/webdir.c: the page's files held in memory, and
 * which request-targets name one. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "switchboard/webdir.h"

static char root[] = "/tmp/sb-webdir-XXXXXX";

static void put(const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static struct webdir *load(void)
{
    cr_assert_not_null(mkdtemp(root));
    char sub[256];
    snprintf(sub, sizeof(sub), "%s/lib", root);
    mkdir(sub, 0700);
    put("index.html", "<!doctype html>");
    put("lib/app.js", "export {};");
    put("lib/types.d.ts", "declare;");
    put(".secret.json", "{}");
    struct webdir *w;
    char err[256];
    cr_assert_eq(webdir_load(root, &w, err, sizeof(err)), 0, "%s", err);
    return w;
}

/* Frees @w and removes the folder load() made. */
static void drop(struct webdir *w)
{
    webdir_free(w);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    cr_assert_eq(system(cmd), 0);
}

Test(webdir, serves_known_types_not_hidden_files)
{
    struct webdir *w = load();
    cr_assert_eq(webdir_count(w), 2);
    const struct webdir_file *f = webdir_find(w, "/");
    cr_assert_not_null(f);
    cr_assert_str_eq(f->path, "/index.html");
    cr_assert_str_eq(f->type, "text/html; charset=utf-8");
    cr_assert_eq(f->len, strlen("<!doctype html>"));
    f = webdir_find(w, "/lib/app.js?v=2");
    cr_assert_not_null(f);
    cr_assert_str_eq(f->type, "text/javascript; charset=utf-8");
    cr_assert_null(webdir_find(w, "/lib/types.d.ts"), "no type: not loaded");
    cr_assert_null(webdir_find(w, "/.secret.json"), "hidden");
    drop(w);
}

Test(webdir, paths_that_climb_or_are_odd_name_nothing)
{
    struct webdir *w = load();
    const char *bad[] = {"",
                         "index.html",
                         "/../index.html",
                         "/lib/../index.html",
                         "/./index.html",
                         "/lib//app.js",
                         "/lib/app.js%00",
                         "/lib\\app.js",
                         "/index.html "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_null(webdir_find(w, bad[i]), "'%s'", bad[i]);
    cr_assert_null(webdir_find(NULL, "/"));
    drop(w);
}

Test(webdir, a_missing_folder_says_so)
{
    struct webdir *w = NULL;
    char err[256] = "";
    cr_assert_neq(webdir_load("/nonexistent/sb-web", &w, err, sizeof(err)), 0);
    cr_assert_not_null(strstr(err, "/nonexistent/sb-web"), "%s", err);
}
