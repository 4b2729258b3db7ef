# Run by `cmake --install` (etc/CMakeLists.txt): installs the example config as
# ETC/certinbox/certinbox.toml with its paths set for a system install, and the systemd unit
# naming the installed program and config. CERTINBOX_SOURCE_DIR and CERTINBOX_STAGING
# (a folder of the build for the files it writes first) are set by the step before it.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(etc "/etc")
else()
  set(etc "${CMAKE_INSTALL_PREFIX}/etc")
endif()
# One staging folder per destination: installs into several at once (the tests') do not share.
string(MD5 destination "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}")
set(staging "${CERTINBOX_STAGING}/${destination}")

# The example keeps state and inbox under var/ in the checkout (relative to its folder); a system
# install keeps them where the unit lets the daemon write (its ReadWritePaths=) and its
# tmpfiles.d makes them.
file(READ "${CERTINBOX_SOURCE_DIR}/etc/certinbox.toml" config)
string(REPLACE "../var/state" "/var/lib/certinbox" config "${config}")
string(REPLACE "../var/inbox" "/var/spool/certinbox/inbox" config "${config}")
if(config MATCHES "\\.\\./var")
  message(FATAL_ERROR "etc/certinbox.toml names a path under ../var that etc/install_config.cmake "
                      "does not map to a system folder: add it there (and to the unit's "
                      "ReadWritePaths= if the daemon writes to it)")
endif()
string(PREPEND config
  "# Installed from certinbox's etc/certinbox.toml with the paths of a system install: state in\n"
  "# /var/lib/certinbox and the inbox in /var/spool/certinbox/inbox, the folders the systemd unit\n"
  "# lets certinboxd write (docs/install.md). The notes below about var/ in the checkout do not\n"
  "# apply here.\n#\n")
file(WRITE "${staging}/certinbox.toml" "${config}")
file(INSTALL DESTINATION "${etc}/certinbox" TYPE FILE FILES "${staging}/certinbox.toml"
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

file(READ "${CERTINBOX_SOURCE_DIR}/etc/systemd/certinboxd.service" unit)
string(REPLACE "/usr/bin/certinboxd" "${CMAKE_INSTALL_PREFIX}/bin/certinboxd" unit "${unit}")
string(REPLACE "/etc/certinbox/" "${etc}/certinbox/" unit "${unit}")
file(WRITE "${staging}/certinboxd.service" "${unit}")
file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE
     FILES "${staging}/certinboxd.service")
