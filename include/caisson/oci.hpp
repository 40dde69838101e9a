// The OCI face: an OCI runtime with runc's verbs over a state directory, for `caisson-oci`
// (and any program that wants to drive containers the way containerd's shim does). Each
// call throws caisson::Error, with runc's words where clients match them.
#pragma once

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace caisson::oci {

inline constexpr const char* kSpecVersion = "1.2.0";          // the runtime-spec this runtime declares
inline constexpr const char* kDefaultRoot = "/run/caisson-oci";  // the state directory's default

struct CreateOptions {
    std::string root, id, bundle, pid_file, console_socket;
    bool no_pivot = false;
    bool no_new_keyring = false;
    unsigned preserve_fds = 0;
    // systemd's socket activation: the caller's LISTEN_FDS descriptors (3 .. 3+N-1, before
    // the preserved ones) pass in, and the process gets LISTEN_FDS=N and LISTEN_PID=1.
    unsigned listen_fds = 0;
};

// `create`: returns the init's pid (a child of this process), waiting at the start barrier.
// On any failure nothing is left: no state directory, cgroup, mount or process.
pid_t create_container(const CreateOptions& o);
// `start`: lets the created container's init exec its process; runs poststart hooks.
void start_container(const std::string& root, const std::string& id);
// `run`: create, start, and (unless detached) wait; returns the exit status runc would.
int run_container(const std::string& root, const std::string& id, const std::string& bundle, const std::string& pid_file,
                  const std::string& console_socket, bool detach, bool no_pivot, unsigned preserve_fds, bool keep = false,
                  bool no_new_keyring = false);

struct ExecOptions {
    std::string root, id, process_file, console_socket, pid_file, cwd, user;
    std::string apparmor;  // --apparmor: the exec'd process's profile (else the container's)
    std::vector<std::string> args, env, caps;
    bool tty = false, detach = false, no_new_privs = false;
    unsigned preserve_fds = 0;
};
int exec_in_container(const ExecOptions& o);

nlohmann::json container_state(const std::string& root, const std::string& id);
void kill_container(const std::string& root, const std::string& id, int signal, bool all);
void delete_container(const std::string& root, const std::string& id, bool force);
std::string list_containers(const std::string& root, const std::string& format, bool quiet);
std::string ps_container(const std::string& root, const std::string& id, const std::string& format);
void pause_container(const std::string& root, const std::string& id, bool pause);
// `resources`: linux.resources' JSON (the fields to change).
void update_container(const std::string& root, const std::string& id, const nlohmann::json& resources);
nlohmann::json stats_container(const std::string& root, const std::string& id);
void events_container(const std::string& root, const std::string& id, bool once, double interval_s);
nlohmann::json features();
// `spec`: the default config.json, rootless with the caller's ids.
nlohmann::json default_spec(bool rootless, uint32_t uid = 0, uint32_t gid = 0);

// A signal by name ("KILL", "SIGTERM") or number. Throws a usage error otherwise.
int parse_signal(const std::string& text);
// LISTEN_FDS of this process's environment when LISTEN_PID names this process, else 0.
unsigned activation_fds();
// JSON text, with the origin named in the error.
nlohmann::json parse_json(const std::string& text, const std::string& origin);
// A size as runc's flags take it ("256m", "1G", bytes), or -1 for no limit.
long long parse_size(const std::string& text, const std::string& field);
// The time as runc's logs write it.
std::string rfc3339_now();

}  // namespace caisson::oci
