# cmake -DIN=web/index.html -DOUT=admin_page.c [-DNAME=admin_page] -P cmake/embed.cmake:
# a file as a NUL-terminated C array NAME[] and its length NAME_len, so the
# binary carries it with no file beside it (the admin page, the Redis
# store's Lua script).
if(NOT NAME)
  set(NAME admin_page)
endif()
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" len)
math(EXPR bytes "${len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE "${OUT}" "/* generated from ${IN} by cmake/embed.cmake */\n#include <stddef.h>\n"
  "const char ${NAME}[] = {${body} 0};\nconst size_t ${NAME}_len = ${bytes};\n")
