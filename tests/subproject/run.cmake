# Configures tests/subproject (add_subdirectory of this source tree) with doctest, Google
# Benchmark and CLI11 made unfindable, checks that only the library and the parent's program
# are generated (no tests, benchmarks, examples or command), then builds the parent's program
# and runs it. The build is unoptimised, without debug info (-O0 -g0) and a unity build
# (32 sources per compiler run: a third less CPU time): it proves that the sources configure,
# compile and link as a subproject in about a minute on 2 cores; speed is not tested.
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR} -G Ninja
                        -DNG_SOURCE=${NG_SOURCE} -DNG_CUDA=OFF
                        -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_FLAGS=-O0\ -g0
                        -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=32
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
foreach(unwanted normgrad_tests bench_core micrograd_style "bin/normgrad:")
  string(FIND "${ninja}" "${unwanted}" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "a subproject build must not generate '${unwanted}'")
  endif()
endforeach()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR} --target consumer
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc)
  message(FATAL_ERROR "building the parent's program against normgrad failed:\n${out}")
endif()
execute_process(COMMAND ${WORK_DIR}/consumer RESULT_VARIABLE rc OUTPUT_VARIABLE out
                ERROR_VARIABLE out)
if(rc)
  message(FATAL_ERROR "the parent's program failed (${rc}):\n${out}")
endif()
message(STATUS "normgrad as a subproject: library + the parent's program only; ${out}")
