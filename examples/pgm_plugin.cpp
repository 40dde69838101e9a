// The plug-in half of thumbnail: decodes a binary PGM image (P5) from a descriptor the host
// opened, and draws it as text. Written the way decoders in the wild often are: it trusts
// the header. A 16-bit image whose width and height promise a gigabyte makes it allocate
// one (the memory limit ends it), and an 8-bit file shorter than its header says makes it
// read far past its buffer (a crash). In the sandbox either costs the host one error; the file never reaches the
// host's own memory, and the plug-in cannot open anything: it has only the descriptor.
#include <caisson/plugin.hpp>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

std::string read_all(int fd) {
    std::string data;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) data.append(buf, static_cast<size_t>(n));
    ::close(fd);
    if (n < 0) throw std::runtime_error("cannot read the image");
    return data;
}

// The next whitespace-separated number of the header, comments (#...) skipped.
size_t number(const std::string& d, size_t& i) {
    for (;;) {
        while (i < d.size() && std::isspace(static_cast<unsigned char>(d[i]))) ++i;
        if (i < d.size() && d[i] == '#') {
            while (i < d.size() && d[i] != '\n') ++i;
            continue;
        }
        break;
    }
    if (i >= d.size() || !std::isdigit(static_cast<unsigned char>(d[i]))) throw std::runtime_error("not a PGM header");
    size_t v = 0;
    while (i < d.size() && std::isdigit(static_cast<unsigned char>(d[i]))) v = v * 10 + static_cast<size_t>(d[i++] - '0');
    return v;
}

}  // namespace

std::string thumbnail(caisson::wire::Fd image, int64_t columns) {
    std::string d = read_all(image.fd);
    if (d.compare(0, 2, "P5") != 0) throw std::runtime_error("not a binary PGM (P5) image");
    size_t i = 2;
    size_t width = number(d, i), height = number(d, i), maxval = number(d, i);
    if (width == 0 || height == 0 || maxval == 0 || maxval > 65535) throw std::runtime_error("unsupported PGM header");
    ++i;  // the single whitespace before the pixels
    // Trusted, as in the wild: the header's size, not the file's.
    const unsigned char* pixels = reinterpret_cast<const unsigned char*>(d.data()) + i;
    std::vector<unsigned char> eight;
    if (maxval > 255) {  // 16-bit samples, big-endian: converted to 8 bits first
        eight.resize(width * height);
        for (size_t p = 0; p < eight.size(); ++p) eight[p] = pixels[2 * p];
        pixels = eight.data();
        maxval >>= 8;
    }
    const char* ramp = " .:-=+*#%@";
    size_t cols = static_cast<size_t>(columns > 0 ? columns : 32);
    size_t rows = std::max<size_t>(1, cols * height / width / 2);
    std::string out;
    for (size_t r = 0; r < rows; ++r) {
        for (size_t c = 0; c < cols; ++c) {
            unsigned v = pixels[(r * height / rows) * width + c * width / cols];
            out += ramp[v * 9 / maxval];
        }
        out += '\n';
    }
    return out;
}

CAISSON_PLUGIN_FUNCTION(thumbnail)
