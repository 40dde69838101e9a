#include "mech/process_start.hpp"

#include <fstream>
#include <iterator>
#include <sstream>

namespace caisson::mech {

std::string process_start_time(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto close = stat.rfind(')');
    if (close == std::string::npos || close + 2 > stat.size()) return {};
    std::istringstream in(stat.substr(close + 2));
    std::string field;
    for (int i = 3; i <= 22 && in >> field; ++i)
        if (i == 22) return field;
    return {};
}

}  // namespace caisson::mech
