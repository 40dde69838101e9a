# The layers, once, for both checks (sourced by check-layers.sh and check-layer-symbols.sh):
# what each directory of src/ may use, itself included.
#   kernel -> filter -> policy -> mech -> run -> oci, plugin (the library's faces' cores)
#   net (the network helper) uses kernel, policy and mech
#   cli (the executables) and python (the Python module) see include/caisson only
declare -A allowed=(
  [kernel]="kernel"
  [filter]="kernel filter"
  [policy]="kernel filter policy"
  [mech]="kernel filter policy mech"
  [run]="kernel filter policy mech run"
  [oci]="kernel filter policy mech run oci"
  [plugin]="kernel filter policy mech run plugin"
  [net]="kernel policy mech net"
  [cli]="cli"
  [python]="python"
)
# Those built as object libraries of libcaisson (CMakeFiles/caisson_layer_NAME.dir).
library_layers="kernel filter policy mech run oci plugin"
