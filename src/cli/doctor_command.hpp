// `caisson doctor [--json]`: one line per mechanism (works, fails with the reason and the
// fix, or does not apply), then whether the default sandbox runs here. Exit 0 when it does.
#pragma once

namespace caisson::cli {

int doctor_command(bool json);

}  // namespace caisson::cli
