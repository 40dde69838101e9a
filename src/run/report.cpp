#include <caisson/sandbox.hpp>

#include <nlohmann/json.hpp>

#include <csignal>
#include <cstring>

namespace caisson {

std::string outcome_to_json(const Outcome& o) {
    nlohmann::ordered_json j;
    j["exited"] = o.exited;
    j["exit_code"] = o.exited ? nlohmann::ordered_json(o.exit_code) : nlohmann::ordered_json(nullptr);
    j["signal"] = o.exited ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(o.term_signal);
    if (!o.exited) j["signal_name"] = sigabbrev_np(o.term_signal) ? sigabbrev_np(o.term_signal) : "?";
    j["status"] = o.shell_status();
    j["time_limit_fired"] = o.time_limit_fired;
    j["wall_s"] = o.wall_s;
    j["user_cpu_s"] = o.user_cpu_s;
    j["system_cpu_s"] = o.system_cpu_s;
    j["peak_rss_kb"] = o.peak_rss_kb;
    j["protections"] = o.protections;
    if (!o.not_enforced.empty()) j["not_enforced"] = o.not_enforced;
    j["oom"] = o.oom;
    if (o.cgroup) {
        auto opt = [](const std::optional<uint64_t>& v) { return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr); };
        const auto& c = *o.cgroup;
        j["cgroup"] = {{"paths", c.paths},
                       {"limits", c.limits},
                       {"memory_peak_bytes", opt(c.memory_peak)},
                       {"oom_kills", opt(c.oom_kills)},
                       {"cpu_user_us", opt(c.cpu_user_us)},
                       {"cpu_system_us", opt(c.cpu_system_us)},
                       {"cpu_throttled_us", opt(c.cpu_throttled_us)},
                       {"pids_peak", opt(c.pids_peak)}};
    }
    if (o.refusals) j["refusals"] = *o.refusals;
    if (o.egress_names)
        j["egress_names"] = {{"allowed", o.egress_names->allowed}, {"refused", o.egress_names->refused},
                             {"refusals", o.egress_names->refusals}, {"reached", o.egress_names->reached},
                             {"proxy_confinement", o.egress_names->proxy_confinement}};
    if (o.egress)
        j["egress"] = {{"hooks", o.egress->hooks}, {"denied", o.egress->denied}, {"denials", o.egress->denials}};
    if (o.bpf_lsm) {
        const auto& l = *o.bpf_lsm;
        j["bpf_lsm"] = l.applied ? nlohmann::ordered_json{{"applied", true}, {"execs", l.execs}, {"denied_execs", l.denied_execs},
                                                          {"denied_opens", l.denied_opens}, {"denied_connects", l.denied_connects}}
                                 : nlohmann::ordered_json{{"applied", false}, {"why", l.why}};
    }
    auto event = [](const SyscallEvent& e) {
        nlohmann::ordered_json v;
        v["syscall"] = e.syscall;
        v["nr"] = e.nr;
        v["abi"] = e.abi;
        v["args"] = std::vector<uint64_t>(std::begin(e.args), std::end(e.args));
        v["pid"] = e.pid;
        v["action"] = e.action;
        return v;
    };
    if (o.seccomp_violation) j["seccomp_violation"] = event(*o.seccomp_violation);
    if (!o.seccomp_events.empty()) {
        auto& list = j["seccomp_events"] = nlohmann::ordered_json::array();
        for (const auto& e : o.seccomp_events) list.push_back(event(e));
    }
    nlohmann::ordered_json setup = nlohmann::ordered_json::object();
    for (const auto& s : o.setup) setup[s.step] = s.us;
    j["setup_us"] = setup;
    // Paths and names in it come from the sandbox, which need not write UTF-8: replaced, not
    // thrown on (a report the program could suppress).
    return j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace caisson
