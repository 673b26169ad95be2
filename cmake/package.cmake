# The weir Debian package: `cpack -G DEB` in a build folder (scripts/package.sh builds one on a
# fresh Debian 12). Laid out as `cmake --install` does under /usr: the plugins, weir-agent and
# the weir executable they link to in /usr/lib/cni (where Debian's podman, containerd and ctr
# look), weirctl in /usr/bin, weir-agent.service in /lib/systemd/system, conf/ as examples in
# /usr/share/doc/weir/examples. Stripped; Depends from dpkg-shlibdeps (libc6, libmnl0).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME weir)
set(CPACK_PACKAGE_VENDOR weir)
set(CPACK_PACKAGE_CONTACT "weir developers <weir@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "CNI plugins with Docker's network drivers: bridge, host, macvlan, none")
set(CPACK_PACKAGE_DESCRIPTION
    "weir is a set of CNI plugins for podman, containerd, CRI-O and Kubernetes: a bridge network
with NAT, published ports and names by DNS (weir-bridge), the host's network (weir-host),
macvlan (weir-macvlan), loopback only (weir-none), an IPAM plugin with one SQLite store
(weir-ipam), weir-agent (the embedded DNS) and weirctl, a command line for CNI networks.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# The unit goes to /lib/systemd/system (multicall/install.cmake): DESTDIR staging, not a prefix.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "podman | containerd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# prerm stops the agents running from the package's weir.
if(IS_ABSOLUTE "${WEIR_PLUGIN_DIR}")
  set(WEIR_PACKAGE_WEIR "${WEIR_PLUGIN_DIR}/weir")
else()
  set(WEIR_PACKAGE_WEIR "${CPACK_PACKAGING_INSTALL_PREFIX}/${WEIR_PLUGIN_DIR}/weir")
endif()
configure_file(${PROJECT_SOURCE_DIR}/packaging/deb/prerm ${PROJECT_BINARY_DIR}/deb/prerm @ONLY)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/deb/postinst
    ${PROJECT_BINARY_DIR}/deb/prerm
    ${PROJECT_SOURCE_DIR}/packaging/deb/postrm)
set(CPACK_POST_BUILD_SCRIPTS ${PROJECT_SOURCE_DIR}/packaging/deb/installed_size.cmake)
include(CPack)
