# caisson: the two commands of the quick start, and the long runs.
#   make demo    install what is missing, build, and run a sandbox that shows what it isolates
#   make check   install what is missing, build, and run every test (as root)
#   make bench   start latency against bubblewrap and firejail; seccomp cost against libseccomp;
#                OCI create-to-delete against crun and runc; pods through containerd's CRI
#                against runc;
#                what cgroups add to a start, against crun
#   make fuzz    libFuzzer (clang, ASan, UBSan) on every parser, FUZZ_SECONDS each, from the
#                committed seeds (fuzz/corpus, kept minimal) into a working corpus under
#                build-fuzz/corpus; `bash fuzz/run.sh build-fuzz minimize` refreshes the seeds
#   make soak    SOAK_RUNS sandboxes (random limits, supervisors SIGKILLed), then a leak check
BUILD ?= build
JOBS ?= 2
MAKEFLAGS += --no-print-directory

FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60

SOAK_RUNS ?= 10000

.PHONY: all setup build demo check bench fuzz soak clean

all: build

setup:
	@bash scripts/setup.sh

# umask 022: as root, caisson refuses to exec a helper (caisson-net, caisson-egress) that its
# group or others could rewrite, and a build under umask 002 would make every file so.
build: setup
	@umask 022 && cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON -DCAISSON_BENCH=ON >/dev/null
	@umask 022 && cmake --build $(BUILD) -j$(JOBS)

# The quick start: only what building caisson needs, only the caisson executable, then
# what this host gives it (caisson doctor) and a sandbox that shows what it isolates.
demo:
	@bash scripts/setup.sh --demo
	@umask 022 && cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF -DCAISSON_BENCH=OFF >/dev/null
	@umask 022 && cmake --build $(BUILD) -j$(JOBS) --target caisson
	@$(BUILD)/caisson doctor || true
	@echo
	@bash scripts/demo.sh $(BUILD)/caisson

check: build
	@bash scripts/setup.sh --check
	@# The guest kernel of --vm (some minutes, once; kept until its source or options change):
	@# the tests of --vm's overlay and network need what it builds in.
	@if [ "$$(id -u)" -eq 0 ]; then bash scripts/vm-kernel.sh; fi
	@bash scripts/check-reach.sh $(BUILD)
	@# Serial: every test binary checks afterwards that nothing of its own is left on the
	@# machine, which a test running beside it would blur.
	@cd $(BUILD) && ctest --output-on-failure --timeout 120

bench: build
	@bash scripts/setup.sh --bench
	@bash bench/report.sh $(BUILD)

soak: build
	@$(BUILD)/tests/soak $(BUILD)/caisson $(BUILD)/tests/probe $(SOAK_RUNS) 2

fuzz:
	@bash scripts/setup.sh --fuzz
	@CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -DCAISSON_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS)
	@bash fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)
