# cmake -DIN=web/index.html -DOUT=admin_page.c -P cmake/embed.cmake: the page
# as a C array, so the binary serves it with no file beside it.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" len)
math(EXPR bytes "${len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE "${OUT}" "/* generated from ${IN} by cmake/embed.cmake */\n#include <stddef.h>\n"
  "const char admin_page[] = {${body} 0};\nconst size_t admin_page_len = ${bytes};\n")
