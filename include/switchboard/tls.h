/* TLS for the stream transport (RFC 3261 §26.3.1, RFC 5630): OpenSSL 3
 * contexts for the connections we accept and the ones we open, TLS 1.2 and
 * newer only.
 *
 * DESIGN: the contexts are made once at start-up and read-only afterwards
 * (OpenSSL allows SSL_new on a shared SSL_CTX from several threads); each
 * connection's SSL object belongs to its I/O thread. */
#ifndef SWITCHBOARD_TLS_H
#define SWITCHBOARD_TLS_H

#include <stdbool.h>

#include <openssl/ssl.h>

struct tls;

struct tls_options {
    const char *certificate; /* PEM, the chain; NULL: we only open connections */
    const char *key;         /* PEM private key */
    const char *ca;          /* PEM CAs for peers; NULL: the system's */
    bool verify_client;      /* accepted connections must show a certificate */
};

/* Returns 0, or a negative code after logging what OpenSSL said. */
int tls_create(const struct tls_options *o, struct tls **out);
void tls_destroy(struct tls *t);

/* A server-side SSL for accepted socket @fd, or NULL. */
SSL *tls_accept_new(struct tls *t, int fd);
/* A client-side SSL for connected socket @fd, checking the peer's
 * certificate names @host (an IP address or a name), or NULL. */
SSL *tls_connect_new(struct tls *t, int fd, const char *host);

/* OpenSSL's last error for a log line (thread-local, drains the queue). */
const char *tls_last_error(char *buf, unsigned long size);

#endif
