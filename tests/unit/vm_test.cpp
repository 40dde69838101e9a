// The pure parts of `caisson run --vm`: the wire's frames (malformed input refused), the
// guest's module order, the stripped init, qemu's command line and the two jails' policies.
#include "mech/initramfs.hpp"
#include "policy/vm_plan.hpp"
#include "run/vm_wire.hpp"
#include "harness.hpp"

#include <caisson/error.hpp>
#include <caisson/vm.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/capability.h>
#include <map>

namespace caisson {
namespace {

namespace wire = run::vm_wire;
namespace plan = policy::vm;

TEST(VmWire, FramesArriveWholeWhateverTheirPieces) {
    std::string bytes = wire::encode(wire::Frame::Stdout, std::string("a\0b", 3)) + wire::encode(wire::Frame::StdinEnd, "") +
                        wire::encode(wire::Frame::Result, "exit 3\n{}");
    wire::Reader r;
    std::vector<std::pair<wire::Frame, std::string>> got;
    for (char c : bytes) {  // one byte at a time: the worst split there is
        r.feed(&c, 1);
        while (auto f = r.next()) got.push_back(*f);
    }
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].first, wire::Frame::Stdout);
    EXPECT_EQ(got[0].second, std::string("a\0b", 3));
    EXPECT_EQ(got[1].first, wire::Frame::StdinEnd);
    EXPECT_EQ(got[2].second, "exit 3\n{}");
}

TEST(VmWire, AnOversizedFrameIsAnError) {
    std::string head = "O";
    uint32_t len = wire::kMaxPayload + 1;
    head.append(reinterpret_cast<const char*>(&len), 4);
    wire::Reader r;
    r.feed(head.data(), head.size());
    EXPECT_THROW(r.next(), Error);
}

TEST(VmWire, TheRequestRoundTripsAndAMalformedOneIsRefused) {
    wire::Request q{{"--memory", "64M", "--", "/bin/sh", "-c", std::string("x\0y", 3)}, {"HOME=/root", "A="}, "/work"};
    wire::Request back = wire::decode_request(wire::encode_request(q));
    EXPECT_EQ(back.args, q.args);
    EXPECT_EQ(back.env, q.env);
    EXPECT_EQ(back.cwd, q.cwd);
    std::string enc = wire::encode_request(q);
    EXPECT_THROW(wire::decode_request(enc.substr(0, enc.size() - 1)), Error);  // short
    EXPECT_THROW(wire::decode_request(enc + "x"), Error);                      // trailing bytes
    std::string huge(4, '\xff');                                               // 4 G strings
    EXPECT_THROW(wire::decode_request(huge), Error);
}

// The policy goes to the guest whole, as text, but for the command (an argument of its own).
TEST(VmPolicy, TheTextIsThePolicyButTheCommand) {
    Policy a = default_policy(), b = default_policy();
    a.process.argv = {"/bin/true"};
    b.process.argv = {"/bin/sh", "-c", std::string(200000, 'x')};
    EXPECT_EQ(vm_policy_text(a), vm_policy_text(b));
    EXPECT_LT(vm_policy_text(b).size(), 96u * 1024);
    b.resources.pids = 7;
    EXPECT_NE(vm_policy_text(a), vm_policy_text(b));
}

TEST(VmPlan, ModulesLoadAfterWhatTheyDependOn) {
    std::map<std::string, std::vector<std::string>> dep = {{"virtio_ring", {}},
                                                           {"virtio", {"virtio_ring"}},
                                                           {"virtio_mmio", {"virtio", "virtio_ring"}},
                                                           {"fuse", {}},
                                                           {"virtiofs", {"fuse", "virtio", "virtio_ring"}}};
    auto order = plan::module_order(dep, {"virtio_mmio", "virtiofs"});
    auto at = [&](const std::string& m) { return std::find(order.begin(), order.end(), m) - order.begin(); };
    EXPECT_EQ(order.size(), 5u);
    EXPECT_LT(at("virtio_ring"), at("virtio"));
    EXPECT_LT(at("virtio"), at("virtio_mmio"));
    EXPECT_LT(at("fuse"), at("virtiofs"));
    EXPECT_THROW(plan::module_order(dep, {"9p"}), Error);
    dep["virtio_ring"] = {"virtiofs"};
    EXPECT_THROW(plan::module_order(dep, {"virtiofs"}), Error);  // a cycle
}

