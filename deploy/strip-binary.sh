#!/bin/sh
# The berth binary as the container image ships it: without debug information (the release
# profile's line tables are most of its size), its symbol table kept (panic backtraces still name
# functions), and a .gnu_debuglink to a separate file holding the debug information, for gdb or
# addr2line when a crash needs line numbers.
#   deploy/strip-binary.sh IN OUT DEBUG_FILE
# Used by Dockerfile's builder stage and by deploy/offline-e2e.sh on a prebuilt binary, so both
# ship the same thing. Needs objcopy (binutils; the rust: images have it).
set -eu
if [ $# -ne 3 ]; then
  echo "usage: $0 IN OUT DEBUG_FILE" >&2
  exit 2
fi
in=$1 out=$2 debug=$3
mkdir -p "$(dirname "$out")" "$(dirname "$debug")"
objcopy --only-keep-debug "$in" "$debug"
chmod 0644 "$debug"
# --add-gnu-debuglink records the debug file's name and CRC; gdb looks for it next to the binary
# and under /usr/lib/debug/<dir of the binary>/.
objcopy --strip-debug --add-gnu-debuglink="$debug" "$in" "$out.tmp"
chmod 0755 "$out.tmp"
mv -f "$out.tmp" "$out"
