# Runs the front-end fuzzer for a bounded number of inputs (ctest frontend-fuzz).
file(GLOB examples ${EXAMPLES}/*.attn)
file(MAKE_DIRECTORY ${CORPUS})
foreach(e ${examples})
  file(COPY ${e} DESTINATION ${CORPUS})
endforeach()
execute_process(
  COMMAND ${FUZZER} -runs=20000 -max_len=2048 -dict=${DICT} -timeout=10
          -rss_limit_mb=2048 ${CORPUS}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "attn-frontend-fuzzer failed (exit ${rc})")
endif()
