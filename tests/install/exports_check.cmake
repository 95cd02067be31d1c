# The libraries a user links define the public API and nothing else: every
# defined global symbol of the shared library (dynamic table) and of the
# static archive begins with tickless_. An internal name (tl_*) left global
# could collide with one of the application's.
#   cmake -DNM=... -DSHARED=... -DSTATIC=... -P exports_check.cmake
set(bad "")
cmake_minimum_required(VERSION 3.20)
foreach(lib SHARED STATIC)
  if(lib MATCHES "^SHARED$")
    set(args -D --defined-only ${${lib}})
  else()
    set(args -g --defined-only ${${lib}})
  endif()
  execute_process(COMMAND ${NM} ${args} OUTPUT_VARIABLE out
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} ${args} failed (${rc})")
  endif()
  string(REPLACE "\n" ";" lines "${out}")
  set(public 0)
  foreach(line IN LISTS lines)
    # "ADDRESS TYPE NAME"; file headers and blank lines have no TYPE.
    if(line MATCHES "^[0-9a-fA-F]+ [A-Za-z] ([^ ]+)$")
      set(name ${CMAKE_MATCH_1})
      if(name MATCHES "^tickless_")
        math(EXPR public "${public} + 1")
      else()
        list(APPEND bad "${lib}: ${name}")
      endif()
    endif()
  endforeach()
  message(STATUS "${lib} ${${lib}}: ${public} tickless_* symbols")
  if(public LESS 30) # the header declares more than 30 functions
    message(FATAL_ERROR "${lib}: only ${public} public symbols: not read")
  endif()
endforeach()
if(bad)
  list(JOIN bad "\n  " text)
  message(FATAL_ERROR "symbols outside the public API:\n  ${text}")
endif()
