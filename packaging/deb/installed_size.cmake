# cpack's post-build script (cmake/package.cmake): sets the .deb's Installed-Size to what its
# files take on disk. cpack 3.25 counts every symlink as the file it points to, and weir's
# names are eight symlinks to one executable.
foreach(deb IN LISTS CPACK_PACKAGE_FILES)
  set(tree "${deb}.tree")
  file(REMOVE_RECURSE "${tree}")
  execute_process(COMMAND dpkg-deb -R "${deb}" "${tree}" COMMAND_ERROR_IS_FATAL ANY)
  execute_process(COMMAND du -sk --exclude=DEBIAN "${tree}" OUTPUT_VARIABLE du
                  COMMAND_ERROR_IS_FATAL ANY)
  string(REGEX MATCH "^[0-9]+" kib "${du}")
  file(READ "${tree}/DEBIAN/control" control)
  string(REGEX REPLACE "\nInstalled-Size: [0-9]+" "\nInstalled-Size: ${kib}" control "${control}")
  file(WRITE "${tree}/DEBIAN/control" "${control}")
  execute_process(COMMAND dpkg-deb --root-owner-group -b "${tree}" "${deb}"
                  OUTPUT_QUIET COMMAND_ERROR_IS_FATAL ANY)
  file(REMOVE_RECURSE "${tree}")
endforeach()
