// Boost.LEAF on top of what baseline.cpp includes, for comparison.
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

#include <boost/leaf.hpp>

int main() { return 0; }
