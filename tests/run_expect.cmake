# Runs CLI with ARGS (a list) and requires exit status EXPECT and PATTERN (a
# regular expression) in its combined stdout and stderr. For CLI tests whose
# exit status matters (PASS_REGULAR_EXPRESSION alone ignores it).
execute_process(COMMAND ${CLI} ${ARGS} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT status EQUAL EXPECT)
  message(FATAL_ERROR "expected exit status ${EXPECT}, got ${status}")
endif()
if(NOT "${out}${err}" MATCHES "${PATTERN}")
  message(FATAL_ERROR "expected the output to match: ${PATTERN}")
endif()