TEST(VmPlan, TheGuestIsSizedByTheLimits) {
    Policy p = default_policy();
    EXPECT_EQ(plan::guest_memory_mb(p), 256u);
    EXPECT_EQ(plan::guest_cpus(p), 1u);
    p.resources.memory = 64ull << 20;
    EXPECT_EQ(plan::guest_memory_mb(p), 128u);  // the floor
    p.resources.memory = 1ull << 30;
    p.resources.cpus = 1.5;
    EXPECT_EQ(plan::guest_memory_mb(p), 1024u);
    EXPECT_EQ(plan::guest_cpus(p), 2u);
}

// A machine with its descriptors at 4 (the initramfs), 5 (the wire) and 6 (the files).
plan::Machine machine() {
    plan::Machine m;
    m.qemu = "/usr/bin/qemu-system-x86_64";
    m.kernel = "/k";
    m.initramfs_fd = 4;
    m.wire_fd = 5;
    m.files_fd = 6;
    return m;
}

TEST(VmPlan, QemuHasNoNetworkNoMonitorAndItsOwnFilter) {
    plan::Machine m = machine();
    auto a = plan::qemu_argv(m);
    std::string all;
    for (auto& s : a) all += s + " ";
    EXPECT_NE(all.find("-nodefaults"), std::string::npos);
    EXPECT_NE(all.find("-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny"), std::string::npos);
    EXPECT_NE(all.find("socket,id=wire,fd=5"), std::string::npos);
    EXPECT_NE(all.find("socket,id=files,fd=6"), std::string::npos);
    EXPECT_EQ(all.find("-netdev"), std::string::npos);
    EXPECT_EQ(all.find("-monitor"), std::string::npos);
    EXPECT_NE(all.find(plan::kGuestMarker), std::string::npos);
    EXPECT_NE(all.find("-accel tcg"), std::string::npos);
    EXPECT_NE(all.find("-initrd /proc/self/fd/4 "), std::string::npos);

    Policy q = plan::qemu_jail(m, a, 256, 6);
    EXPECT_TRUE(q.landlock.restrict_connect && q.landlock.scope_signal);
    EXPECT_FALSE(plan::qemu_jail(m, a, 256, 3).landlock.restrict_connect);  // what ABI 3 lacks is not asked for
    EXPECT_THROW(plan::qemu_jail(m, a, 256, 0), Error);
    EXPECT_TRUE(q.capabilities.empty());
    EXPECT_TRUE(q.namespaces.user && q.namespaces.net && q.namespaces.pid && q.namespaces.mount);
    EXPECT_FALSE(q.identity.map_host_root);
    EXPECT_FALSE(q.landlock.paths.empty());
    EXPECT_EQ(q.process.pass_fds, (std::vector<int>{4, 5, 6}));
    EXPECT_TRUE(q.fs.device_nodes.empty());  // TCG: no /dev/kvm in the jail

    // KVM: the host's node in the jail's /dev, the device cgroup's leave, Landlock's.
    m.kvm = true;
    auto k = plan::qemu_argv(m);
    std::string kall;
    for (auto& x : k) kall += x + " ";
    EXPECT_NE(kall.find("-accel kvm "), std::string::npos);
    EXPECT_NE(kall.find("-cpu host "), std::string::npos);
    Policy kq = plan::qemu_jail(m, k, 256, 6);
    ASSERT_EQ(kq.fs.device_nodes.size(), 1u);
    EXPECT_EQ(kq.fs.device_nodes[0].name, "kvm");
    EXPECT_EQ(kq.fs.device_nodes[0].major, 10u);
    EXPECT_EQ(kq.fs.device_nodes[0].minor, 232u);
    EXPECT_TRUE(std::any_of(kq.resources.devices.begin(), kq.resources.devices.end(),
                            [](const auto& d) { return d.allow && d.type == 'c' && d.major == 10 && d.minor == 232; }));
    EXPECT_TRUE(std::any_of(kq.landlock.paths.begin(), kq.landlock.paths.end(), [](const auto& l) { return l.path == "/dev/kvm"; }));
}

