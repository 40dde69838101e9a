// The guest's initramfs for `caisson run --vm`: an uncompressed cpio archive (the kernel's
// "newc" format), written by caisson itself. Uncompressed because the guest unpacks it
// faster than it could decompress it under emulation; written here because the format is
// a header of hexadecimal fields per file, and a library (libarchive) would bring its
// compressors into caisson's static binary for nothing.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <cstdint>
#include <vector>

namespace caisson::mech::initramfs {

struct Entry {
    std::string path;      // in the archive, without a leading slash: "init", "lib/modules"
    unsigned mode = 0;     // S_IFDIR | 0755, S_IFREG | 0755
    std::string data;      // a file's contents
};

// Writes `entries` as a newc archive to `path` atomically (a temporary file renamed into
// place, mode 0644). Throws caisson::Error naming the path and errno.
void write(const std::string& path, const std::vector<Entry>& entries);

// The newc archive of `entries`, in memory; and one written as write() does.
std::string archive(const std::vector<Entry>& entries);
void write_archive(const std::string& path, const std::string& bytes);

// A kernel module's dependencies, from its .modinfo ("depends=a,b"). Throws caisson::Error
// when the file cannot be read.
std::vector<std::string> module_depends(const std::string& ko_path);

// Every module file (*.ko) beneath `dir`, by stem ("virtio_mmio" -> its path).
std::map<std::string, std::string> find_modules(const std::string& dir);

// The executable at `path` as the kernel loads it: the bytes its program headers map,
// without the section headers and what only they name (debug information, symbols), and
// only those bytes are read. caisson's binary is 66 MB with its debug information and 5 MB
// without; the guest unpacks every byte. Throws caisson::Error for what is not a static
// 64-bit ELF executable.
std::string loadable_image(const std::string& path);

// A file's whole contents (for the archive). With `regular_only`, a symlink or anything but
// a regular file is refused (a module tree someone else could change between a look and a
// read). Throws caisson::Error.
std::string read_file(const std::string& path, bool regular_only = false, size_t max_size = SIZE_MAX);

// Whether the regular file at `path` (not a symlink) holds exactly `bytes`; read in pieces,
// never whole. False for anything that cannot be read.
bool file_holds(const std::string& path, std::string_view bytes);

}  // namespace caisson::mech::initramfs
