#!/bin/bash
# coffer's one-command benchmark: as root, installs the peers (Debian's
# gocryptfs, restic, fio) when missing, builds coffer, and measures every
# performance target against its peer or physical ceiling on this machine,
# interleaved, in one run. Writes bench/results/DATE.json and, for a full
# run, the table and chart into docs/benchmarks.md and docs/benchmarks.png.
#
#   bench/run.sh                 # full run: 5 pairs, 1 GiB files, 4 GiB send data set
#   bench/run.sh --quick         # small sizes, 2 pairs, to try it out (docs/ left alone)
#   bench/run.sh --pairs 7 --size 2G --big-size 8G
#   bench/run.sh --only P1,P2    # some figures only
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "bench/run.sh: run as root (FUSE mounts, package installs)" >&2
	exit 1
fi
missing=()
for tool in gocryptfs restic fio; do
	command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench/run.sh: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq "${missing[@]}"; }
fi
modprobe fuse 2>/dev/null || true
mkdir -p bin
go build -o bin/coffer ./cmd/coffer
go build -o bin/bench-pipeline ./bench/pipeline
exec go run ./bench/runner --coffer bin/coffer --pipeline bin/bench-pipeline "$@"
