/* OpenSSL contexts. See tls.h. */
#include "switchboard/tls.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "switchboard/error.h"
#include "switchboard/log.h"

struct tls {
    SSL_CTX *server; /* NULL without a certificate */
    SSL_CTX *client;
};

const char *tls_last_error(char *buf, unsigned long size)
{
    unsigned long e = ERR_get_error();
    if (!e) {
        snprintf(buf, size, "no detail from OpenSSL");
        return buf;
    }
    ERR_error_string_n(e, buf, size);
    ERR_clear_error();
    return buf;
}

static void log_ssl_error(const char *what, const char *path)
{
    char detail[256];
    SB_ERROR("TLS: %s%s%s: %s", what, path ? " " : "", path ? path : "",
             tls_last_error(detail, sizeof(detail)));
}

/* What both sides share: TLS 1.2 and newer, no renegotiation, buffers
 * released while a connection is idle (thousands of phones stay
 * connected between calls). */
static SSL_CTX *context_new(const SSL_METHOD *method)
{
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    return ctx;
}

static int load_verify(SSL_CTX *ctx, const char *ca)
{
    if (ca ? SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1
           : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        log_ssl_error("cannot load CA certificates", ca);
        return SB_EINVAL;
    }
    return 0;
}

static int server_context(struct tls *t, const struct tls_options *o)
{
    t->server = context_new(TLS_server_method());
    if (!t->server)
        return SB_ENOMEM;
    if (SSL_CTX_use_certificate_chain_file(t->server, o->certificate) != 1) {
        log_ssl_error("cannot load certificate", o->certificate);
        return SB_EINVAL;
    }
    if (SSL_CTX_use_PrivateKey_file(t->server, o->key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(t->server) != 1) {
        log_ssl_error("cannot load the key matching the certificate", o->key);
        return SB_EINVAL;
    }
    if (o->verify_client) {
        if (load_verify(t->server, o->ca) != 0)
            return SB_EINVAL;
        SSL_CTX_set_verify(t->server, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        SSL_CTX_set_client_CA_list(t->server, SSL_load_client_CA_file(o->ca));
    }
    return 0;
}

int tls_create(const struct tls_options *o, struct tls **out)
{
    struct tls *t = calloc(1, sizeof(*t));
    if (!t)
        return SB_ENOMEM;
    int rc = o->certificate ? server_context(t, o) : 0;
    if (rc == 0) {
        t->client = context_new(TLS_client_method());
        rc = t->client ? load_verify(t->client, o->ca) : SB_ENOMEM;
    }
    if (rc == 0 && t->client) {
        SSL_CTX_set_verify(t->client, SSL_VERIFY_PEER, NULL);
        /* our own certificate, for servers that ask for one */
        if (o->certificate) {
            SSL_CTX_use_certificate_chain_file(t->client, o->certificate);
            SSL_CTX_use_PrivateKey_file(t->client, o->key, SSL_FILETYPE_PEM);
        }
    }
    if (rc != 0) {
        tls_destroy(t);
        return rc;
    }
    *out = t;
    return 0;
}

void tls_destroy(struct tls *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->server);
    SSL_CTX_free(t->client);
    free(t);
}

SSL *tls_accept_new(struct tls *t, int fd)
{
    if (!t->server)
        return NULL;
    SSL *ssl = SSL_new(t->server);
    if (ssl && SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    if (ssl)
        SSL_set_accept_state(ssl);
    return ssl;
}

SSL *tls_connect_new(struct tls *t, int fd, const char *host)
{
    SSL *ssl = SSL_new(t->client);
    if (!ssl)
        return NULL;
    unsigned char ip[16];
    bool literal = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    int ok = SSL_set_fd(ssl, fd);
    if (ok == 1 && literal)
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
    else if (ok == 1) {
        ok = SSL_set1_host(ssl, host);
        if (ok == 1)
            ok = SSL_set_tlsext_host_name(ssl, host); /* SNI: names only */
    }
    if (ok != 1) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_connect_state(ssl);
    return ssl;
}
