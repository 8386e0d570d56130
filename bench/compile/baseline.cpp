// What a program using strata would include anyway: fmt and the standard headers
// strata's public API needs. bench/run.sh compares compiling this file with
// compiling strata.cpp.
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <source_location>
#include <stop_token>
#include <string>
#include <system_error>
#include <thread>

int main() { return 0; }
