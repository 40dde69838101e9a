// The launcher's name for the one failure record (kernel/failure.hpp): the code between
// clone and exec in run/ and mech/ reports through the same fixed-size struct.
#pragma once

#include "kernel/failure.hpp"

namespace caisson::run {

using Failure = kernel::Failure;

}  // namespace caisson::run
