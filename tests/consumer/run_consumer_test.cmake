# CTest driver (cmake -P) for the CMake package test:
#   1. cmake --install <flowsense build> --prefix <work>/prefix
#   2. configure and build tests/consumer against that prefix only
#   3. run the consumer and the README's quickstart example
# Variables: FLOWSENSE_BUILD_DIR, CONSUMER_SOURCE_DIR, QUICKSTART_SOURCE, WORK_DIR, CONFIG.
foreach(var FLOWSENSE_BUILD_DIR CONSUMER_SOURCE_DIR QUICKSTART_SOURCE WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_consumer_test.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT CONFIG)
  set(CONFIG Release)
endif()

set(prefix "${WORK_DIR}/prefix")
set(build "${WORK_DIR}/build")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(step name)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT code EQUAL 0)
    message(FATAL_ERROR "consumer test, step '${name}' failed (${code}):\n${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "[${name}] ok\n${out}")
endfunction()

step(install ${CMAKE_COMMAND} --install "${FLOWSENSE_BUILD_DIR}" --prefix "${prefix}" --config ${CONFIG})
# Only the temporary prefix: no package registry, no build tree.
step(configure ${CMAKE_COMMAND} -S "${CONSUMER_SOURCE_DIR}" -B "${build}"
     -DCMAKE_BUILD_TYPE=${CONFIG} "-DCMAKE_PREFIX_PATH=${prefix}"
     -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
     "-DFLOWSENSE_EXPECTED_PREFIX=${prefix}"
     "-DFLOWSENSE_QUICKSTART_SOURCE=${QUICKSTART_SOURCE}")
step(build ${CMAKE_COMMAND} --build "${build}" --config ${CONFIG})
find_program(consumer NAMES consumer PATHS "${build}" "${build}/${CONFIG}" NO_DEFAULT_PATH)
find_program(quickstart NAMES quickstart PATHS "${build}" "${build}/${CONFIG}" NO_DEFAULT_PATH)
step(run-consumer "${consumer}")
step(run-quickstart "${quickstart}")
