// caisson-egress: the egress proxy of `--allow-host` and of an ordinary user's
// `--allow-connect`, started by the supervisor (run/egress_proxy.cpp), never by hand. A
// program of its own so that it holds nothing of its caller's memory or environment.
#include "run/egress_relay.hpp"

int main() { return caisson::run::egress_proxy_main(); }
