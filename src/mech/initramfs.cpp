#include "mech/initramfs.hpp"

#include <caisson/error.hpp>
#include <caisson/fd.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string_view>
#include <vector>

namespace caisson::mech::initramfs {

namespace {

void hex8(std::string& out, unsigned long v) {
    char b[9];
    std::snprintf(b, sizeof b, "%08lX", v);
    out.append(b, 8);
}

constexpr char kZeros[4] = {0, 0, 0, 0};

// One newc record: the "070701" magic, thirteen 8-digit hexadecimal fields, the name with
// its NUL, padding to 4, the data, padding to 4. `at` is the archive's length so far.
void record(size_t& at, const std::function<void(std::string_view)>& take, unsigned ino, const std::string& name,
            unsigned mode, size_t size, const std::function<void()>& data) {
    // newc's fields are 8 hexadecimal digits: a file of 4 GiB or more cannot be said.
    if (size > 0xffffffffu) throw Error(ErrorKind::Setup, "vm: a file too large for the initramfs", name, EFBIG);
    std::string h = "070701";
    hex8(h, ino);
    hex8(h, mode);
    hex8(h, 0);  // uid
    hex8(h, 0);  // gid
    hex8(h, 1);  // nlink
    hex8(h, 0);  // mtime: the same archive for the same inputs
    hex8(h, size);
    hex8(h, 0);  // devmajor
    hex8(h, 0);  // devminor
    hex8(h, 0);  // rdevmajor
    hex8(h, 0);  // rdevminor
    hex8(h, name.size() + 1);
    hex8(h, 0);  // check
    h += name;
    h.push_back('\0');
    h.append((4 - (at + h.size()) % 4) % 4, '\0');
    at += h.size();
    take(h);
    if (data) data();
    at += size;
    if (size_t pad = (4 - at % 4) % 4) {
        take(std::string_view(kZeros, pad));
        at += pad;
    }
}

}  // namespace

Image Image::load(const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw Error(ErrorKind::Setup, "vm: read", path, errno);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) throw Error(ErrorKind::Setup, "vm: stat", path, errno);
    if (!S_ISREG(st.st_mode)) throw Error(ErrorKind::Setup, "vm: not a regular file", path, EINVAL);
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    // Every byte asked for, or an error: a short read is a file that changed meanwhile.
    auto read_at = [&](void* to, size_t n, uint64_t off) {
        for (size_t got = 0; got < n;) {
            ssize_t r = ::pread(fd.get(), static_cast<char*>(to) + got, n - got, static_cast<off_t>(off + got));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) throw Error(ErrorKind::Setup, "vm: read", path, r < 0 ? errno : EIO);
            got += static_cast<size_t>(r);
        }
    };
    Image img;
    Elf64_Ehdr& eh = img.head_;
    if (size < sizeof eh) throw Error(ErrorKind::Setup, "vm: not an ELF executable", path, ENOEXEC);
    read_at(&eh, sizeof eh, 0);
    if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > size ||
        uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr) > size - eh.e_phoff)
        throw Error(ErrorKind::Setup, "vm: not a 64-bit ELF executable", path, ENOEXEC);
    std::vector<Elf64_Phdr> phdrs(eh.e_phnum);
    read_at(phdrs.data(), phdrs.size() * sizeof(Elf64_Phdr), eh.e_phoff);
    uint64_t end = eh.e_phoff + uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr);
    bool loads = false;
    for (const auto& ph : phdrs) {
        loads = loads || ph.p_type == PT_LOAD;
        // The guest's initramfs holds no loader or libraries: the init must be static.
        if (ph.p_type == PT_INTERP) throw Error(ErrorKind::Setup, "vm: caisson is not a static binary", path, ENOEXEC);
        if (ph.p_offset > size || ph.p_filesz > size - ph.p_offset)
            throw Error(ErrorKind::Setup, "vm: a segment beyond the file's end", path, ENOEXEC);
        end = std::max<uint64_t>(end, ph.p_offset + ph.p_filesz);
    }
    // The header is part of what is mapped (it is patched below, and rest() begins after it).
    if (!loads || end < sizeof eh) throw Error(ErrorKind::Setup, "vm: an ELF executable that loads nothing", path, ENOEXEC);
    void* map = ::mmap(nullptr, static_cast<size_t>(end), PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd.get(), 0);
    if (map == MAP_FAILED) throw Error(ErrorKind::Setup, "vm: mmap", path, errno);
    img.map_ = map;
    img.size_ = static_cast<size_t>(end);
    eh.e_shoff = 0;
    eh.e_shnum = 0;
    eh.e_shstrndx = 0;
    return img;
}