TEST(VmPlan, NetUserIsOneDeviceOnASocketToPasstWhichMapsNothingOfTheHosts) {
    plan::Machine m = machine();
    m.net_fd = 8;
    auto a = plan::qemu_argv(m);
    std::string all;
    for (auto& s : a) all += s + " ";
    EXPECT_NE(all.find("-netdev socket,id=net,fd=8 -device virtio-net-device,netdev=net"), std::string::npos) << all;
    EXPECT_EQ(plan::qemu_jail(m, a, 256, 6).process.pass_fds, (std::vector<int>{4, 5, 6, 8}));
    // qemu's own jail keeps no network: passt alone reaches the host's.
    EXPECT_TRUE(plan::qemu_jail(m, a, 256, 6).namespaces.net);

    auto p = plan::passt_argv("/usr/bin/passt", 3);
    auto has = [&](const std::string& opt, const std::string& value) {
        for (size_t i = 0; i + 1 < p.size(); ++i)
            if (p[i] == opt && p[i + 1] == value) return true;
        return false;
    };
    EXPECT_EQ(p.front(), "/usr/bin/passt");
    EXPECT_TRUE(has("--fd", "3"));
    EXPECT_TRUE(has("--address", plan::kGuestAddress));
    EXPECT_TRUE(has("--gateway", plan::kGuestGateway));
    EXPECT_TRUE(has("--tcp-ports", "none"));  // no port of the host's forwarded in
    EXPECT_TRUE(has("--udp-ports", "none"));
    EXPECT_NE(std::find(p.begin(), p.end(), "--no-map-gw"), p.end());  // the gateway is not the host's loopback
    EXPECT_NE(std::find(p.begin(), p.end(), "--foreground"), p.end());
}

TEST(VmPlan, WhatTheGuestKernelBuildsInIsReadFromItsConfig) {
    const std::string config = "CONFIG_VIRTIO_NET=y\nCONFIG_FUSE_FS=m\n# CONFIG_FUSE_OPEN_DROPS_NOATIME is not set\n";
    EXPECT_TRUE(plan::kernel_config_builds_in(config, "CONFIG_VIRTIO_NET"));
    EXPECT_FALSE(plan::kernel_config_builds_in(config, "CONFIG_FUSE_FS"));  // a module is not built in
    EXPECT_FALSE(plan::kernel_config_builds_in(config, "CONFIG_FUSE_OPEN_DROPS_NOATIME"));
    EXPECT_FALSE(plan::kernel_config_builds_in(config, "CONFIG_VIRTIO"));  // a prefix is not the option
    EXPECT_FALSE(plan::kernel_config_builds_in("", "CONFIG_VIRTIO_NET"));
}

TEST(VmPlan, AKernelWithoutAcpiIsToldItsDevicesOnTheCommandLine) {
    EXPECT_TRUE(plan::kernel_config_has_acpi("CONFIG_ACPI=y\nCONFIG_PVH=y\n"));
    EXPECT_TRUE(plan::kernel_config_has_acpi(""));  // no word of it: as Debian builds them
    EXPECT_FALSE(plan::kernel_config_has_acpi("CONFIG_PVH=y\n# CONFIG_ACPI is not set\nCONFIG_X=y\n"));
    EXPECT_TRUE(plan::kernel_config_has_acpi("# CONFIG_ACPI_DEBUG is not set\n"));
    EXPECT_TRUE(plan::built_for_guest("vmlinuz-6.12.118-caisson"));
    EXPECT_FALSE(plan::built_for_guest("vmlinuz-6.1.0-57-cloud-amd64"));
    EXPECT_FALSE(plan::built_for_guest("config-6.12.118-caisson"));
    plan::Machine m;
    m.qemu = "/usr/bin/qemu-system-x86_64";
    m.kernel = "/k";
    auto join = [](const std::vector<std::string>& a) {
        std::string all;
        for (auto& s : a) all += s + " ";
        return all;
    };
    EXPECT_NE(join(plan::qemu_argv(m)).find(",acpi=on "), std::string::npos);
    m.acpi = false;
    const std::string off = join(plan::qemu_argv(m));
    EXPECT_NE(off.find(",acpi=off "), std::string::npos);
    EXPECT_NE(off.find(" reboot=t "), std::string::npos);  // its power-off is a reset
    EXPECT_NE(off.find(" noapictimer "), std::string::npos);
    m.acpi = true;
    EXPECT_EQ(join(plan::qemu_argv(m)).find(" noapictimer "), std::string::npos);
}

