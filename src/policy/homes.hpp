// Which home directories the default root hides. With the host's root, every home a program
// could read (other users', /root, the caller's own, with its ssh and gpg keys, cloud and
// registry credentials, shell histories) becomes an empty directory, unless the user binds a
// path inside it or asks for the host's homes (--host-homes). Pure: the caller reads
// /etc/passwd and the environment.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace caisson::homes {

// /home and /root, the home of each login user (uid 1000 up to 65533) and of `caller`, and
// `caller_home` ($HOME): absolute, normalized, each hidden once (none below another), never "/"
// nor a directory the system itself lives in (/usr, /var, /etc, ...).
std::vector<std::string> to_hide(std::string_view passwd, uid_t caller, std::string_view caller_home);

}  // namespace caisson::homes
