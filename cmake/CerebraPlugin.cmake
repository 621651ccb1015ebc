# cerebra_add_plugin(NAME SOURCES... [LINK libs...] [OUTPUT_DIRECTORY dir] [NO_INSTALL])
#
# Builds one Cerebra plugin: a shared library with hidden visibility (only the
# entry point declared by CEREBRA_PLUGIN is exported), linked against the
# framework. Inside the Cerebra tree it lands in the build's plugin folder and
# installs beside the other plugins.
function(cerebra_add_plugin name)
  cmake_parse_arguments(ARG "NO_INSTALL" "OUTPUT_DIRECTORY" "SOURCES;LINK" ${ARGN})
  set(sources ${ARG_SOURCES} ${ARG_UNPARSED_ARGUMENTS})
  add_library(${name} MODULE ${sources})
  if(TARGET Cerebra::cerebra)
    target_link_libraries(${name} PRIVATE Cerebra::cerebra)
  else()
    target_link_libraries(${name} PRIVATE cerebra)
  endif()
  if(ARG_LINK)
    target_link_libraries(${name} PRIVATE ${ARG_LINK})
  endif()
  set_target_properties(${name} PROPERTIES
    PREFIX "lib"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    INSTALL_RPATH "$ORIGIN/../..")
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  elseif(DEFINED CEREBRA_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${CEREBRA_PLUGIN_OUTPUT_DIR}")
  endif()
  if(DEFINED CEREBRA_PLUGIN_INSTALL_DIR AND NOT ARG_NO_INSTALL)
    install(TARGETS ${name} LIBRARY DESTINATION "${CEREBRA_PLUGIN_INSTALL_DIR}")
    set_property(GLOBAL APPEND PROPERTY CEREBRA_PLUGIN_TARGETS ${name})
  endif()
endfunction()
