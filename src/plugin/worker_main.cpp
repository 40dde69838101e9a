// caisson-plugin-worker --fd N LIBRARY: runs inside the plug-in's sandbox. Loads the
// library, says whether that worked, then answers calls on descriptor N until the host
// closes it. Dynamically linked (dlopen), and exports the wire's functions to the plug-in.
#include <caisson/plugin.hpp>

#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

using Entry = bool (*)(caisson::wire::Reader&, caisson::wire::Writer&, const std::string&, std::string&);

void reply_error(int sock, const std::string& message) {
    caisson::wire::Writer w;
    w.put(false);
    w.put(message);
    caisson::wire::send(sock, w, "reply");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4 || std::strcmp(argv[1], "--fd") != 0) {
        std::fprintf(stderr, "usage: caisson-plugin-worker --fd N LIBRARY\n");
        return 2;
    }
    int sock = std::atoi(argv[2]);
    const char* library = argv[3];
    try {
        // Present before loading anything: the host learns this process's pid from it.
        caisson::wire::send(sock, caisson::wire::Writer{}, "ready");
        void* handle = ::dlopen(library, RTLD_NOW | RTLD_LOCAL);
        caisson::wire::Writer hello;
        hello.put(handle != nullptr);
        hello.put(std::string(handle ? "" : ::dlerror()));
        caisson::wire::send(sock, hello, "hello");
        if (!handle) return 1;
        std::string bytes;
        std::vector<int> fds;
        while (caisson::wire::receive(sock, bytes, fds, "call")) {
            caisson::wire::Reader in(std::move(bytes), std::move(fds));
            fds.clear();
            std::string name = in.get<std::string>("function name");
            std::string sig = in.get<std::string>("signature");
            auto entry = reinterpret_cast<Entry>(::dlsym(handle, ("caisson_plugin_fn_" + name).c_str()));
            if (!entry) {
                reply_error(sock, "no function " + name + " in " + library);
                continue;
            }
            caisson::wire::Writer out;
            std::string error;
            if (entry(in, out, sig, error)) {
                caisson::wire::send(sock, out, "reply");
                // Descriptors a function returns are the host's now.
                for (int fd : out.fds()) ::close(fd);
            } else {
                reply_error(sock, error);
            }
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "caisson-plugin-worker: %s\n", e.what());
        return 1;
    }
}
