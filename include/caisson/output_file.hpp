// A file caisson writes once a sandbox has run (a report, a learned policy or run profile),
// perhaps as root, often in a directory the sandbox may write (the project of an agent):
// opened before the sandbox starts, so that nothing the sandbox does to the path meanwhile
// (a link or a FIFO put in its place, a directory swapped for a link) changes which file is
// written. Only a regular file of one name (or /dev/null) is taken, and nothing else is even
// opened (opening a device may act): the last component is never followed as a link, a FIFO is refused at once rather
// than waited on, and a file with another name elsewhere (a hard link) is refused before
// anything of it is cut. As root, the directories on the way may be reached through links of
// root's only (a link an earlier sandbox planted would send root's write elsewhere).
#pragma once

#include <caisson/fd.hpp>

#include <string>
#include <vector>

namespace caisson {

class OutputFile {
public:
    OutputFile() = default;
    // Opens (creating it) PATH for `what` ("--report"); throws caisson::Error (usage).
    // `pass_fds` (--pass-fd) are checked open first: a number the caller left free would
    // otherwise be this file's, and pass to the program as the caller's.
    OutputFile(const std::string& path, const std::string& what, const std::vector<int>& pass_fds);
    explicit operator bool() const { return static_cast<bool>(fd_); }
    const std::string& path() const { return path_; }
    // Replaces the whole content with `text`. Throws caisson::Error.
    void write(const std::string& text) const;
    // The file, for a writer that appends (the audit's lines), emptied first with write("").
    int fd() const { return fd_.get(); }

private:
    std::string path_, what_;
    Fd fd_;
};

}  // namespace caisson
