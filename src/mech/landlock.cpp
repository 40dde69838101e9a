#include "mech/landlock.hpp"

#include "kernel/landlock.hpp"
#include "kernel/raw_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace caisson::mech {

namespace ll = kernel::landlock;

int landlock_abi() {
    long v = ll::create_ruleset(nullptr, 0, ll::kCreateRulesetVersion);
    return v < 0 ? 0 : static_cast<int>(v);
}

bool apply_landlock(const landlock_rights::Plan& plan, kernel::Failure& f) {
    ll::RulesetAttr attr{plan.handled_fs, plan.handled_net, plan.scoped};
    long ruleset = ll::create_ruleset(&attr, sizeof(attr), 0);
    if (ruleset < 0) return f.set("landlock create ruleset", "handled rights");
    int rs = static_cast<int>(ruleset);
    auto fail = [&](const char* step, const char* object) {
        int err = errno;
        ::close(rs);
        return f.set(step, object, err);
    };
    for (const auto& rule : plan.paths) {
        int fd = ::open(rule.path.c_str(), O_PATH | O_CLOEXEC);
        if (fd < 0) return fail("landlock: open path", rule.path.c_str());
        struct stat st{};
        if (::fstat(fd, &st) < 0) {
            ::close(fd);
            return fail("landlock: stat path", rule.path.c_str());
        }
        // Directory rights on a file are refused by the kernel (EINVAL).
        uint64_t access = S_ISDIR(st.st_mode) ? rule.access : rule.access & ll::kFileRights;
        ll::PathBeneathAttr pb{access, fd};
        long rc = access ? ll::add_rule(rs, ll::kRulePathBeneath, &pb) : 0;
        int err = errno;
        ::close(fd);
        if (rc < 0) {
            errno = err;
            return fail("landlock: add path rule", rule.path.c_str());
        }
    }
    for (const auto& rule : plan.ports) {
        ll::NetPortAttr np{rule.access, rule.port};
        if (ll::add_rule(rs, ll::kRuleNetPort, &np) < 0) {
            char what[32];
            return fail("landlock: add port rule",
                        kernel::RawBuf(what, sizeof(what)).str("TCP port ").num(static_cast<int64_t>(rule.port)).c_str());
        }
    }
    if (ll::restrict_self(rs) < 0) return fail("landlock restrict self", "program");
    ::close(rs);
    return true;
}

}  // namespace caisson::mech
