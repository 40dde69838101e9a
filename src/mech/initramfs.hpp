// The guest's initramfs for `caisson run --vm`: an uncompressed cpio archive (the kernel's
// "newc" format), written by caisson itself. Uncompressed because the guest unpacks it
// faster than it could decompress it under emulation; written here because the format is
// a header of hexadecimal fields per file, and a library (libarchive) would bring its
// compressors into caisson's static binary for nothing.
#pragma once

#include "kernel/fd.hpp"

#include <elf.h>

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <cstdint>
#include <vector>

namespace caisson::mech::initramfs {

// An executable as the kernel loads it: the bytes its program headers map, without the
// section headers and what only they name (debug information, symbols). caisson's binary is
// 66 MB with its debug information and 5 MB without; the guest unpacks every byte. Mapped
// from its file, not copied: a copy is megabytes of fresh pages, and a page fault is dear
// in a virtual machine's guest (10 us on the machines caisson is measured on).
class Image {
public:
    // Throws caisson::Error for what is not a static 64-bit ELF executable.
    static Image load(const std::string& path);
    std::string_view head() const { return {reinterpret_cast<const char*>(&head_), sizeof head_}; }  // header, sections gone
    std::string_view rest() const { return {static_cast<const char*>(map_) + sizeof head_, size_ - sizeof head_}; }
    size_t size() const { return size_; }
    std::string bytes() const { return std::string(head()) + std::string(rest()); }
    Image(Image&& o) noexcept;
    Image& operator=(Image&&) = delete;
    Image(const Image&) = delete;
    ~Image();

private:
    Image() = default;
    void* map_ = nullptr;
    size_t size_ = 0;
    Elf64_Ehdr head_{};
};

struct Entry {
    std::string path;      // in the archive, without a leading slash: "init", "lib/modules"
    unsigned mode = 0;     // S_IFDIR | 0755, S_IFREG | 0755
    std::string data;      // a file's contents, unless:
    const Image* image = nullptr;  // an executable's, which outlives the entry
};

// The newc archive of `entries` piece by piece, in order (each record's header and name, the
// file's bytes, the padding), without ever holding it whole.
void for_each_piece(const std::vector<Entry>& entries, const std::function<void(std::string_view)>& take);
// The same, in memory.
std::string archive(const std::vector<Entry>& entries);
// The archive in a memfd named `name`, sealed against every change (write, shrink, grow, and
// the seals themselves): whoever holds or reopens it reads these bytes and no others. Throws
// caisson::Error naming the step and errno.
kernel::Fd sealed(const std::vector<Entry>& entries, const char* name);

// A kernel module's dependencies, from its .modinfo ("depends=a,b"). Throws caisson::Error
// when the file cannot be read.
std::vector<std::string> module_depends(const std::string& ko_path);

// Every module file (*.ko) beneath `dir`, by stem ("virtio_mmio" -> its path).
std::map<std::string, std::string> find_modules(const std::string& dir);

// A file's whole contents (for the archive). With `regular_only`, a symlink or anything but
// a regular file is refused (a module tree someone else could change between a look and a
// read). Throws caisson::Error.
std::string read_file(const std::string& path, bool regular_only = false, size_t max_size = SIZE_MAX);


}  // namespace caisson::mech::initramfs
