/* Unit tests for src/settings.c and src/core/config.c: the file, the
 * flags, the checks and the address forms. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <unistd.h>

#include "switchboard/config.h"
#include "switchboard/settings.h"
#include "switchboard/error.h"
#include "switchboard/media.h"
#include "switchboard/types.h"

Test(config, listen_specs_parse)
{
    char host[64];
    unsigned port;
    int transport;
    cr_assert_eq(config_parse_listen("udp:127.0.0.1:5060", &transport, host, sizeof(host), &port),
                 0);
    cr_assert_str_eq(host, "127.0.0.1");
    cr_assert_eq(port, 5060);
    cr_assert_eq(transport, SB_UDP);
    cr_assert_eq(config_parse_listen("udp:[::1]:5070", &transport, host, sizeof(host), &port), 0);
    cr_assert_str_eq(host, "::1");
    cr_assert_eq(port, 5070);
    cr_assert_eq(config_parse_listen("tcp:1.2.3.4:5060", &transport, host, sizeof(host), &port), 0);
    cr_assert_eq(transport, SB_TCP);
    cr_assert_eq(config_parse_listen("TLS:1.2.3.4:5061", &transport, host, sizeof(host), &port), 0);
    cr_assert_eq(transport, SB_TLS);
    cr_assert_eq(config_parse_listen("sctp:1.2.3.4:5060", &transport, host, sizeof(host), &port),
                 SB_EINVAL);
    cr_assert_eq(config_parse_listen("udp:1.2.3.4:99999", &transport, host, sizeof(host), &port),
                 SB_ERANGE);
    cr_assert_eq(config_parse_listen("udp:1.2.3.4", &transport, host, sizeof(host), &port),
                 SB_EINVAL);
}

Test(config, tls_listen_needs_a_certificate)
{
    struct sb_config cfg;
    config_defaults(&cfg);
    cr_assert_neq(settings_load_text(&cfg, "[server]\nlisten = tls:127.0.0.1:5061\n", "t.conf"), 0);
    config_free(&cfg);
    config_defaults(&cfg);
    cr_assert_eq(settings_load_text(&cfg,
                                    "[server]\nlisten = udp:127.0.0.1:5060, tcp:127.0.0.1:5060, "
                                    "tls:127.0.0.1:5061\n[tls]\ncertificate = c.pem\nkey = k.pem\n"
                                    "[tcp]\nmax_per_ip = 8\nidle_timeout = 90\n",
                                    "t.conf"),
                 0);
    cr_assert_eq(cfg.listen_count, 3);
    cr_assert_eq(cfg.tcp_max_per_ip, 8);
    cr_assert_eq(cfg.tcp_idle_timeout, 90);
    cr_assert_str_eq(cfg.tls_certificate, "c.pem");
    config_free(&cfg);
    config_defaults(&cfg);
    cr_assert_neq(settings_load_text(&cfg, "[tls]\nverify_client = yes\n", "t.conf"), 0,
                  "verify_client without a CA");
    config_free(&cfg);
}

static char *write_temp(const char *text)
{
    static char path[] = "/tmp/sb-config-XXXXXX";
    char *p = strdup(path);
    int fd = mkstemp(p);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return p;
}

Test(config, flags_override_the_file)
{
    char *path = write_temp("[server]\nlisten = udp:127.0.0.1:5070\nworkers = 3\n"
                            "[proxy]\ntimer_c_ms = 2000\nrelay = yes\n");
    struct sb_config cfg;
    config_defaults(&cfg);
    char *argv[] = {"switchboard", "-c", path, "--workers", "5", NULL};
    cr_assert_eq(settings_from_args(&cfg, 5, argv), 0);
    cr_assert_eq(cfg.workers, 5);
    cr_assert_eq(cfg.timer_c_ms, 2000);
    cr_assert(cfg.relay);
    cr_assert_eq(cfg.listen_count, 1);
    cr_assert_str_eq(cfg.listen[0], "udp:127.0.0.1:5070");
    config_free(&cfg);
    unlink(path);
    free(path);
}

Test(config, bad_values_are_refused)
{
    char *path = write_temp("[registrar]\nmin_expires = soon\n");
    struct sb_config cfg;
    config_defaults(&cfg);
    char *argv[] = {"switchboard", "-c", path, NULL};
    cr_assert_lt(settings_from_args(&cfg, 3, argv), 0);
    config_free(&cfg);
    unlink(path);
    free(path);

    config_defaults(&cfg);
    char *argv2[] = {"switchboard", "--workers", "0", NULL};
    cr_assert_lt(settings_from_args(&cfg, 3, argv2), 0);
    config_free(&cfg);
}

Test(config, default_listen_is_all_interfaces)
{
    struct sb_config cfg;
    config_defaults(&cfg);
    char *argv[] = {"switchboard", NULL};
    cr_assert_eq(settings_from_args(&cfg, 1, argv), 0);
    cr_assert_eq(cfg.listen_count, 1);
    cr_assert_str_eq(cfg.listen[0], "udp:0.0.0.0:5060");
    config_free(&cfg);
}

Test(config, flags_override_the_file_and_lists_replace)
{
    char *path = write_temp("[server]\n"
                            "listen = udp:127.0.0.1:5070\n"
                            "listen = tcp:127.0.0.1:5070\n"
                            "domain = a.example, b.example\n"
                            "workers = 3\n"
                            "[registrar]\n"
                            "store = /tmp/from-file.db\n"
                            "use_domain = yes\n");
    struct sb_config cfg;
    config_defaults(&cfg);
    char *argv[] = {"switchboard", "-c",        path,        "--store", "none",
                    "--domain",    "c.example", "--workers", "2",       NULL};
    cr_assert_eq(settings_from_args(&cfg, 9, argv), 0);
    cr_assert_eq(cfg.listen_count, 2, "the file's two lines replace the default");
    cr_assert_str_eq(cfg.listen[1], "tcp:127.0.0.1:5070");
    cr_assert_eq(cfg.domain_count, 1, "the flag's list replaces the file's");
    cr_assert_str_eq(cfg.domains[0], "c.example");
    cr_assert_str_eq(cfg.store, "none");
    cr_assert_eq(cfg.workers, 2);
    cr_assert(cfg.use_domain);
    config_free(&cfg);
    unlink(path);
    free(path);
}

Test(config, a_thread_count_of_zero_is_the_files_alone)
{
    /* 0 means "the CPU count" in the file; a flag must name a number */
    struct sb_config cfg;
    config_defaults(&cfg);
    cr_assert_eq(settings_load_text(&cfg, "[server]\nlisteners = 0\nworkers = 0\n", "t.conf"), 0);
    char *argv[] = {"switchboard", "--listeners", "0", NULL};
    cr_assert_lt(settings_from_args(&cfg, 3, argv), 0);
    config_free(&cfg);
}

