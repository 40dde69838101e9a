// The user namespace's uid/gid maps: decided from the policy and the caller (pure), then
// written by the supervisor into /proc/PID (the child has no rights in the parent namespace).
#pragma once

#include "kernel/fd.hpp"

#include <caisson/policy.hpp>

#include <sys/types.h>

#include <string>
#include <string_view>

namespace caisson::mech {

inline constexpr uint32_t kNobody = 65534;

struct IdMaps {
    uint32_t inside_uid = 0, host_uid = 0;
    uint32_t inside_gid = 0, host_gid = 0;
    std::string uid_line() const;
    std::string gid_line() const;
};

// Whether `id` is mapped in this process's user namespace (`map_file`: /proc/self/uid_map or
// gid_map).
bool id_mapped_here(const char* map_file, uint32_t id);

// Throws Error::usage when the caller may not have the maps it asks for. Root of a namespace
// where nobody (65534) is not mapped is taken as the ordinary user it is on the host.
IdMaps decide_id_maps(const Identity& id, uid_t caller_uid, gid_t caller_gid);

// Writes setgroups (deny when asked), then uid_map and gid_map of `pid`. Throws
// caisson::Error. The kernel lets only a writer with CAP_SETGID above (root) leave setgroups
// allowed; an ordinary user's maps must deny it, and the sandbox then keeps that user's
// supplementary groups (dropping one could grant what a negative ACL refuses).
void write_id_maps(pid_t pid, const IdMaps& maps, bool deny_setgroups);

// Whether this process's own user namespace allows setgroups (root inside `unshare -r`
// does not): a namespace made below one that denies it denies it too.
bool own_setgroups_allowed();

// The same for maps of any number of lines ("INSIDE HOST COUNT\n" each), as an OCI config
// gives them; setgroups is denied only when asked (a runtime that is root may allow it).
void write_id_maps(pid_t pid, const std::string& uid_map, const std::string& gid_map, bool deny_setgroups);

// Writes `text` to /proc/PID/NAME (uid_map, timens_offsets, oom_score_adj...), whole or not
// at all. Throws caisson::Error naming the file and errno.
void write_proc_file(pid_t pid, const char* name, const std::string& text);

// A user namespace with these maps ("INSIDE HOST COUNT\n" lines) and no process left in it,
// for an idmapped mount (mount_setattr takes the namespace, never a process): a child is
// born in it, mapped, its namespace opened, then killed and reaped. Throws caisson::Error.
kernel::Fd make_mapped_userns(const std::string& uid_map, const std::string& gid_map);

// Whether a map of "INSIDE HOST COUNT" lines sends some id to `host` (pure).
bool map_reaches(std::string_view map, uint32_t host);

// The uid map of the user namespace at `userns_path` as this process's namespace sees it,
// which composes the maps of the namespaces between: a child joins it and its
// /proc/PID/uid_map is read, then it is killed and reaped. Throws caisson::Error.
std::string uid_map_of(const std::string& userns_path);

// /proc/PID/uid_map: the map of that process's user namespace as this one's sees it.
std::string uid_map_of_process(pid_t pid);

// Whether the namespace at `ns_path` belongs to a user namespace strictly below the one at
// `userns_path` (empty: this process's own), walking up with NS_GET_USERNS and
// NS_GET_PARENT. The uid that made such a user namespace holds every capability over what
// it owns, whatever its own sets in the namespace above. Throws caisson::Error naming the path.
bool owned_below(const std::string& ns_path, const std::string& userns_path);

}  // namespace caisson::mech
