// The egress proxy's process (caisson-egress): what it serves is told in
// run/egress_proxy.hpp, what it is given in run/egress_wire.hpp.
#pragma once

namespace caisson::run {

// The whole of caisson-egress's main: confines itself, says so on egress_wire::kReadyFd
// (or says why not), and serves until the supervisor ends. Returns only on an error.
int egress_proxy_main();

}  // namespace caisson::run
