// The sandbox's side: PID 1 (caisson's minimal init) builds the sandbox step by step,
// forks the program into it, then reaps, forwards signals and reports the program's end.
#pragma once

#include "run/plan.hpp"

namespace caisson::run {

[[noreturn]] void container_init(LaunchPlan& plan);

}  // namespace caisson::run
