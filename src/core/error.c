#include "switchboard/error.h"

const char *sb_strerror(int code)
{
    switch (code) {
    case SB_OK:
        return "success";
#define SB_ERRNO_CASE(name, value, text)                                                           \
    case SB_##name:                                                                                \
        return text;
        SB_ERRNO_MAP(SB_ERRNO_CASE)
#undef SB_ERRNO_CASE
    default:
        return "unknown error";
    }
}
