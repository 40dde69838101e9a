#!/usr/bin/env bash
# The installed package: `cmake --install` into a temporary prefix, then examples/ built
# against it twice, with find_package(caisson) and with pkg-config, and each binary run
# through the example's own test.
#   tests/install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d /tmp/caisson-test-XXXXXX)
chmod 755 "$tmp"  # the plug-in worker runs as nobody in its sandbox: it must reach its own binary
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > /dev/null
for f in include/caisson/sandbox.hpp include/caisson/restrict.hpp include/caisson/plugin.hpp include/caisson/plugin_wire.hpp \
         lib/libcaisson.a lib/cmake/caisson/caissonConfig.cmake lib/pkgconfig/caisson.pc bin/caisson bin/caisson-oci \
         bin/caisson-egress bin/caisson-plugin-worker share/caisson/profiles; do
  [ -e "$tmp/prefix/$f" ] || { echo "install: $f is missing"; exit 1; }
done
# The Python module, where Debian's Python looks beneath the prefix, importable from there.
pydir=$(/usr/bin/python3 -c "import sys; print('lib/python%d.%d/dist-packages' % sys.version_info[:2])")
if [ -n "$(find "$build/python" -name 'caisson*.so' 2>/dev/null)" ]; then
  PYTHONPATH="$tmp/prefix/$pydir" /usr/bin/python3 -c "import caisson; assert caisson.run(['/bin/true'])['exit_code'] == 0" ||
    { echo "install: the Python module is missing from $pydir or does not run"; exit 1; }
  CAISSON_EGRESS_HELPER="$tmp/prefix/bin/caisson-egress" PYTHONPATH="$tmp/prefix/$pydir" /usr/bin/python3 -c \
    "import caisson; assert caisson.run(['/bin/true'], allow_host=['example.com'])['exit_code'] == 0" ||
    { echo "install: the Python module does not start the installed egress proxy"; exit 1; }
fi
# The installed caisson finds its egress proxy beside itself.
"$tmp/prefix/bin/caisson" run --allow-host example.com -- /bin/true ||
  { echo "install: caisson run --allow-host does not start the installed egress proxy"; exit 1; }
cmake -S "$src/examples" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$tmp/cmake-build" > /dev/null
bash "$src/examples/restricted_echo_test.sh" "$tmp/cmake-build/restricted_echo"
# The plug-in examples (hosts with caisson::caisson, plug-ins with caisson::plugin), run by
# the installed worker.
export CAISSON_PLUGIN_WORKER="$tmp/prefix/bin/caisson-plugin-worker"
b="$tmp/cmake-build"
bash "$src/examples/plugins_test.sh" "$b/macro_doc" "$b/libmacro_eval_plugin.so" "$b/thumbnail" "$b/libpgm_plugin.so"
flags=$(PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig" pkg-config --cflags --libs caisson)
# shellcheck disable=SC2086
g++ -O1 "$src/examples/restricted_echo.cpp" $flags -o "$tmp/echo-pkgconfig"
bash "$src/examples/restricted_echo_test.sh" "$tmp/echo-pkgconfig"
cflags=$(PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig" pkg-config --cflags caisson)
# shellcheck disable=SC2086
g++ -O1 -shared -fPIC "$src/examples/pgm_plugin.cpp" $cflags -o "$tmp/pgm-pkgconfig.so"
# shellcheck disable=SC2086
g++ -O1 "$src/examples/thumbnail.cpp" $flags -o "$tmp/thumbnail-pkgconfig"
bash "$src/examples/plugins_test.sh" "$b/macro_doc" "$b/libmacro_eval_plugin.so" "$tmp/thumbnail-pkgconfig" "$tmp/pgm-pkgconfig.so"
echo "install: find_package and pkg-config builds of examples/ pass"
