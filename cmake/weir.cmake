# Helpers that keep every folder's CMakeLists.txt a few lines long.

# weir_add_library(NAME SOURCES… [DEPS targets…])
# One small static library per lib/ folder, with the repository root on the include path
# so code includes "lib/cni/error.hpp" style paths.
function(weir_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# weir_add_plugin(NAME SOURCES… [DEPS targets…])
# A program of the weir executable (multicall/): a plugin or weir-agent, whose main.cpp defines
# `int <name>_main(int argc, char** argv)` (dashes as underscores) instead of main. An OBJECT
# library named NAME; multicall/ links it into weir and installs the name as a link to weir in
# the CNI plugin folder (WEIR_PLUGIN_DIR, relative to the prefix or absolute).
set(WEIR_PLUGIN_DIR "lib/cni" CACHE STRING "Install folder of the CNI plugins, relative to the prefix or absolute")
function(weir_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} OBJECT ${ARG_SOURCES})
  target_link_libraries(${name} PUBLIC weir_cni ${ARG_DEPS})
endfunction()

# weir_add_test(NAME SOURCES… [DEPS targets…])
# A GoogleTest executable, registered test by test with CTest. Its folder is its tier, and its
# label: tests/unit/ (no root; also run under ASan+UBSan) is `unit`, tests/privileged/ and
# tests/e2e/ (root, private network namespaces; real runtimes) are `privileged`.
# Every test sees WEIR_BIN_DIR (the built plugins and weirctl) and WEIR_SOURCE_DIR.
function(weir_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    WEIR_BIN_DIR="${PROJECT_BINARY_DIR}/bin"
    WEIR_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  get_filename_component(tier ${CMAKE_CURRENT_SOURCE_DIR} NAME)
  if(tier STREQUAL "unit")
    set(label unit)
  elseif(tier STREQUAL "privileged" OR tier STREQUAL "e2e")
    set(label privileged)
  else()
    message(FATAL_ERROR "weir_add_test(${name}): tests live in tests/unit, tests/privileged or tests/e2e")
  endif()
  gtest_discover_tests(${name}
    PROPERTIES LABELS ${label}
    DISCOVERY_TIMEOUT 30)
endfunction()

# What the front end of weir-bridge and weir-ipam runs on (plugins/front/sys.hpp is the seam),
# on x86_64 and aarch64: `own` (its own _start and system calls, no C library), `nolibc` (the
# kernel's tools/include/nolibc, found in WEIR_NOLIBC_DIR) or `musl` (static, Debian's
# musl-tools). All three are within noise of each other; `own` needs nothing installed
# (bench/bridge/README.md, "The front end's runtime"). Other architectures use glibc.
set(WEIR_FRONT_RUNTIME own CACHE STRING "Runtime of the weir-bridge/weir-ipam front end: own, nolibc or musl")
set_property(CACHE WEIR_FRONT_RUNTIME PROPERTY STRINGS own nolibc musl)
set(WEIR_NOLIBC_DIR "" CACHE PATH "tools/include/nolibc of a Linux source tree, for WEIR_FRONT_RUNTIME=nolibc")

# weir_add_front_end(NAME PLUGIN [LIBC])
# The plugin process of a plugin whose ADD and DEL weir-agent runs (plugins/front/front.cpp), for
# agent/proto/route.hpp's PLUGIN (kBridge, kIpam), on WEIR_FRONT_RUNTIME: static, no sanitizers
# (they need glibc). With LIBC (a test build of that variant, not installed), or on
# architectures other than x86_64 and aarch64, on glibc's syscall(2).
function(weir_add_front_end name plugin)
  cmake_parse_arguments(ARG "LIBC" "" "" ${ARGN})
  # The repository, also from a project of the front ends alone (scripts/cross-front.sh).
  cmake_path(GET CMAKE_CURRENT_FUNCTION_LIST_DIR PARENT_PATH root)
  set(proto ${root}/agent/proto)
  add_executable(${name} ${root}/plugins/front/front.cpp
    ${proto}/json.cpp ${proto}/route.cpp ${proto}/frame.cpp)
  target_include_directories(${name} PRIVATE ${root})
  target_compile_definitions(${name} PRIVATE WEIR_FRONT_PLUGIN=weir::agent::proto::${plugin})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
  if(NOT ARG_LIBC)
    install(TARGETS ${name} RUNTIME DESTINATION ${WEIR_PLUGIN_DIR})
  endif()
  set(runtime ${WEIR_FRONT_RUNTIME})
  if(ARG_LIBC OR NOT CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|aarch64|arm64)$")
    set(runtime glibc)
  elseif(NOT runtime MATCHES "^(own|nolibc|musl)$")
    message(FATAL_ERROR "WEIR_FRONT_RUNTIME=${runtime}: own, nolibc or musl")
  endif()
  if(runtime STREQUAL "glibc")
    target_compile_definitions(${name} PRIVATE WEIR_FRONT_LIBC)
    target_compile_options(${name} PRIVATE -fno-exceptions -fno-rtti)
    weir_link_executable(${name})
    return()
  endif()
  foreach(property COMPILE_OPTIONS LINK_OPTIONS)
    get_target_property(options ${name} ${property})
    if(options)
      list(FILTER options EXCLUDE REGEX "sanitize")
      set_target_properties(${name} PROPERTIES ${property} "${options}")
    endif()
  endforeach()
  target_compile_options(${name} PRIVATE -fno-exceptions -fno-rtti -fno-stack-protector
    -fno-asynchronous-unwind-tables)
  if(runtime STREQUAL "musl")
    # musl-gcc's specs put musl's headers and start files in place of glibc's; libstdc++'s
    # headers (<cstddef> only) come after them, and ask a glibc question musl cannot answer.
    string(REGEX REPLACE "^(amd64|AMD64)$" "x86_64" arch ${CMAKE_SYSTEM_PROCESSOR})
    string(REGEX REPLACE "^arm64$" "aarch64" arch ${arch})
    find_file(WEIR_MUSL_SPECS musl-gcc.specs PATHS /usr/lib/${arch}-linux-musl /usr/local/musl/lib
      NO_DEFAULT_PATH REQUIRED)
    set(cxx_headers ${CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES})
    list(FILTER cxx_headers INCLUDE REGEX "c\\+\\+")
    list(TRANSFORM cxx_headers PREPEND "-isystem")
    target_compile_definitions(${name} PRIVATE WEIR_FRONT_LIBC)
    target_compile_options(${name} PRIVATE -specs=${WEIR_MUSL_SPECS} ${cxx_headers}
      "-D__GLIBC_PREREQ(a,b)=0")
    target_link_options(${name} PRIVATE -specs=${WEIR_MUSL_SPECS} -static -nodefaultlibs)
    target_link_libraries(${name} PRIVATE c gcc)
    return()
  endif()
  if(runtime STREQUAL "nolibc")
    if(NOT EXISTS "${WEIR_NOLIBC_DIR}/nolibc.h")
      message(FATAL_ERROR "WEIR_FRONT_RUNTIME=nolibc: no nolibc.h in WEIR_NOLIBC_DIR (\"${WEIR_NOLIBC_DIR}\")")
    endif()
    target_compile_definitions(${name} PRIVATE WEIR_FRONT_NOLIBC)
    target_include_directories(${name} SYSTEM PRIVATE ${WEIR_NOLIBC_DIR})
  endif()
  # GCC turns zeroing and copying loops into memset and memcpy calls unless told not to (clang
  # does not, freestanding); front.cpp (or nolibc) defines the four such functions, plainly.
  target_compile_options(${name} PRIVATE -ffreestanding -fno-pie
    $<$<CXX_COMPILER_ID:GNU>:-fno-tree-loop-distribute-patterns>)
  target_link_options(${name} PRIVATE -nostdlib -static -no-pie)
endfunction()