Image::Image(Image&& o) noexcept : map_(o.map_), size_(o.size_), head_(o.head_) {
    o.map_ = nullptr;
    o.size_ = 0;
}

Image::~Image() {
    if (map_) ::munmap(map_, size_);
}

void for_each_piece(const std::vector<Entry>& entries, const std::function<void(std::string_view)>& take) {
    size_t at = 0;
    unsigned ino = 1;
    for (const auto& e : entries) {
        if (e.image) {
            record(at, take, ino++, e.path, e.mode, e.image->size(), [&] {
                take(e.image->head());
                take(e.image->rest());
            });
        } else {
            record(at, take, ino++, e.path, e.mode, e.data.size(), [&] { take(e.data); });
        }
    }
    record(at, take, 0, "TRAILER!!!", 0, 0, nullptr);
}

std::string archive(const std::vector<Entry>& entries) {
    std::string out;
    size_t total = 0;
    for_each_piece(entries, [&](std::string_view p) { total += p.size(); });
    out.reserve(total);
    for_each_piece(entries, [&](std::string_view p) { out += p; });
    return out;
}

kernel::Fd sealed(const std::vector<Entry>& entries, const char* name) {
    kernel::Fd fd(::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd) throw Error(ErrorKind::Setup, "vm: memfd_create", name, errno);
    int err = 0;
    for_each_piece(entries, [&](std::string_view p) {
        while (!err && !p.empty()) {
            ssize_t n = ::write(fd.get(), p.data(), p.size());
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) err = n < 0 ? errno : EIO;
            else p.remove_prefix(static_cast<size_t>(n));
        }
    });
    if (err) throw Error(ErrorKind::Setup, "vm: write the initramfs", name, err);
    if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0)
        throw Error(ErrorKind::Setup, "vm: seal the initramfs", name, errno);
    return fd;
}

std::string read_file(const std::string& path, bool regular_only, size_t max_size) {
    // O_NONBLOCK: a FIFO in a regular file's place is refused below, not waited on.
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | (regular_only ? O_NOFOLLOW | O_NONBLOCK : 0)));
    if (!fd) throw Error(ErrorKind::Setup, "vm: read", path, errno);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) throw Error(ErrorKind::Setup, "vm: stat", path, errno);
    if (regular_only && !S_ISREG(st.st_mode)) throw Error(ErrorKind::Setup, "vm: not a regular file", path, EINVAL);
    if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > max_size)
        throw Error(ErrorKind::Setup, "vm: larger than expected", path, EFBIG);
    std::string s;
    // Sized once: where a page fault is dear (a virtual machine's guest), a string of
    // megabytes grown by doubling touches its pages twice over and copies them as often.
    if (S_ISREG(st.st_mode)) s.reserve(static_cast<size_t>(st.st_size));
    char buf[1 << 16];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw Error(ErrorKind::Setup, "vm: read", path, errno);
        if (n == 0) break;
        s.append(buf, static_cast<size_t>(n));
        if (s.size() > max_size) throw Error(ErrorKind::Setup, "vm: larger than expected", path, EFBIG);
    }
    return s;
}

std::vector<std::string> module_depends(const std::string& ko_path) {
    const std::string ko = read_file(ko_path, true);
    // .modinfo holds NUL-separated "key=value" strings; "depends=" appears once.
    const std::string key = std::string("\0depends=", 9);
    size_t at = ko.find(key);
    std::vector<std::string> deps;
    if (at == std::string::npos) return deps;
    at += key.size();
    size_t end = ko.find('\0', at);
    std::string list = ko.substr(at, end == std::string::npos ? std::string::npos : end - at);
    for (size_t s = 0; s < list.size();) {
        size_t comma = list.find(',', s);
        if (comma == std::string::npos) comma = list.size();
        if (comma > s) deps.push_back(list.substr(s, comma - s));
        s = comma + 1;
    }
    return deps;
}

std::map<std::string, std::string> find_modules(const std::string& dir) {
    std::map<std::string, std::string> found;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return found;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        std::string p = dir + "/" + name;
        struct stat st;
        if (::lstat(p.c_str(), &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            for (auto& [k, v] : find_modules(p)) found.emplace(k, v);
        } else if (S_ISREG(st.st_mode) && name.size() > 3 && name.compare(name.size() - 3, 3, ".ko") == 0) {
            std::string stem = name.substr(0, name.size() - 3);
            for (char& c : stem) if (c == '-') c = '_';  // the kernel's names use underscores
            found.emplace(stem, p);
        }
    }
    ::closedir(d);
    return found;
}

}  // namespace caisson::mech::initramfs
