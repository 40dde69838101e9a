// CVE-2019-5736 for the OCI face: create, run and exec leave a process of this binary in the
// container's pid namespace (the init until start, the exec helper's child until exec).
// Those processes are non-dumpable, which keeps /proc/PID/exe closed to the container unless
// it can hold CAP_SYS_PTRACE in the host's user namespace; then the runtime re-executes
// itself from a read-only bind of its binary first (about 1.7 ms here), so that
// /proc/PID/exe leads to a mount where writes fail.
#include "mech/self_exe.hpp"
#include "oci/spec.hpp"
#include "oci/state.hpp"
#include "policy/values.hpp"

#include <caisson/error.hpp>
#include <caisson/oci.hpp>

#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace caisson::oci {
namespace {

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw Error(ErrorKind::Usage, "open", path, errno);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

bool bundle_may_ptrace_host(const std::string& bundle) {
    return may_ptrace_host_processes(parse_spec(read_text((bundle.empty() ? "." : bundle) + "/config.json")));
}

bool exec_may_ptrace_host(const ExecOptions& o) {
    StateDir dir(o.root, o.id);
    Spec spec = parse_spec_json(dir.load().config);
    if (!o.process_file.empty()) spec.process = parse_process(parse_json(read_text(o.process_file), o.process_file));
    if (spec.process && spec.process->capabilities)
        spec.process->capabilities->bounding |= capability_bits(o.caps, "exec --cap");
    return may_ptrace_host_processes(spec);
}

void protect_runtime_binary(char** argv, const std::function<bool()>& exposed) {
    bool needed = false;
    try {
        needed = exposed();
    } catch (const std::exception&) {
        return;  // the command itself reports a config that does not parse
    }
    if (!needed || mech::self_exe_is_safe()) return;
    mech::reexec_from_read_only_bind(argv, environ);
    throw Error(ErrorKind::Setup, "re-execute from a read-only bind of the runtime (CVE-2019-5736)", "/proc/self/exe", errno);
}

long long parse_size(const std::string& text, const std::string& field) {
    if (text == "-1") return -1;
    return static_cast<long long>(values::parse_size(text, field));
}

}  // namespace caisson::oci
