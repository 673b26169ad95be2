# Run by `cmake --install` and cpack after weir is installed (multicall/CMakeLists.txt), with
# WEIR_PLUGIN_DIR, WEIR_PLUGIN_PROGRAMS, WEIR_BIN_DIR, WEIR_UNIT_SOURCE and WEIR_UNIT_BUILT set. Paths are taken
# here, at install time, so that `--prefix` and DESTDIR move everything, the unit's ExecStart too.

# The installed path of DIR (relative to the prefix, or absolute), and where it is written.
function(weir_installed dir out_path out_staged)
  if(NOT IS_ABSOLUTE "${dir}")
    set(dir "${CMAKE_INSTALL_PREFIX}/${dir}")
  endif()
  set(${out_path} "${dir}" PARENT_SCOPE)
  set(${out_staged} "$ENV{DESTDIR}${dir}" PARENT_SCOPE)
endfunction()

# NEW as a relative symlink to TARGET. Symlinks, not hard links: cpack stores hard links as
# copies (eight times the size), and one layout for the package and a plain install is simpler.
# The programs find each other through /proc/self/exe (agent/client/call.hpp: sibling_binary), which
# names weir itself: its folder holds every program's link. Their names come from argv[0].
function(weir_link target new)
  message(STATUS "Installing: ${new} -> weir")
  get_filename_component(dir "${new}" DIRECTORY)
  file(MAKE_DIRECTORY "${dir}")
  file(REMOVE "${new}")
  file(RELATIVE_PATH relative "${dir}" "${target}")
  file(CREATE_LINK "${relative}" "${new}" SYMBOLIC)
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${new}")
  set(CMAKE_INSTALL_MANIFEST_FILES "${CMAKE_INSTALL_MANIFEST_FILES}" PARENT_SCOPE)
endfunction()

weir_installed("${WEIR_PLUGIN_DIR}" plugin_dir plugin_staged)
weir_installed("${WEIR_BIN_DIR}" bin_dir bin_staged)
foreach(name IN LISTS WEIR_PLUGIN_PROGRAMS)
  weir_link("${plugin_staged}/weir" "${plugin_staged}/${name}")
endforeach()
weir_link("${plugin_staged}/weir" "${bin_staged}/weirctl")

# weir-agent's unit, running it from where it is installed: systemd's folder for packages
# (/lib/systemd/system, as Debian 12's systemd.pc says) under /usr, else <prefix>/lib/systemd/system
# (/usr/local/lib/systemd/system is on systemd's search path too).
# file(INSTALL) adds DESTDIR itself.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(unit_dir "/lib/systemd/system")
else()
  set(unit_dir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
file(READ "${WEIR_UNIT_SOURCE}" unit)
string(REGEX REPLACE "\nExecStart=[^ \n]*/weir-agent" "\nExecStart=${plugin_dir}/weir-agent" unit
       "${unit}")
string(FIND "${unit}" "ExecStart=${plugin_dir}/weir-agent " found)
if(found EQUAL -1)
  message(FATAL_ERROR "${WEIR_UNIT_SOURCE}: no ExecStart=…/weir-agent line to point at ${plugin_dir}")
endif()
file(WRITE "${WEIR_UNIT_BUILT}" "${unit}")
file(INSTALL DESTINATION "${unit_dir}" TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ
     WORLD_READ FILES "${WEIR_UNIT_BUILT}")
