/* switchboard's one error convention: 0 on success, a negative SB_E* code on
 * failure. sb_strerror() maps every code to a message. */
#ifndef SWITCHBOARD_ERROR_H
#define SWITCHBOARD_ERROR_H

#define SB_ERRNO_MAP(X)                                                                            \
    X(ENOMEM, -1, "out of memory")                                                                 \
    X(EINVAL, -2, "invalid argument")                                                              \
    X(EMALFORMED, -3, "malformed SIP message")                                                     \
    X(ENOTFOUND, -4, "not found")                                                                  \
    X(ELIMIT, -5, "limit reached")                                                                 \
    X(EOUTOFORDER, -6, "request out of order")                                                     \
    X(ESYS, -7, "system call failed")                                                              \
    X(EUNRESOLVED, -8, "address cannot be resolved")                                               \
    X(ERANGE, -9, "value out of range")                                                            \
    X(EAGAIN, -10, "try again")                                                                    \
    X(EQUOTA, -11, "the sender's quota is used up")                                                \
    X(EDOMAINFULL, -12, "the domain's quota is used up")                                           \
    X(ETIMEDOUT, -13, "no answer in time")

enum sb_error {
    SB_OK = 0,
#define SB_ERRNO_ENUM(name, value, text) SB_##name = (value),
    SB_ERRNO_MAP(SB_ERRNO_ENUM)
#undef SB_ERRNO_ENUM
};

/* Returns a static message for an SB_E* code (or "unknown error"). */
const char *sb_strerror(int code);

#endif