TEST(VmPlan, TheFileServerSeesTheProgramsViewReadOnly) {
    Policy u = default_policy();
    MountSpec b;
    b.kind = MountKind::Bind;  // read-write for the program: read-only for the file server
    b.source = "/srv/data";
    b.target = "/data";
    u.fs.mounts.push_back(b);
    u.fs.workdir = true;
    MountSpec t;
    t.kind = MountKind::Tmpfs;  // covers the host's /etc/secrets for the program: for the file server too
    t.target = "/etc/secrets";
    u.fs.mounts.push_back(t);
    u.bpf_lsm.deny_files = {"/etc/shadow"};
    Policy f = plan::file_server_jail(u, "/usr/lib/qemu/virtiofsd", 7, "/home/a/proj",
                                      {"usr", "etc", "proc", "sys", "dev", "run", "tmp", "home"}, "/home/a", 6);
    ASSERT_EQ(f.fs.mounts.size(), 2u);
    for (const auto& m : f.fs.mounts) {
        EXPECT_EQ(m.kind, MountKind::RoBind);
        EXPECT_EQ(m.source, m.target);  // at its own path: the guest's caisson binds it again
    }
    for (const char* covered : {"/data", "/etc/secrets", "/etc/shadow"})
        EXPECT_EQ(std::count(f.fs.masked_paths.begin(), f.fs.masked_paths.end(), covered), 1) << covered;
    // Landlock: list from the root, read beneath its entries but the kernel's filesystems and
    // /tmp, and the sources; write nowhere.
    std::map<std::string, LandlockAccess> ll;
    for (const auto& lp : f.landlock.paths) ll[lp.path] = lp.access;
    EXPECT_EQ(ll.at("/"), LandlockAccess::ListDir);
    EXPECT_EQ(ll.at("/usr"), LandlockAccess::ReadExec);
    EXPECT_EQ(ll.at("/srv/data"), LandlockAccess::Read);
    for (const char* no : {"/proc", "/sys", "/dev", "/run", "/tmp"}) EXPECT_EQ(ll.count(no), 0u) << no;
    for (const auto& [path, access] : ll) EXPECT_NE(access, LandlockAccess::ReadWrite) << path;
    EXPECT_THROW(plan::file_server_jail(u, "/v", 7, "/", {}, "", 0), Error);
    // A mount over a bind's source does not mask it here (the guest's caisson binds from it),
    // and HOME=/ with --home opens nothing more.
    Policy v = default_policy();
    MountSpec src;
    src.kind = MountKind::RoBind;
    src.source = "/srv/d";
    src.target = "/srv/d";
    MountSpec over;
    over.kind = MountKind::Tmpfs;
    over.target = "/srv";
    v.fs.mounts = {over, src};
    v.fs.home = true;
    Policy g = plan::file_server_jail(v, "/v", 7, "/", {"srv"}, "/", 6);
    EXPECT_EQ(std::count(g.fs.masked_paths.begin(), g.fs.masked_paths.end(), "/srv"), 0);
    for (const auto& lp : g.landlock.paths) EXPECT_FALSE(lp.path == "/" && lp.access != LandlockAccess::ListDir);
    EXPECT_FALSE(f.fs.workdir);
    EXPECT_FALSE(f.fs.writable_root);
    EXPECT_FALSE(f.fs.host_homes);
    EXPECT_EQ(f.seccomp.name, "vm-file-server");
    EXPECT_FALSE(f.identity.map_host_root);
    EXPECT_TRUE(f.namespaces.user);
    // No capability that crosses a user namespace's bounds.
    for (int cap : {CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_NET_ADMIN, CAP_DAC_READ_SEARCH, CAP_SYS_MODULE})
        EXPECT_EQ(std::count(f.capabilities.begin(), f.capabilities.end(), cap), 0) << cap;
}

