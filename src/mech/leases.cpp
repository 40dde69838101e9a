#include "mech/leases.hpp"

#include "mech/process_start.hpp"

#include <caisson/error.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace caisson::mech {
namespace {

constexpr const char* kRoot = "/run/caisson/net";
constexpr const char* kLeasePrefix = "lease-";

void make_dir(const std::string& d) {
    if (::mkdir(d.c_str(), 0700) < 0 && errno != EEXIST) throw Error(ErrorKind::Setup, "mkdir", d, errno);
}

}  // namespace

LeaseDir::LeaseDir(const std::string& bridge) : dir_(std::string(kRoot) + "/" + bridge) {
    make_dir("/run/caisson");
    make_dir(kRoot);
    // The last user removes the directory: a lock taken on a file unlinked meanwhile is
    // worth nothing, so it is taken again on the file that is there now.
    const std::string lock = dir_ + "/lock";
    while (true) {
        make_dir(dir_);
        lock_.reset(::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (!lock_) throw Error(ErrorKind::Setup, "open lock", lock, errno);
        while (::flock(lock_.get(), LOCK_EX) < 0)
            if (errno != EINTR) throw Error(ErrorKind::Setup, "flock", lock, errno);
        struct stat held{}, now{};
        if (::fstat(lock_.get(), &held) == 0 && ::stat(lock.c_str(), &now) == 0 && held.st_ino == now.st_ino &&
            held.st_dev == now.st_dev)
            return;
    }
}

void LeaseDir::remove_dir() const {
    // Leases first: a directory with one left is not removed.
    for (const char* f : {"/forwarding", "/bridge", "/lock"}) ::unlink((dir_ + f).c_str());
    (void)::rmdir(dir_.c_str());
}

std::vector<Lease> LeaseDir::list() const {
    std::vector<Lease> out;
    DIR* d = ::opendir(dir_.c_str());
    if (!d) return out;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name.rfind(kLeasePrefix, 0) != 0) continue;
        std::ifstream f(dir_ + "/" + name);
        Lease l;
        l.address = name.substr(std::char_traits<char>::length(kLeasePrefix));
        f >> l.owner >> l.owner_start;
        std::string proto;
        PortMapping p;
        while (f >> proto >> p.host_port >> p.sandbox_port) {
            p.udp = proto == "udp";
            l.publish.push_back(p);
        }
        out.push_back(std::move(l));
    }
    ::closedir(d);
    return out;
}

void LeaseDir::write(const Lease& l) const {
    std::ostringstream text;
    text << l.owner << " " << l.owner_start << "\n";
    for (const auto& p : l.publish) text << (p.udp ? "udp" : "tcp") << " " << p.host_port << " " << p.sandbox_port << "\n";
    std::string path = dir_ + "/" + kLeasePrefix + l.address;
    kernel::Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) throw Error(ErrorKind::Setup, "create lease", path, errno);
    std::string s = text.str();
    if (::write(fd.get(), s.data(), s.size()) != static_cast<ssize_t>(s.size()))
        throw Error(ErrorKind::Setup, "write lease", path, errno);
}

void LeaseDir::remove(const std::string& address) const {
    std::string path = dir_ + "/" + kLeasePrefix + address;
    if (::unlink(path.c_str()) < 0 && errno != ENOENT) throw Error(ErrorKind::Setup, "remove lease", path, errno);
}

bool LeaseDir::alive(const Lease& l) {
    return l.owner > 0 && !l.owner_start.empty() && mech::process_start_time(l.owner) == l.owner_start;
}

bool LeaseDir::marked(const char* what) const { return ::access((dir_ + "/" + what).c_str(), F_OK) == 0; }

void LeaseDir::mark(const char* what, bool on) const {
    std::string path = dir_ + "/" + what;
    if (on) {
        kernel::Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (!fd) throw Error(ErrorKind::Setup, "create", path, errno);
    } else if (::unlink(path.c_str()) < 0 && errno != ENOENT) {
        throw Error(ErrorKind::Setup, "remove", path, errno);
    }
}

}  // namespace caisson::mech
