/* Unit tests for src/core/async_file.c: whole records from many threads, drain
 * on close, reopen after rotation, the bounded queue. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "switchboard/async_file.h"
#include "switchboard/error.h"

static char path[64];

static void setup(void)
{
    snprintf(path, sizeof(path), "/tmp/sb-async-%d.log", getpid());
    unlink(path);
}

static void teardown(void)
{
    unlink(path);
}

TestSuite(async_file, .init = setup, .fini = teardown);

static size_t count_lines(const char *p, size_t *bad)
{
    FILE *f = fopen(p, "r");
    cr_assert_not_null(f);
    char line[256];
    size_t n = 0;
    *bad = 0;
    while (fgets(line, sizeof(line), f)) {
        n++;
        if (strncmp(line, "record ", 7) != 0 || line[strlen(line) - 1] != '\n')
            (*bad)++;
    }
    fclose(f);
    return n;
}

static void *append_many(void *arg)
{
    struct async_file *f = arg;
    char line[64];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(line, sizeof(line), "record %d from a writer thread\n", i);
        cr_assert_eq(async_file_append(f, line, (size_t)n), 0);
    }
    return NULL;
}

Test(async_file, every_record_from_every_thread_lands_whole)
{
    struct async_file *f;
    struct async_file_options o = {.path = path, .name = "test", .queue_limit = 100000};
    cr_assert_eq(async_file_open(&o, &f), 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, append_many, f);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    struct async_file_counters c;
    async_file_close(f, &c);
    cr_assert_eq(c.written, 4000);
    cr_assert_eq(c.failed + c.dropped, 0);
    size_t bad;
    cr_assert_eq(count_lines(path, &bad), 4000);
    cr_assert_eq(bad, 0);
}

Test(async_file, reopen_follows_a_rotated_file)
{
    struct async_file *f;
    char rotated[80];
    snprintf(rotated, sizeof(rotated), "%s.1", path);
    struct async_file_options o = {.path = path, .name = "test", .sync = ASYNC_FILE_SYNC_RECORD};
    cr_assert_eq(async_file_open(&o, &f), 0);
    cr_assert_eq(async_file_append(f, "record one\n", 11), 0);
    for (int i = 0; i < 100; i++) { /* let the writer catch up */
        struct async_file_counters c;
        async_file_counters(f, &c);
        if (c.written == 1)
            break;
        usleep(10000);
    }
    cr_assert_eq(rename(path, rotated), 0);
    async_file_reopen(f);
    cr_assert_eq(async_file_append(f, "record two\n", 11), 0);
    async_file_close(f, NULL);
    size_t bad;
    cr_assert_eq(count_lines(rotated, &bad), 1);
    cr_assert_eq(count_lines(path, &bad), 1);
    unlink(rotated);
}

Test(async_file, a_new_file_starts_with_the_header_once)
{
    struct async_file *f;
    struct async_file_options o = {
        .path = path, .name = "test", .header = "HDR\n", .header_len = 4};
    for (int round = 0; round < 2; round++) {
        cr_assert_eq(async_file_open(&o, &f), 0);
        cr_assert_eq(async_file_append(f, "record x\n", 9), 0);
        async_file_close(f, NULL);
    }
    FILE *in = fopen(path, "r");
    char buf[64] = {0};
    size_t n = fread(buf, 1, sizeof(buf) - 1, in);
    fclose(in);
    cr_assert_eq(n, 4 + 9 + 9);
    cr_assert_str_eq(buf, "HDR\nrecord x\nrecord x\n");
}

Test(async_file, unwritable_path_is_an_error)
{
    struct async_file *f;
    struct async_file_options o = {.path = "/nonexistent-dir/x.log", .name = "test"};
    cr_assert_eq(async_file_open(&o, &f), SB_ESYS);
}

Test(async_file, a_full_disk_leaves_no_torn_record)
{
    /* /dev/full fails every write with ENOSPC */
    struct async_file *f;
    struct async_file_options o = {.path = "/dev/full", .name = "test"};
    cr_assert_eq(async_file_open(&o, &f), 0);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(async_file_append(f, "record lost\n", 12), 0);
    struct async_file_counters c;
    async_file_close(f, &c);
    cr_assert_eq(c.written, 0);
    cr_assert_eq(c.failed, 10, "every refused record is counted, none silently lost");
}
