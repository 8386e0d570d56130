# gRPC for <strata/grpc.hpp>'s tests, example and benchmark (Debian:
# libgrpc++-dev, protobuf-compiler-grpc, found through pkg-config). Sets
# STRATA_HAVE_GRPC and defines strata_grpc_library(NAME PROTO): a library of
# the C++ code protoc and the gRPC plugin generate from PROTO at build time.
set(STRATA_HAVE_GRPC OFF)
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(STRATA_GRPC QUIET IMPORTED_TARGET grpc++>=1.51 protobuf)
endif()
find_program(STRATA_PROTOC protoc)
find_program(STRATA_GRPC_CPP_PLUGIN grpc_cpp_plugin)
if(STRATA_GRPC_FOUND AND STRATA_PROTOC AND STRATA_GRPC_CPP_PLUGIN AND NOT STRATA_NO_EXCEPTIONS)
  set(STRATA_HAVE_GRPC ON)
else()
  message(STATUS "strata: gRPC not found (Debian: libgrpc++-dev protobuf-compiler-grpc pkg-config): "
                 "grpc.hpp's tests, the fleet_grpc example and its benchmark are skipped")
endif()

function(strata_grpc_library name proto)
  get_filename_component(proto_abs ${proto} ABSOLUTE)
  get_filename_component(proto_dir ${proto_abs} DIRECTORY)
  get_filename_component(base ${proto_abs} NAME_WE)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${name}_gen)
  set(srcs ${out}/${base}.pb.cc ${out}/${base}.grpc.pb.cc)
  add_custom_command(
    OUTPUT ${srcs} ${out}/${base}.pb.h ${out}/${base}.grpc.pb.h
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out}
    COMMAND ${STRATA_PROTOC} -I ${proto_dir} --cpp_out=${out} --grpc_out=${out}
            --plugin=protoc-gen-grpc=${STRATA_GRPC_CPP_PLUGIN} ${proto_abs}
    DEPENDS ${proto_abs}
    COMMENT "protoc: ${base}.proto")
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${out})
  target_link_libraries(${name} PUBLIC PkgConfig::STRATA_GRPC)
endfunction()
