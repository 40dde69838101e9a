// thumbnail: draws PGM images as text, each decoded by a plug-in in a fresh sandbox (a new
// worker per file: what one hostile file does to the decoder cannot reach the next file).
// The host opens the files and passes the descriptors; a file the decoder chokes on is
// reported by name with what happened to the decoder, and the others are still drawn.
//   thumbnail DECODER.so FILE...
#include <caisson/plugin.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

int main(int argc, char** argv) {
    if (argc < 3) {
        std::cerr << "usage: thumbnail DECODER.so FILE...\n";
        return 2;
    }
    caisson::PluginOptions options;
    options.library = argv[1];
    options.memory_bytes = 64u << 20;
    options.call_timeout_s = 2;
    options.fresh_per_call = true;
    int failed = 0;
    try {
        caisson::Plugin decoder(options);
        for (int a = 2; a < argc; ++a) {
            int fd = ::open(argv[a], O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                std::cerr << "thumbnail: " << argv[a] << ": " << std::strerror(errno) << "\n";
                ++failed;
                continue;
            }
            try {
                std::string art = decoder.call<std::string>("thumbnail", caisson::wire::Fd{fd}, int64_t{32});
                std::cout << argv[a] << ":\n" << art;
            } catch (const caisson::PluginError& e) {
                std::cout << argv[a] << ": [not decoded: " << caisson::plugin_failure_name(e.failure()) << "]\n";
                std::cerr << "thumbnail: " << argv[a] << ": " << e.what() << "\n";
                ++failed;
            }
            ::close(fd);
        }
    } catch (const caisson::PluginError& e) {
        std::cerr << "thumbnail: " << e.what() << "\n";
        return 1;
    }
    return failed ? 1 : 0;
}
