// caisson-net: the helper that builds and removes veth networking for `caisson run --net
// veth`. It is a program of its own because libmnl and libnftables have no static archives
// in Debian and the supervisor is a static executable: the network's libraries are loaded
// only by the runs that ask for that network.
//   caisson-net up --bridge B --subnet S --pid SANDBOX_PID --owner SUPERVISOR_PID [--publish P]...
//     prints "ADDRESS/PREFIX GATEWAY HOST_LINK"
//   caisson-net down --bridge B --address A
//   caisson-net gc [--bridge B]
#include "net/bridge.hpp"
#include "policy/net_address.hpp"

#include <caisson/error.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>

int main(int argc, char** argv) {
    CLI::App app{"caisson-net: veth networking for caisson run --net veth"};
    app.require_subcommand(1);
    caisson::net::UpRequest req;
    std::vector<std::string> publish;
    std::string address;
    CLI::App* up = app.add_subcommand("up", "give the sandbox of PID an address on the bridge");
    up->add_option("--bridge", req.bridge)->required();
    up->add_option("--subnet", req.subnet)->required();
    up->add_option("--pid", req.sandbox_pid)->required();
    up->add_option("--owner", req.owner)->required();
    up->add_option("--publish", publish);
    CLI::App* down = app.add_subcommand("down", "release a sandbox's address");
    down->add_option("--bridge", req.bridge)->required();
    down->add_option("--address", address)->required();
    CLI::App* gc = app.add_subcommand("gc", "remove what killed supervisors left behind");
    gc->add_option("--bridge", req.bridge);
    CLI11_PARSE(app, argc, argv);
    try {
        // The name goes into nftables scripts and a state path: the helper checks it itself.
        const std::string& b = req.bridge;
        if (!b.empty() && (b.size() > 15 || b.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != std::string::npos))
            throw caisson::Error::usage("--bridge: 1 to 15 letters, digits, '-' or '_'", b);
        if (up->parsed()) {
            for (const auto& p : publish) {
                auto m = caisson::net_address::parse_publish(p);
                req.publish.push_back({m.udp, m.host_port, m.sandbox_port});
            }
            auto r = caisson::net::up(req);
            std::printf("%s %s %s\n", r.address.c_str(), r.gateway.c_str(), r.host_link.c_str());
        } else if (down->parsed()) {
            caisson::net::down(req.bridge, address);
        } else {
            auto bridges = req.bridge.empty() ? caisson::net::known_bridges() : std::vector<std::string>{req.bridge};
            for (const auto& b : bridges)
                for (const auto& what : caisson::net::collect(b)) std::printf("removed %s\n", what.c_str());
        }
        return 0;
    } catch (const caisson::Error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return e.kind() == caisson::ErrorKind::Usage ? 2 : 1;
    }
}
