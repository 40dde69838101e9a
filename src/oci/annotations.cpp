#include "oci/annotations.hpp"

#include "filter/bpf_eval.hpp"
#include "filter/egress_program.hpp"
#include "filter/seccomp_compiler.hpp"
#include "policy/supervision.hpp"

#include <caisson/error.hpp>
#include <caisson/settings.hpp>

#include <linux/seccomp.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>

namespace caisson::oci {
namespace {

// The parts of the model an annotation may set; the rest of `policy_to_json`'s sections must
// stay as a blank policy has them.
constexpr const char* kTheirs[] = {"landlock", "seccomp", "egress", "bpf_lsm", "profiles"};

// A file the node's admin wrote, named by the pod's author: a NAME, never a path, found as
// DIR/SUBDIR/NAME.toml in $CAISSON_PROFILE_PATH's directories, then in /etc/caisson/profiles.
std::string admin_file(const std::string& annotation, const std::string& name, const std::string& subdir) {
    bool plain = !name.empty() && name[0] != '.';
    for (char c : name) plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
    if (!plain) throw Error::usage("annotation " + annotation + ": \"" + name + "\" is not a name (letters, digits, - _ .)");
    const char* env = std::getenv("CAISSON_PROFILE_PATH");
    std::string dirs = env ? env : "";
    dirs += (dirs.empty() ? "" : ":") + std::string("/etc/caisson/profiles");
    for (size_t start = 0; start <= dirs.size();) {
        size_t end = dirs.find(':', start);
        if (end == std::string::npos) end = dirs.size();
        std::string dir = dirs.substr(start, end - start);
        if (!dir.empty() && dir[0] == '/') {
            std::string file = dir + subdir + "/" + name + ".toml";
            if (::access(file.c_str(), R_OK) == 0) return file;
        }
        start = end + 1;
    }
    throw Error::usage("annotation " + annotation + ": no \"" + name + "\" in $CAISSON_PROFILE_PATH or /etc/caisson/profiles" +
                       (subdir.empty() ? "" : " (under " + subdir.substr(1) + "/)"));
}

std::vector<std::string> split_list(const std::string& value) {
    std::vector<std::string> out;
    for (size_t start = 0; start <= value.size();) {
        size_t end = value.find(',', start);
        if (end == std::string::npos) end = value.size();
        if (end > start) out.push_back(value.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

void apply_key(Policy& p, const std::string& annotation, const std::string& key, std::string value) {
    // Only the protections caisson-oci applies; a key naming host files or changing the
    // container's shape is config.json's business, or the admin's profile's.
    // A host path named by the pod: never (its inode would be the host's, looked up by root).
    if (key == "lsm-deny-file")
        throw Error::usage("annotation " + annotation + ": names host files; caisson-oci takes lsm-exec-max, "
                           "lsm-connect-port and lsm-best-effort");
    const schema::Setting* s = schema::find(key);
    if (!s) throw Error::usage("annotation " + annotation + ": caisson has no setting \"" + key + "\"");
    if (key.rfind("landlock-", 0) != 0 && key.rfind("lsm-", 0) != 0 && key != "seccomp" && key != "allow-connect" &&
        key != "deny-private")
        throw Error::usage("annotation " + annotation + ": not a protection caisson-oci takes from an annotation "
                           "(landlock-*, seccomp, allow-connect, deny-private, lsm-*; or org.caisson.profile)");
    // A seccomp policy: caisson's built-in `default`, or one the admin put under seccomp/.
    if (key == "seccomp" && value != "default") value = admin_file(annotation, value, "/seccomp");
    if (s->arity == 0) {
        if (value != "true" && value != "false") throw Error::usage("annotation " + annotation + ": true or false, not \"" + value + "\"");
        s->apply(p, std::vector<std::string>{value});
        return;
    }
    if (s->arity != 1) throw Error::usage("annotation " + annotation + ": takes " + std::to_string(s->arity) + " values; not as an annotation");
    std::vector<std::string> values = s->repeatable ? split_list(value) : std::vector<std::string>{value};
    for (const auto& v : values) s->apply(p, std::vector<std::string>{v});
}

}  // namespace

bool is_pod_sandbox(const std::map<std::string, std::string>& annotations, const std::string& container_id) {
    // Each runtime writes its own type key after it copies the pod's annotations in, so
    // another runtime's key could come from the pod: every type key present must say
    // sandbox, and the runtime's own sandbox id must be this container's own (the pause
    // container's id is the sandbox's; a pod cannot know its containers' ids beforehand).
    bool typed = false;
    for (const char* key : {"io.kubernetes.cri.container-type", "io.kubernetes.cri-o.ContainerType"}) {
        auto it = annotations.find(key);
        if (it == annotations.end()) continue;
        if (it->second != "sandbox") return false;
        typed = true;
    }
    if (!typed || container_id.empty()) return false;
    for (const char* key : {"io.kubernetes.cri.sandbox-id", "io.kubernetes.cri-o.SandboxID"}) {
        auto it = annotations.find(key);
        if (it != annotations.end() && it->second == container_id) return true;
    }
    return false;
}

CaissonProtections caisson_protections(const std::map<std::string, std::string>& annotations, int landlock_abi,
                                       const std::string& container_id) {
    CaissonProtections out;
    Policy blank;
    blank.seccomp = seccomp::Policy{};  // no filter unless an annotation asks
    Policy p = blank;
    bool asked = false;
    const std::string prefix = kAnnotationPrefix;
    // The profile first, then the keys on top of it, as flags go on top of profiles.
    const auto profile = annotations.find(prefix + "profile");
    if (profile != annotations.end()) {
        apply_profile(p, admin_file(profile->first, profile->second, ""));
        asked = true;
    }
    for (const auto& [name, value] : annotations) {
        if (name.rfind(prefix, 0) != 0 || name == prefix + "profile") continue;
        // The admin's profile is a floor: a key of the pod's could widen it (another path,
        // best effort, another seccomp policy), so the two do not mix.
        if (profile != annotations.end())
            throw Error::usage("annotation " + name + ": not with org.caisson.profile, which the admin's profile decides alone");
        apply_key(p, name, name.substr(prefix.size()), value);
        asked = true;
    }
    if (!asked) return out;

    // Fail closed: what caisson-oci would not apply is refused, never dropped.
    nlohmann::json before = nlohmann::json::parse(policy_to_json(blank)), after = nlohmann::json::parse(policy_to_json(p));
    for (const char* k : kTheirs) before.erase(k), after.erase(k);
    std::string changed;
    for (const auto& [section, value] : after.items())
        if (!before.contains(section) || before[section] != value) changed += (changed.empty() ? "" : ", ") + section;
    if (!changed.empty())
        throw Error::usage("annotations org.caisson.*: they set " + changed +
                           "; caisson-oci takes only Landlock, seccomp and egress from them (config.json decides the rest)");
    if (!p.audit_path.empty() || !p.learn_path.empty())
        throw Error::usage("annotations org.caisson.*: audit and learn need caisson's supervisor beside the container (caisson run has it)");
    // A profile's deny-file list names host files too.
    if (!p.bpf_lsm.deny_files.empty())
        throw Error::usage("annotations org.caisson.*: lsm-deny-file names host files; caisson-oci takes lsm-exec-max, "
                           "lsm-connect-port and lsm-best-effort");
    const seccomp::Policy& sp = p.seccomp;
    // [open] needs an opener inside the container with the program's own rights, which only
    // caisson run starts; [[supervise]] needs only the monitor (run/container_monitor).
    if (sp.open.enabled())
        throw Error::usage("annotation org.caisson.seccomp: policy '" + sp.name +
                           "' has [open] rules, which need caisson's opener beside the program (caisson run has it)");

    Landlock landlock = p.landlock;
    // The egress policy's TCP ports become Landlock connect rules too, as in caisson run.
    if (auto ports = egress::landlock_connect_ports(p.egress); ports && !landlock.restrict_connect && landlock_abi >= 4) {
        landlock.restrict_connect = true;
        landlock.connect_ports = *ports;
    }
    // A pod's annotations reach its sandbox (pause) container too (containerd and CRI-O pass
    // them to both). Landlock's paths name files in the pod's images, which the admin's
    // pause image lacks; and egress rules would refuse it the capabilities the runtime gives
    // it (NET_RAW: process_setup.cpp) for nothing, as pause connects nowhere and no CRI call
    // execs into it. The sandbox takes the rest (seccomp, the BPF LSM).
    const bool pod_sandbox = is_pod_sandbox(annotations, container_id);
    if (landlock.enabled() && !pod_sandbox)
        out.landlock = landlock_rights::plan(landlock, landlock_abi);
    if (sp.mode == seccomp::Mode::Filter) {
        // Supervised calls (and those their conditions watch) go to the monitor first; the
        // policy's own rules, compiled as themselves, still decide what it lets through.
        out.seccomp = filter::compile(sp.supervised.empty() ? sp : supervision::with_supervision(sp)).program;
        out.seccomp_name = sp.name;
        if (!sp.supervised.empty()) {
            out.seccomp_truth = filter::compile(sp).program;
            out.supervised = sp.supervised;
            supervision::refuse_bypasses(sp, out.seccomp_truth);
        }
        // The policy's own `notify` rules record for caisson run's report; here nobody would
        // read them, and recording reads the container's memory from outside it.
        bool notifies = sp.default_action.kind == seccomp::ActionKind::Notify;
        for (const auto& r : sp.rules) notifies = notifies || r.action.kind == seccomp::ActionKind::Notify;
        if (notifies)
            throw Error::usage("annotation org.caisson.seccomp: policy '" + sp.name +
                               "' has notify rules, which record for caisson run's report; caisson-oci has none");
        auto allowed = [&](const char* call) { return filter::action_by_number(out.seccomp, call) == SECCOMP_RET_ALLOW; };
        if (!allowed("execve") || !(allowed("exit_group") || allowed("exit")))
            throw Error::usage("annotation org.caisson.seccomp: policy '" + sp.name +
                               "' does not allow execve and an exit by number alone, which starting the process needs");
        // The process hands the filter's listener to the monitor after the filter is in.
        if (!out.supervised.empty() && (!allowed("sendmsg") || !allowed("close")))
            throw Error::usage("annotation org.caisson.seccomp: policy '" + sp.name +
                               "' has [[supervise]] rules but does not allow sendmsg and close by number alone, "
                               "with which the process hands its listener to caisson's monitor");
    }
    if (!pod_sandbox) out.egress = p.egress;
    out.bpf_lsm = p.bpf_lsm;
    return out;
}

}  // namespace caisson::oci
