// The whole of strata, on top of what baseline.cpp includes.
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

#include <strata/strata.hpp>

int main() { return 0; }
