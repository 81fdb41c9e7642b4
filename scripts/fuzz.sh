#!/usr/bin/env bash
# Run every fuzz target of the module for COFFER_FUZZTIME each (default 5s;
# make torture uses 2m). go test -fuzz takes one target and one package at
# a time. A crash is a failure and leaves its input under the package's
# testdata/fuzz/<target>; the fuzzing engine itself sometimes dies under
# load ("fuzzing process terminated unexpectedly"), so a run that fails
# without writing a crash input is retried once.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin:$HOME/go/bin

fuzztime=${COFFER_FUZZTIME:-5s}
for pkg in $(go list ./internal/...); do
	for f in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		dir=$(go list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$f
		before=$(ls "$dir" 2>/dev/null | wc -l || true)
		ok=0
		for try in 1 2; do
			if out=$(go test -run '^$' -fuzz "^${f}\$" -fuzztime "$fuzztime" "$pkg" 2>&1); then
				ok=1
				break
			fi
			echo "$out" | tail -20
			after=$(ls "$dir" 2>/dev/null | wc -l || true)
			if [ "$after" -gt "$before" ]; then
				echo "fuzz FAILED: $pkg $f found a crashing input in $dir" >&2
				exit 1
			fi
			echo "fuzz engine failure on $pkg $f (try $try), retrying" >&2
		done
		[ "$ok" = 1 ] || { echo "fuzz FAILED: $pkg $f" >&2; exit 1; }
		echo "fuzz ok: $pkg $f"
	done
done
