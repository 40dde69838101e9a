// The kernel layer's name for the one descriptor owner (include/caisson/fd.hpp).
#pragma once

#include <caisson/fd.hpp>

namespace caisson::kernel {

using Fd = caisson::Fd;

}  // namespace caisson::kernel
