// caisson-plugin-worker --fd N --shm M --spin-us U LIBRARY: runs inside the plug-in's
// sandbox. Loads the library, says whether that worked on socket N, then answers the calls
// rung on the shared channel M until the host says close or goes. Dynamically linked
// (dlopen), and exports the wire's functions to the plug-in.
#include <caisson/plugin.hpp>

#include "plugin/shared_channel.hpp"

#include <dlfcn.h>
#include <cerrno>
#include <malloc.h>
#include <unistd.h>

#include <unordered_map>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

using Entry = bool (*)(caisson::wire::Reader&, caisson::wire::Writer&, const std::string&, std::string&);
using caisson::plugin::SharedChannel;

// A reply goes into the channel, or over the socket when it carries descriptors or does
// not fit; "on the socket" is rung first, so that the host reads while it is sent.
void reply(int sock, SharedChannel& chan, uint32_t seq, const caisson::wire::Writer& w) {
    const std::string& b = w.bytes();
    if (w.fds().empty() && b.size() <= SharedChannel::kAreaBytes) {
        chan.publish(seq, b.data(), static_cast<uint32_t>(b.size()));
        return;
    }
    chan.publish(seq, nullptr, SharedChannel::kOnSocket);
    caisson::wire::send(sock, w, "reply");
}

void reply_error(int sock, SharedChannel& chan, uint32_t seq, const std::string& message) {
    caisson::wire::Writer w;
    w.put(false);
    w.put(message);
    reply(sock, chan, seq, w);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 8 || std::strcmp(argv[1], "--fd") != 0 || std::strcmp(argv[3], "--shm") != 0 ||
        std::strcmp(argv[5], "--spin-us") != 0) {
        std::fprintf(stderr, "usage: caisson-plugin-worker --fd N --shm M --spin-us U LIBRARY\n");
        return 2;
    }
    int sock = std::atoi(argv[2]);
    const char* library = argv[7];
    const std::chrono::microseconds spin(std::atoll(argv[6]));
    // Buffers of a megabyte come and go with every call: keep them in the heap rather than
    // mapping and faulting them in again each time.
    ::mallopt(M_MMAP_THRESHOLD, 64 << 20);
    ::mallopt(M_TRIM_THRESHOLD, 128 << 20);
    try {
        SharedChannel chan = SharedChannel::attach(std::atoi(argv[4]));
        // Present before loading anything: the host learns this process's pid from it.
        caisson::wire::send(sock, caisson::wire::Writer{}, "ready");
        void* handle = ::dlopen(library, RTLD_NOW | RTLD_LOCAL);
        caisson::wire::Writer hello;
        hello.put(handle != nullptr);
        hello.put(std::string(handle ? "" : ::dlerror()));
        caisson::wire::send(sock, hello, "hello");
        if (!handle) return 1;
        std::unordered_map<std::string, Entry> entries;
        std::string bytes;
        std::vector<int> fds;
        caisson::wire::Writer out;
        uint32_t seq = 0;
        for (;;) {
            auto rang = chan.await(seq, spin, std::chrono::steady_clock::now() + std::chrono::hours(1));
            if (!rang) continue;
            seq = *rang;
            uint32_t length = chan.length();
            if (length == SharedChannel::kClose) return 0;
            if (length == SharedChannel::kOnSocket) {
                if (!caisson::wire::receive(sock, bytes, fds, "call")) return 0;
            } else if (length <= SharedChannel::kAreaBytes) {
                chan.copy_out(bytes, length);
            } else {
                std::fprintf(stderr, "caisson-plugin-worker: a call of %u bytes\n", length);
                return 1;
            }
            ++seq;
            caisson::wire::Reader in(std::move(bytes), std::move(fds));
            fds.clear();
            std::string name = in.get<std::string>("function name");
            std::string sig = in.get<std::string>("signature");
            auto found = entries.find(name);
            if (found == entries.end()) {
                auto entry = reinterpret_cast<Entry>(::dlsym(handle, ("caisson_plugin_fn_" + name).c_str()));
                if (!entry) {
                    reply_error(sock, chan, seq, "no function " + name + " in " + library);
                    continue;
                }
                found = entries.emplace(name, entry).first;
            }
            out.clear();
            std::string error;
            bool ok = found->second(in, out, sig, error);
            bytes = in.take_bytes();
            if (ok) {
                reply(sock, chan, seq, out);
                // Descriptors a function returns are the host's now.
                for (int fd : out.fds()) ::close(fd);
            } else {
                reply_error(sock, chan, seq, error);
            }
        }
    } catch (const caisson::Error& e) {
        // The host went away (a standby closed before it was used): nothing to report.
        if (e.err() == EPIPE || e.err() == ECONNRESET) return 0;
        std::fprintf(stderr, "caisson-plugin-worker: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "caisson-plugin-worker: %s\n", e.what());
        return 1;
    }
}
