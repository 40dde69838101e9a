#include "oci/idmapped_mounts.hpp"

#include "mech/idmap.hpp"

#include "kernel/syscalls.hpp"
#include "mech/mount_util.hpp"
#include "oci/rootfs.hpp"

#include <caisson/error.hpp>

#include <fcntl.h>
#include <linux/mount.h>

#include <algorithm>
#include <cerrno>

namespace caisson::oci {

std::string map_lines(const std::vector<IdMapping>& maps) {
    std::string out;
    for (const auto& m : maps)
        out += std::to_string(m.container_id) + " " + std::to_string(m.host_id) + " " + std::to_string(m.size) + "\n";
    return out;
}


std::map<size_t, kernel::Fd> prepare_idmapped_mounts(const Spec& spec, const std::string& bundle) {
    std::map<size_t, kernel::Fd> out;
    for (size_t i = 0; i < spec.mounts.size(); ++i) {
        const Mount& m = spec.mounts[i];
        std::string field = "mounts[" + std::to_string(i) + "]";
        bool idmap = std::find(m.options.begin(), m.options.end(), "idmap") != m.options.end();
        bool ridmap = std::find(m.options.begin(), m.options.end(), "ridmap") != m.options.end();
        bool mapped = !m.uid_mappings.empty() || !m.gid_mappings.empty();
        if (!idmap && !ridmap && !mapped) continue;
        MountOptions o = parse_mount_options(m.options, field);
        // The spec's rule: a mapping comes with a named option, so that an older runtime
        // refuses it rather than mount without it.
        if (mapped && !idmap && !ridmap)
            throw Error::usage("config.json: " + field + ": uidMappings and gidMappings need the option idmap or ridmap");
        if (!o.bind && m.type != "bind")
            throw Error::usage("config.json: " + field + ": idmapped mounts are bind mounts in caisson-oci (type " + m.type + ")");
        // Without a mapping of its own, the mount takes the container's.
        const auto& uids = m.uid_mappings.empty() ? spec.linux_.uid_mappings : m.uid_mappings;
        const auto& gids = m.gid_mappings.empty() ? spec.linux_.gid_mappings : m.gid_mappings;
        if (uids.empty() || gids.empty())
            throw Error::usage("config.json: " + field + ": idmap needs uidMappings and gidMappings, on the mount or in linux");
        kernel::Fd userns = mech::make_mapped_userns(map_lines(uids), map_lines(gids));
        std::string src = !m.source.empty() && m.source[0] == '/' ? m.source : bundle + "/" + m.source;
        kernel::Fd tree(kernel::open_tree(AT_FDCWD, src.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (o.recursive ? AT_RECURSIVE : 0)));
        if (!tree) throw Error(ErrorKind::Setup, "open bind source", src, errno);
        // The other attributes too, here: the init in a user namespace has no rights over
        // a mount the host's namespace made.
        if ((o.attr_set || o.attr_clear) && mech::set_attrs(tree.get(), o.attr_set, o.attr_clear, o.recursive) < 0)
            throw Error(ErrorKind::Setup, "set bind attributes", m.destination, errno);
        mount_attr attr{};
        attr.attr_set = MOUNT_ATTR_IDMAP;
        attr.userns_fd = static_cast<uint64_t>(userns.get());
        // idmap maps the top mount; ridmap every mount of an rbind.
        if (kernel::mount_setattr(tree.get(), "", AT_EMPTY_PATH | (ridmap ? AT_RECURSIVE : 0), &attr) < 0)
            throw Error(ErrorKind::Setup, "idmap mount (the filesystem may not support idmapped mounts)", src, errno);
        out.emplace(i, std::move(tree));
    }
    return out;
}

}  // namespace caisson::oci
