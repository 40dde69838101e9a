// Idmapped bind mounts (mounts[].uidMappings, gidMappings, options idmap and ridmap): the
// runtime makes a detached copy of each source in the host's namespaces, with a user
// namespace that carries the mapping set on it, before the container's init exists; the init
// attaches the copy in its rootfs. The mapping needs rights over the source's filesystem,
// which an init inside a new user namespace no longer has.
#pragma once

#include "kernel/fd.hpp"
#include "oci/spec.hpp"

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace caisson::oci {

// "inside outside count" lines, as /proc/PID/uid_map takes them.
std::string map_lines(const std::vector<IdMapping>& maps);


// A user namespace holding these maps, as a descriptor; no process stays in it.
kernel::Fd make_userns(const std::vector<IdMapping>& uid_maps, const std::vector<IdMapping>& gid_maps);

// mounts[i] -> the detached, idmapped tree to attach there. Throws caisson::Error naming
// the mount.
std::map<size_t, kernel::Fd> prepare_idmapped_mounts(const Spec& spec, const std::string& bundle);

}  // namespace caisson::oci
