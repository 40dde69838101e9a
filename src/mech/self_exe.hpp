// CVE-2019-5736: a process inside a container that can open /proc/PID/exe of a runtime
// process in its pid namespace (the waiting init, an exec helper) reaches the runtime's
// binary on the host, and can rewrite it once that process is gone. The runtime runs itself
// from a detached, read-only bind of its own binary instead: /proc/PID/exe then leads to a
// mount on which every write fails with EROFS, and which exists only while the runtime runs.
#pragma once

namespace caisson::mech {

// True when this process's executable can no longer be written through /proc/self/exe:
// it runs from a read-only mount, or its user could not write it anyway.
bool self_exe_is_safe();

// Re-executes this program, same arguments and environment, from a read-only detached bind
// of its own binary; returns only on failure (errno set), naming nothing: the caller says.
void reexec_from_read_only_bind(char** argv, char** envp);

}  // namespace caisson::mech