TEST(Initramfs, TheInitKeepsOnlyWhatTheKernelLoads) {
    std::string self = mech::initramfs::read_file(test::caisson_path());
    std::string image = mech::initramfs::Image::load(test::caisson_path()).bytes();
    EXPECT_LE(image.size(), self.size());
    Elf64_Ehdr eh;
    std::memcpy(&eh, image.data(), sizeof eh);
    EXPECT_EQ(eh.e_shoff, 0u);
    EXPECT_EQ(eh.e_shnum, 0u);
    // Past the header, the image is the file's first bytes.
    EXPECT_EQ(image.compare(sizeof eh, std::string::npos, self, sizeof eh, image.size() - sizeof eh), 0);
    char script[] = "/tmp/caisson-initramfs-test-XXXXXX";
    int fd = ::mkstemp(script);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "#!/bin/sh\n", 10), 10);
    ::close(fd);
    EXPECT_THROW(mech::initramfs::Image::load(script), Error);
    // An ELF header that claims program headers beyond the file's end.
    Elf64_Ehdr lying = eh;
    lying.e_phnum = 60000;
    std::string truncated(reinterpret_cast<const char*>(&lying), sizeof lying);
    fd = ::open(script, O_WRONLY | O_TRUNC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, truncated.data(), truncated.size()), static_cast<ssize_t>(truncated.size()));
    ::close(fd);
    EXPECT_THROW(mech::initramfs::Image::load(script), Error);
    // One that loads nothing: no program header at all, and one header that is the ELF
    // header itself (its end before the header's own).
    for (auto [phoff, phnum] : {std::pair<uint64_t, uint16_t>{0, 0}, {0, 1}, {8, 0}}) {
        Elf64_Ehdr empty = eh;
        empty.e_phoff = phoff;
        empty.e_phnum = phnum;
        std::string bytes(reinterpret_cast<const char*>(&empty), sizeof empty);
        bytes.resize(4096, '\0');
        fd = ::open(script, O_WRONLY | O_TRUNC);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
        ::close(fd);
        EXPECT_THROW(mech::initramfs::Image::load(script), Error) << phoff << " " << phnum;
    }
    ::unlink(script);
    // A dynamic executable (this test's) cannot be the init of an initramfs with no loader.
    EXPECT_THROW(mech::initramfs::Image::load("/proc/self/exe"), Error);
}

TEST(Initramfs, TheArchiveIsSealedAndHoldsExactlyItsEntries) {
    const mech::initramfs::Image self = mech::initramfs::Image::load(test::caisson_path());
    const std::vector<mech::initramfs::Entry> entries = {
        {"init", S_IFREG | 0755, "", &self}, {"lib", S_IFDIR | 0755, ""}, {"lib/x", S_IFREG | 0644, "abc"}};
    Fd fd = mech::initramfs::sealed(entries, "caisson-test-initramfs");
    ASSERT_TRUE(fd);
    // Made piece by piece, it is the archive made whole: newc records, each 4-aligned, the
    // image's header with its section fields cleared, the trailer last.
    const std::string whole = mech::initramfs::archive(entries);
    std::string held(whole.size() + 1, '\0');
    ASSERT_EQ(::pread(fd.get(), held.data(), held.size(), 0), static_cast<ssize_t>(whole.size()));
    held.resize(whole.size());
    EXPECT_TRUE(held == whole);
    EXPECT_EQ(whole.compare(0, 6, "070701"), 0);
    EXPECT_EQ(whole.size() % 4, 0u);
    EXPECT_NE(whole.find(self.bytes()), std::string::npos);
    EXPECT_EQ(whole.compare(whole.size() - 124 + 110, 11, std::string("TRAILER!!!\0", 11)), 0);
    // No one changes it: not through this descriptor, nor a new one opened through /proc.
    const int seals = ::fcntl(fd.get(), F_GET_SEALS);
    EXPECT_EQ(seals, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
    EXPECT_EQ(::pwrite(fd.get(), "x", 1, 0), -1);
    const std::string path = "/proc/self/fd/" + std::to_string(fd.get());
    Fd again(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(again);
    errno = 0;
    EXPECT_EQ(::write(again.get(), "x", 1), -1);
    EXPECT_EQ(errno, EPERM);
    EXPECT_NE(::ftruncate(again.get(), 0), 0);
    EXPECT_EQ(::fcntl(again.get(), F_ADD_SEALS, F_SEAL_FUTURE_WRITE), -1);  // F_SEAL_SEAL: the seals stay as they are
    EXPECT_EQ(::mmap(nullptr, 4096, PROT_WRITE, MAP_SHARED, again.get(), 0), MAP_FAILED);
}

}  // namespace
}  // namespace caisson
