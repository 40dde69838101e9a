# caisson: the two commands of the quick start, and the long runs.
#   make demo    install what is missing, build, and run a sandbox that shows what it isolates
#   make check   install what is missing, build, and run every test (as root)
#   make bench   start latency against bubblewrap and firejail; seccomp cost against libseccomp;
#                what cgroups add to a start, against crun
BUILD ?= build
JOBS ?= 2
MAKEFLAGS += --no-print-directory

.PHONY: all setup build demo check bench clean

all: build

setup:
	@bash scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

demo: build
	@bash scripts/demo.sh $(BUILD)/caisson

check: build
	@# Serial: every test binary checks afterwards that nothing of its own is left on the
	@# machine, which a test running beside it would blur.
	@cd $(BUILD) && ctest --output-on-failure --timeout 120

bench: build
	@bash scripts/setup.sh --bench
	@bash bench/start_latency.sh $(BUILD)/caisson
	@$(BUILD)/bench/seccomp_cost
	@$(BUILD)/bench/cgroup_ops
	@bash bench/cgroup_start.sh $(BUILD)/caisson

clean:
	rm -rf $(BUILD)
