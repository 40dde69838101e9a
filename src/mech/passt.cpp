#include "mech/passt.hpp"

#include "mech/pasta.hpp"

namespace caisson::mech {

std::string find_passt() { return find_program("passt", "CAISSON_PASST"); }

}  // namespace caisson::mech
