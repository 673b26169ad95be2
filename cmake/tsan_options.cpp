// ThreadSanitizer's defaults for every process of a WEIR_TSAN build (CMakeLists.txt): the tests,
// and the plugins and weir-agent they start, which get a fresh environment (tests/support/
// process.cpp), so TSAN_OPTIONS would not reach them. A race stops the process (exit code 66)
// and its report goes to WEIR_TSAN_LOG.<pid>, where scripts/test.sh looks: an agent's stderr is
// its log file in a temporary data dir. TSAN_OPTIONS still overrides any of these.
extern "C" const char* __tsan_default_options() {
  return "halt_on_error=1:second_deadlock_stack=1:log_path=" WEIR_TSAN_LOG;
}
