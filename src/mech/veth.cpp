#include "mech/veth.hpp"

#include "mech/companion.hpp"
#include "mech/leases.hpp"

#include <caisson/error.hpp>

#include <unistd.h>

#include <sstream>

namespace caisson::mech {
namespace {

std::string first_line(std::string s) {
    while (!s.empty() && s.back() == '\n') s.pop_back();
    auto nl = s.find('\n');
    return nl == std::string::npos ? s : s.substr(0, nl);
}

}  // namespace

std::string net_helper() { return companion_path("caisson-net", "CAISSON_NET_HELPER", CAISSON_INSTALLED_NET_HELPER); }

VethLink::VethLink(const Network& net, pid_t sandbox_pid) : helper_(net_helper()), bridge_(net.bridge) {
    if (::access(helper_.c_str(), X_OK) < 0) throw Error(ErrorKind::Setup, "--net veth: find the network helper", helper_, errno);
    // It runs as root (veth is root's): only a file that root alone can change.
    helper_ = require_root_owned(helper_, "--net veth: the network helper");
    std::vector<std::string> argv{helper_, "up", "--bridge", net.bridge, "--subnet", net.subnet,
                                  "--pid", std::to_string(sandbox_pid), "--owner", std::to_string(::getpid())};
    published_ = !net.publish.empty();
    for (const auto& p : net.publish) {
        argv.emplace_back("--publish");
        argv.push_back(std::string(p.udp ? "udp:" : "tcp:") + std::to_string(p.host_port) + ":" + std::to_string(p.sandbox_port));
    }
    CompanionResult r = run_companion(argv);
    if (r.status != 0) {
        std::string why = first_line(r.err);
        throw Error(r.status == 2 ? ErrorKind::Usage : ErrorKind::Setup, "--net veth", why.empty() ? "caisson-net exited " + std::to_string(r.status) : why);
    }
    std::istringstream in(r.out);
    std::string link;
    if (!(in >> address_ >> gateway_ >> link)) throw Error(ErrorKind::Setup, "--net veth: unexpected helper output", first_line(r.out));
}

VethLink::~VethLink() {
    std::string addr = address_.substr(0, address_.find('/'));
    try {
        // The common case needs no helper: the veth pair goes with the sandbox's namespace,
        // so releasing the lease is all, unless ports were published or this was the last.
        if (!published_) {
            LeaseDir dir(bridge_);
            bool others = false;
            for (const auto& l : dir.list())
                others |= l.address != addr && LeaseDir::alive(l);
            if (others) {
                dir.remove(addr);
                return;
            }
        }
        (void)run_companion({helper_, "down", "--bridge", bridge_, "--address", addr});
    } catch (const Error&) {
        // The lease stays; the next `up` or `caisson gc` finds its supervisor gone.
    }
}

}  // namespace caisson::mech
