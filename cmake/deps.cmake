# The C libraries weir links, as weir::<name> targets, static or shared by WEIR_STATIC.
#
# Why static: a runtime runs a CNI plugin as a fresh process for every ADD, DEL and CHECK, so
# start-up is part of every call. With shared libsqlite3, libnl and libstdc++ the dynamic loader
# spends ~0.7 ms per exec here resolving symbols; a fully static weir-ipam starts in less than
# half the time (bench/ipam). Debian's -dev packages ship the archives; libmnl-dev does not, and
# weir builds its own (lib/firewall/mnl.cpp), so that every weir executable is static.

# weir_dependency(NAME PKG)
# weir::NAME from pkg_check_modules(PKG …)'s results: the archives of PKG's static link line
# when WEIR_STATIC is on (a library without an archive stays shared and marks every executable
# linking it as needing the dynamic C library), else PkgConfig::PKG.
function(weir_dependency name pkg)
  add_library(weir::${name} INTERFACE IMPORTED GLOBAL)
  if(NOT WEIR_STATIC)
    target_link_libraries(weir::${name} INTERFACE PkgConfig::${pkg})
    return()
  endif()
  set(libs "")
  set(shared OFF)
  foreach(lib IN LISTS ${pkg}_STATIC_LIBRARIES)
    if(lib MATCHES "^(c|m|dl|pthread|rt)$")   # part of the C library's own static link
      list(APPEND libs ${lib})
      continue()
    endif()
    find_library(WEIR_ARCHIVE_${lib} NAMES lib${lib}.a HINTS ${${pkg}_STATIC_LIBRARY_DIRS})
    if(WEIR_ARCHIVE_${lib})
      list(APPEND libs ${WEIR_ARCHIVE_${lib}})
    elseif(lib STREQUAL "mnl")
      # Debian ships no libmnl.a: lib/firewall/mnl.cpp implements what weir and libnftnl call.
      list(APPEND libs weir_mnl)
    else()
      message(STATUS "weir: no lib${lib}.a, linking ${lib} shared")
      list(APPEND libs ${lib})
      set(shared ON)
    endif()
  endforeach()
  target_link_libraries(weir::${name} INTERFACE ${libs})
  target_include_directories(weir::${name} INTERFACE ${${pkg}_STATIC_INCLUDE_DIRS})
  target_compile_options(weir::${name} INTERFACE ${${pkg}_STATIC_CFLAGS_OTHER})
  if(shared)
    set_target_properties(weir::${name} PROPERTIES INTERFACE_WEIR_SHARED_DEPS ON)
  endif()
  set_property(TARGET weir::${name} APPEND PROPERTY COMPATIBLE_INTERFACE_BOOL WEIR_SHARED_DEPS)
endfunction()

# weir_link_executable(TARGET)
# How a weir executable links with WEIR_STATIC: fully static (-static) unless something it links
# exists only as a shared library — then libstdc++ and libgcc static, the C library shared.
# The mark travels through PUBLIC/INTERFACE links only: a weir::<lib> without an archive must
# not be linked PRIVATE by a static library (lib/netlink links libnl PRIVATE, which is fine
# while Debian ships libnl's archives).
function(weir_link_executable target)
  if(NOT WEIR_STATIC)
    return()
  endif()
  set(shared "$<BOOL:$<TARGET_PROPERTY:WEIR_SHARED_DEPS>>")
  target_link_options(${target} PRIVATE
    "$<IF:${shared},-static-libstdc++,-static>" "$<${shared}:-static-libgcc>")
endfunction()