/* [media]: the engines and the mode from the file, the mode from its flag;
 * relaying without an engine, or an engine named by a host name, is
 * refused at start. */
Test(config, media_relay_settings)
{
    char *path = write_temp("[media]\nrtpengine = udp:127.0.0.1:2223;weight=2, udp:10.0.0.9:2223\n"
                            "relay = nat\non_failure = refuse\ntimeout_ms = 150\n");
    struct sb_config cfg;
    config_defaults(&cfg);
    cr_assert_eq(cfg.media_relay, MEDIA_RELAY_NEVER, "signalling only unless told");
    char *argv[] = {"switchboard", "-c", path, "--media-relay", "always", NULL};
    cr_assert_eq(settings_from_args(&cfg, 5, argv), 0);
    cr_assert_str_eq(cfg.rtpengine, "udp:127.0.0.1:2223;weight=2, udp:10.0.0.9:2223");
    cr_assert_eq(cfg.media_relay, MEDIA_RELAY_ALWAYS);
    cr_assert_eq(cfg.media_on_failure, MEDIA_FAIL_REFUSE);
    cr_assert_eq(cfg.media_timeout_ms, 150);
    config_free(&cfg);
    unlink(path);
    free(path);

    const char *bad[] = {"[media]\nrelay = nat\n", "[media]\nrtpengine = udp:rtp.example:2223\n",
                         "[media]\nrelay = sometimes\n", "[media]\non_failure = retry\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        path = write_temp(bad[i]);
        config_defaults(&cfg);
        char *argv2[] = {"switchboard", "-c", path, NULL};
        cr_assert_lt(settings_from_args(&cfg, 3, argv2), 0, "%s", bad[i]);
        config_free(&cfg);
        unlink(path);
        free(path);
    }
}
