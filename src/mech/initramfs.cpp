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

void pad4(std::string& out) {
    while (out.size() % 4) out.push_back('\0');
}

// One newc record: the "070701" magic, thirteen 8-digit hexadecimal fields, the name with
// its NUL, padding to 4, the data, padding to 4.
void record(std::string& out, unsigned ino, const std::string& name, unsigned mode, const std::string& data) {
    out += "070701";
    hex8(out, ino);
    hex8(out, mode);
    hex8(out, 0);  // uid
    hex8(out, 0);  // gid
    hex8(out, 1);  // nlink
    hex8(out, 0);  // mtime: the same archive for the same inputs
    hex8(out, data.size());
    hex8(out, 0);  // devmajor
    hex8(out, 0);  // devminor
    hex8(out, 0);  // rdevmajor
    hex8(out, 0);  // rdevminor
    hex8(out, name.size() + 1);
    hex8(out, 0);  // check
    out += name;
    out.push_back('\0');
    pad4(out);
    out += data;
    pad4(out);
}

}  // namespace

std::string archive(const std::vector<Entry>& entries) {
    std::string out;
    size_t total = 2 * (110 + 16);  // the trailer, and room for rounding
    for (const auto& e : entries) total += 110 + e.path.size() + 4 + e.data.size() + 4;
    out.reserve(total);  // one allocation: the archive is megabytes (see read_file)
    unsigned ino = 1;
    for (const auto& e : entries) record(out, ino++, e.path, e.mode, e.data);
    record(out, 0, "TRAILER!!!", 0, "");
    return out;
}

void write(const std::string& path, const std::vector<Entry>& entries) { write_archive(path, archive(entries)); }

void write_archive(const std::string& path, const std::string& out) {
    std::string tmp = path + ".XXXXXX";
    Fd fd(::mkostemp(tmp.data(), O_CLOEXEC));
    if (!fd) throw Error(ErrorKind::Setup, "vm: write initramfs", tmp, errno);
    // Readable by qemu's jail, whatever the caller's umask.
    if (::fchmod(fd.get(), 0644) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        throw Error(ErrorKind::Setup, "vm: chmod initramfs", tmp, err);
    }
    for (size_t at = 0; at < out.size();) {
        ssize_t n = ::write(fd.get(), out.data() + at, out.size() - at);
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            ::unlink(tmp.c_str());
            throw Error(ErrorKind::Setup, "vm: write initramfs", tmp, err);
        }
        at += static_cast<size_t>(n);
    }
    if (::fsync(fd.get()) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        throw Error(ErrorKind::Setup, "vm: write initramfs", path, err);
    }
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

bool file_holds(const std::string& path, std::string_view bytes) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    struct stat st;
    if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) != bytes.size())
        return false;
    char buf[1 << 16];
    size_t at = 0;
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (n == 0) return at == bytes.size();
        if (static_cast<size_t>(n) > bytes.size() - at || std::memcmp(buf, bytes.data() + at, static_cast<size_t>(n)) != 0)
            return false;
        at += static_cast<size_t>(n);
    }
}

std::string loadable_image(const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw Error(ErrorKind::Setup, "vm: read", path, errno);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) throw Error(ErrorKind::Setup, "vm: stat", path, errno);
    if (!S_ISREG(st.st_mode)) throw Error(ErrorKind::Setup, "vm: not a regular file", path, EINVAL);
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    // Every byte asked for, or an error: a short read is a file that changed meanwhile.
    auto read_at = [&](char* to, size_t n, uint64_t off) {
        for (size_t got = 0; got < n;) {
            ssize_t r = ::pread(fd.get(), to + got, n - got, static_cast<off_t>(off + got));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) throw Error(ErrorKind::Setup, "vm: read", path, r < 0 ? errno : EIO);
            got += static_cast<size_t>(r);
        }
    };
    Elf64_Ehdr eh;
    if (size < sizeof eh) throw Error(ErrorKind::Setup, "vm: not an ELF executable", path, ENOEXEC);
    read_at(reinterpret_cast<char*>(&eh), sizeof eh, 0);
    if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > size ||
        uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr) > size - eh.e_phoff)
        throw Error(ErrorKind::Setup, "vm: not a 64-bit ELF executable", path, ENOEXEC);
    std::vector<Elf64_Phdr> phdrs(eh.e_phnum);
    read_at(reinterpret_cast<char*>(phdrs.data()), phdrs.size() * sizeof(Elf64_Phdr), eh.e_phoff);
    uint64_t end = eh.e_phoff + uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr);
    for (const auto& ph : phdrs) {
        // The guest's initramfs holds no loader or libraries: the init must be static.
        if (ph.p_type == PT_INTERP) throw Error(ErrorKind::Setup, "vm: caisson is not a static binary", path, ENOEXEC);
        if (ph.p_offset > size || ph.p_filesz > size - ph.p_offset)
            throw Error(ErrorKind::Setup, "vm: a segment beyond the file's end", path, ENOEXEC);
        end = std::max<uint64_t>(end, ph.p_offset + ph.p_filesz);
    }
    // Only the bytes the program headers map are read: the debug information after them is
    // most of an unstripped build, and the guest never sees it.
    std::string image(static_cast<size_t>(end), '\0');
    read_at(image.data(), image.size(), 0);
    eh.e_shoff = 0;
    eh.e_shnum = 0;
    eh.e_shstrndx = 0;
    std::memcpy(image.data(), &eh, sizeof eh);
    return image;
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
