// macro_doc: expands the {{ expression }} macros of a document, each one evaluated by a
// plug-in in a sandbox (no files, no network, no new processes, 64 MiB, 1 s per macro).
// A macro that crashes the evaluator, loops, or eats memory becomes "[macro failed: ...]"
// in the output and a line on stderr; the other macros are still expanded.
//   macro_doc EVALUATOR.so < document > expanded
#include <caisson/plugin.hpp>

#include <iostream>
#include <iterator>
#include <string>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: macro_doc EVALUATOR.so < document\n";
        return 2;
    }
    std::string doc((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    caisson::PluginOptions options;
    options.library = argv[1];
    options.memory_bytes = 64u << 20;
    options.call_timeout_s = 1;
    // One document's macros share a worker: the evaluator keeps no state between them, and
    // a macro that kills it gets the next macro a new one.
    try {
        caisson::Plugin evaluator(options);
        size_t pos = 0, n = 0;
        while (pos < doc.size()) {
            size_t open = doc.find("{{", pos);
            size_t close = open == std::string::npos ? open : doc.find("}}", open + 2);
            if (close == std::string::npos) {
                std::cout << doc.substr(pos);
                break;
            }
            std::cout << doc.substr(pos, open - pos);
            ++n;
            try {
                std::cout << evaluator.call<std::string>("evaluate", doc.substr(open + 2, close - open - 2));
            } catch (const caisson::PluginError& e) {
                std::cout << "[macro failed: " << caisson::plugin_failure_name(e.failure()) << "]";
                std::cerr << "macro_doc: macro " << n << ": " << e.what() << "\n";
            }
            pos = close + 2;
        }
    } catch (const caisson::PluginError& e) {
        std::cerr << "macro_doc: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
