# make test     the CI suite: scripts/test.sh (installs what it needs; root)
# make torture  the long torture: hundreds of kill -9 cycles, faults, mirror
#               repair and the leak scan (COFFER_TORTURE_LONG=1), the load
#               test for 10 minutes, stress-ng for a minute per group, and
#               every fuzz target for FUZZTIME (2m) each. About 75 minutes on 2 cores; root.
# make fuzz     only the fuzz targets, FUZZTIME each.

export PATH := $(PATH):/usr/local/go/bin:$(HOME)/go/bin

FUZZTIME ?= 2m

.PHONY: test torture fuzz

test:
	bash scripts/test.sh

torture:
	bash scripts/deps.sh
	COFFER_TORTURE_LONG=1 go test -count=1 -v -timeout 6h ./internal/torture/
	COFFER_TORTURE_LONG=1 go test -count=1 -v -timeout 2h -run '^(TestLoad|TestStressNG|TestKillDaemonDuringWrites)$$' ./internal/e2e/
	COFFER_FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

fuzz:
	COFFER_FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh
