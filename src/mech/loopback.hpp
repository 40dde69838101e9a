// In a new network namespace, only `lo` exists, and it is down until someone raises it.
#pragma once

#include "kernel/failure.hpp"

namespace caisson::mech {

bool bring_up_loopback(kernel::Failure& f);

}  // namespace caisson::mech
