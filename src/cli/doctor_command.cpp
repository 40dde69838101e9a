#include "cli/doctor_command.hpp"

#include <caisson/doctor.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>

namespace caisson::cli {

int doctor_command(bool json) {
    doctor::Report r = doctor::examine();
    if (json) {
        nlohmann::ordered_json j;
        j["checks"] = nlohmann::ordered_json::array();
        for (const auto& c : r.checks)
            j["checks"].push_back({{"name", c.name}, {"status", doctor::status_name(c.status)}, {"detail", c.detail}, {"fix", c.fix}});
        j["default_run_works"] = r.default_run_works;
        if (!r.default_run_works) j["default_run_error"] = r.default_run_error;
        if (!r.best_available.empty()) j["best_available"] = r.best_available;
        std::printf("%s\n", j.dump(2).c_str());
    } else {
        for (const auto& c : r.checks) {
            std::printf("%-6s %-33s %s", doctor::status_name(c.status), c.name.c_str(), c.detail.c_str());
            if (!c.fix.empty()) std::printf(" (fix: %s)", c.fix.c_str());
            std::printf("\n");
        }
        if (r.default_run_works) std::printf("\ncaisson run works here with every default.\n");
        else std::printf("\ncaisson run does NOT work here with its defaults: %s\n", r.default_run_error.c_str());
        if (!r.best_available.empty()) std::printf("Best available here: %s.\n", r.best_available.c_str());
    }
    return r.default_run_works ? 0 : 1;
}

}  // namespace caisson::cli
