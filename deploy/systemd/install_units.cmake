# Install-time step of deploy/systemd/CMakeLists.txt: copies each unit into
# $DESTDIR<prefix>/<unit dir>, with ExecStart's /usr/local/bin/ replaced by
# the bin directory of the prefix being installed to. Expects
# FEDLEARN_UNIT_SOURCE_DIR, FEDLEARN_UNIT_BINDIR and FEDLEARN_UNIT_DIR (set by
# an install(CODE) just before) and CMake's CMAKE_INSTALL_PREFIX.
foreach(var FEDLEARN_UNIT_SOURCE_DIR FEDLEARN_UNIT_BINDIR FEDLEARN_UNIT_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_units.cmake: ${var} is not set")
  endif()
endforeach()

foreach(dir_var FEDLEARN_UNIT_BINDIR FEDLEARN_UNIT_DIR)
  if(IS_ABSOLUTE "${${dir_var}}")
    set(${dir_var}_FULL "${${dir_var}}")
  else()
    set(${dir_var}_FULL "${CMAKE_INSTALL_PREFIX}/${${dir_var}}")
  endif()
endforeach()

foreach(unit fedlearn-coordinator.service fedlearn-client.service)
  file(READ "${FEDLEARN_UNIT_SOURCE_DIR}/${unit}" content)
  string(REPLACE "/usr/local/bin/" "${FEDLEARN_UNIT_BINDIR_FULL}/" content
    "${content}")
  set(dest "$ENV{DESTDIR}${FEDLEARN_UNIT_DIR_FULL}/${unit}")
  message(STATUS "Installing: ${dest}")
  file(WRITE "${dest}" "${content}")
  file(CHMOD "${dest}" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  # As file(INSTALL) does: the manifest lists paths without DESTDIR.
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${FEDLEARN_UNIT_DIR_FULL}/${unit}")
endforeach()
