# Sourced by the other scripts: installs the Debian packages that are missing.
# Works as root or through sudo; asks apt only when something is missing.

# Packages for building strata and its example with g++.
STRATA_BUILD_PACKAGES=(g++ cmake ninja-build libfmt-dev libdw-dev libboost-stacktrace1.81-dev)
# And for the tests (both compilers).
# python3 runs the doc_samples test (tests/doc_samples.py).
# gRPC, for <strata/grpc.hpp>'s tests and examples/fleet_grpc: the library, protoc
# with the gRPC plugin (stubs are generated at build time), pkg-config to find them.
STRATA_GRPC_PACKAGES=(libgrpc++-dev libprotobuf-dev protobuf-compiler-grpc pkgconf)
# The examples: the job runners, and the fleet over gRPC (JSON in its details).
STRATA_EXAMPLE_PACKAGES=("${STRATA_BUILD_PACKAGES[@]}" nlohmann-json3-dev "${STRATA_GRPC_PACKAGES[@]}")
# python3-grpcio: a client nobody here wrote calls the gRPC test server.
STRATA_TEST_PACKAGES=("${STRATA_BUILD_PACKAGES[@]}" clang catch2 libspdlog-dev nlohmann-json3-dev python3
                      "${STRATA_GRPC_PACKAGES[@]}" python3-grpcio)

strata_install_missing() {
    local missing=() pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "strata: missing packages (${missing[*]}), and neither root nor sudo to install them" >&2
            return 1
        fi
    fi
    echo "strata: installing ${missing[*]}" >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}
