# cmake -DIN=FILE -DOUT=FILE.cpp -DNAME=symbol -P embed.cmake: FILE's bytes as a C++ array
# (the BPF object built from src/bpf, carried inside caisson).
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" len)
math(EXPR size "${len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n    " bytes "${bytes}")
file(WRITE "${OUT}.new" "// Generated from ${IN} by cmake/embed.cmake. Do not edit.\n#include <cstddef>\n\nnamespace caisson::embedded {\n\nextern const unsigned char ${NAME}[] = {\n    ${bytes}\n};\nextern const size_t ${NAME}_size = ${size};\n\n}  // namespace caisson::embedded\n")
file(COPY_FILE "${OUT}.new" "${OUT}" ONLY_IF_DIFFERENT)
