// runc's subcommands past create and start, over the state directory and the container's
// cgroup. Each throws caisson::Error with runc's words where clients match them.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace caisson::oci {

nlohmann::json container_state(const std::string& root, const std::string& id);
void kill_container(const std::string& root, const std::string& id, int signal, bool all);
void delete_container(const std::string& root, const std::string& id, bool force);
std::string list_containers(const std::string& root, const std::string& format, bool quiet);
std::string ps_container(const std::string& root, const std::string& id, const std::string& format);
void pause_container(const std::string& root, const std::string& id, bool pause);
void update_container(const std::string& root, const std::string& id, const nlohmann::json& resources);
nlohmann::json stats_container(const std::string& root, const std::string& id);
// Prints stats events every `interval_s` until the container stops (`events`).
void events_container(const std::string& root, const std::string& id, bool once, double interval_s);
nlohmann::json features();

// "KILL", "SIGKILL", "9". Throws usage.
int parse_signal(const std::string& text);

// `exec`: a new process in the running container's namespaces and cgroup.
struct ExecOptions {
    std::string root, id, process_file, console_socket, pid_file, cwd, user;
    std::vector<std::string> args, env, caps;
    bool tty = false, detach = false, no_new_privs = false;
    unsigned preserve_fds = 0;
};
// Returns the exit code to exit with (the process's, or 0 when detached).
int exec_in_container(const ExecOptions& o);

// `run`: create, start, wait, delete. Returns the container's exit code.
// `keep`: the stopped container stays until `delete` (runc's --keep).
int run_container(const std::string& root, const std::string& id, const std::string& bundle, const std::string& pid_file,
                  const std::string& console_socket, bool detach, bool no_pivot, unsigned preserve_fds, bool keep = false);

}  // namespace caisson::oci
