# Configures tests/subproject (add_subdirectory of this source tree) with doctest, Google
# Benchmark and CLI11 made unfindable, and checks that only the library and the parent's
# program are generated: no tests, benchmarks, examples or command. (The library build
# itself is the same as the main build's; building it a second time here would double CI.)
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR} -G Ninja
                        -DNG_SOURCE=${NG_SOURCE} -DNG_CUDA=OFF
                        -DCMAKE_DISABLE_FIND_PACKAGE_doctest=ON
                        -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON
                        -DCMAKE_DISABLE_FIND_PACKAGE_CLI11=ON
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc)
  message(FATAL_ERROR "configuring normgrad as a subproject failed:\n${out}")
endif()
file(READ ${WORK_DIR}/build.ninja ninja)
foreach(want "build consumer:" "libnormgrad.so")
  string(FIND "${ninja}" "${want}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "subproject build lacks '${want}'")
  endif()
endforeach()
foreach(unwanted normgrad_tests bench_core micrograd_style "tools/normgrad/normgrad:")
  string(FIND "${ninja}" "${unwanted}" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "a subproject build must not generate '${unwanted}'")
  endif()
endforeach()
message(STATUS "normgrad configures as a subproject: library + the parent's program only")
