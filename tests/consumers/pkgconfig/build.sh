#!/usr/bin/env bash
# Builds ../consumer.cpp with only what strata.pc gives:
#   build.sh <prefix strata was installed to> <output>
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export PKG_CONFIG_PATH="$1/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
flags=$(pkg-config --cflags --libs strata)
# Not -std=c++20 from strata.pc: the standard is the consumer's choice (C++20 at least).
"${CXX:-g++}" -std=c++20 -o "$2" "$here/../consumer.cpp" $flags
