#include "policy/landlock_rights.hpp"

#include "kernel/landlock.hpp"

#include <caisson/error.hpp>

namespace caisson::landlock_rights {
namespace {

namespace ll = kernel::landlock;

constexpr uint64_t kRead = ll::kReadFile | ll::kReadDir;
// Everything that changes the tree beneath a path; execution is separate (--landlock-rx).
constexpr uint64_t kWrite = ll::kWriteFile | ll::kRemoveDir | ll::kRemoveFile | ll::kMakeChar | ll::kMakeDir |
                            ll::kMakeReg | ll::kMakeSock | ll::kMakeFifo | ll::kMakeBlock | ll::kMakeSym | ll::kRefer |
                            ll::kTruncate | ll::kIoctlDev;

struct Right {
    uint64_t bit;
    int abi;
    const char* name;
};

constexpr Right kFsRights[] = {
    {ll::kExecute, 1, "fs.execute"},       {ll::kWriteFile, 1, "fs.write_file"}, {ll::kReadFile, 1, "fs.read_file"},
    {ll::kReadDir, 1, "fs.read_dir"},      {ll::kRemoveDir, 1, "fs.remove_dir"}, {ll::kRemoveFile, 1, "fs.remove_file"},
    {ll::kMakeChar, 1, "fs.make_char"},    {ll::kMakeDir, 1, "fs.make_dir"},     {ll::kMakeReg, 1, "fs.make_reg"},
    {ll::kMakeSock, 1, "fs.make_sock"},    {ll::kMakeFifo, 1, "fs.make_fifo"},   {ll::kMakeBlock, 1, "fs.make_block"},
    {ll::kMakeSym, 1, "fs.make_sym"},      {ll::kRefer, 2, "fs.refer"},          {ll::kTruncate, 3, "fs.truncate"},
    {ll::kIoctlDev, 5, "fs.ioctl_dev"},
};
constexpr Right kNetRights[] = {{ll::kBindTcp, 4, "net.bind_tcp"}, {ll::kConnectTcp, 4, "net.connect_tcp"}};
constexpr Right kScopes[] = {{ll::kScopeAbstractUnix, 6, "scope.abstract_unix_socket"}, {ll::kScopeSignal, 6, "scope.signal"}};

// Keeps the rights the ABI has; the others go to `missing`.
template <size_t N>
uint64_t available(uint64_t wanted, const Right (&table)[N], int abi, std::vector<std::string>& have,
                   std::vector<std::string>& missing) {
    uint64_t out = 0;
    for (const auto& r : table) {
        if (!(wanted & r.bit)) continue;
        if (abi >= r.abi) {
            out |= r.bit;
            have.emplace_back(r.name);
        } else {
            missing.push_back(std::string(r.name) + " (needs Landlock ABI " + std::to_string(r.abi) + ")");
        }
    }
    return out;
}

}  // namespace

Plan plan(const Landlock& l, int abi) {
    Plan p;
    if (!l.enabled()) return p;
    std::vector<std::string> missing;
    if (abi < 1) {
        if (!l.best_effort)
            throw Error::usage("Landlock: this kernel has no Landlock (or it is disabled); drop the --landlock-* options "
                               "or add --landlock-best-effort");
        p.not_enforced.emplace_back("landlock (not available)");
        return p;
    }
    uint64_t fs = l.paths.empty() ? 0 : (ll::kFsAbi1 | ll::kRefer | ll::kTruncate | ll::kIoctlDev);
    uint64_t net = (l.restrict_bind ? ll::kBindTcp : 0) | (l.restrict_connect ? ll::kConnectTcp : 0);
    uint64_t scoped = (l.scope_abstract_unix ? ll::kScopeAbstractUnix : 0) | (l.scope_signal ? ll::kScopeSignal : 0);
    p.handled_fs = available(fs, kFsRights, abi, p.enforced, missing);
    p.handled_net = available(net, kNetRights, abi, p.enforced, missing);
    p.scoped = available(scoped, kScopes, abi, p.enforced, missing);
    if (!missing.empty()) {
        std::string list;
        for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
        if (!l.best_effort)
            throw Error::usage("Landlock ABI " + std::to_string(abi) + " of this kernel cannot enforce: " + list +
                               " (add --landlock-best-effort to run without them)");
        p.not_enforced = std::move(missing);
    }
    for (const auto& path : l.paths) {
        uint64_t access = path.access == LandlockAccess::Read       ? kRead
                          : path.access == LandlockAccess::ReadExec ? kRead | ll::kExecute
                          : path.access == LandlockAccess::ListDir  ? ll::kReadDir
                                                                    : kRead | kWrite;
        p.paths.push_back({path.path, access & p.handled_fs});
    }
    if (p.handled_net & ll::kBindTcp)
        for (uint16_t port : l.bind_ports) p.ports.push_back({port, ll::kBindTcp});
    if (p.handled_net & ll::kConnectTcp)
        for (uint16_t port : l.connect_ports) p.ports.push_back({port, ll::kConnectTcp});
    return p;
}

}  // namespace caisson::landlock_rights
