// caisson::Error (include/caisson/error.hpp), in the lowest layer: every layer reports with it.
#include <caisson/error.hpp>

#include <cstring>

namespace caisson {

Error::Error(ErrorKind kind, std::string step, std::string object, int err)
    : std::runtime_error([&] {
          std::string m = step;
          if (!object.empty()) m += ": " + object;
          if (err) m += ": " + std::string(std::strerror(err));
          return m;
      }()),
      kind_(kind),
      step_(std::move(step)),
      object_(std::move(object)),
      err_(err) {}

}  // namespace caisson
