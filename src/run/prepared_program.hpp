// A sandbox made ahead of its program (Sandbox::run_prepared, a warm pool): its init waits,
// ready, just before it would spawn the program, and the supervisor hands the program over
// then: its candidates along PATH, argv and environment as one packet, its standard streams
// with it (SCM_RIGHTS). Both sides are here, so that the packet's layout is written once.
#pragma once

#include "run/failure.hpp"
#include "run/plan.hpp"

#include <caisson/sandbox.hpp>

#include <cstddef>

namespace caisson::run {

// The packet's limits: a command line and environment past them are refused, never cut.
inline constexpr size_t kMaxProgramText = 128 * 1024;
inline constexpr size_t kMaxProgramStrings = 4096;

// The supervisor's side: HOME as --home makes it, the candidates along the environment's
// PATH, then one Program message with the three streams and the packet. Throws
// caisson::Error: usage for a program past the limits, setup when the channel fails.
void hand_over_program(int channel, const LaunchPlan& plan, const PreparedProgram& program);

// Init's side, allocation-free: the packet into `text`, pointers into `strings`, then
// plan.held_* point there and the streams are on 0, 1 and 2. False with `f` on failure.
bool take_program(int channel, LaunchPlan& plan, char* text, size_t text_size, char** strings, size_t n_strings, Failure& f);

}  // namespace caisson::run
