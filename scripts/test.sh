#!/usr/bin/env bash
# Run every test: installs what the tests need on a bare Debian machine,
# then vet, the whole suite, the race detector on the core packages, and a
# short run of every fuzz target. Needs root (FUSE mounts, apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin:$HOME/go/bin

need=()
for tool in fusermount3:fuse3 sqlite3:sqlite3 git:git tar:tar /usr/sbin/sshd:openssh-server ssh:openssh-client ssh-keygen:openssh-client swtpm:swtpm swtpm_setup:swtpm-tools tpm2_pcrextend:tpm2-tools softhsm2-util:softhsm2 pykmip-server:python3-pykmip stress-ng:stress-ng; do
	command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "installing: ${need[*]}"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -e /dev/fuse ] || { echo "/dev/fuse is missing: FUSE tests cannot run" >&2; exit 1; }

# MinIO, the real S3 server of the remote tests, built from the Go module
# proxy at the version internal/e2e/s3_test.go pins, into the cache the test
# looks in (it builds it itself when missing, but slowly, inside its timeout).
minio_version=$(sed -n 's/^const minioVersion = "\(.*\)"$/\1/p' internal/e2e/s3_test.go)
[ -n "$minio_version" ] || { echo "cannot find minioVersion in internal/e2e/s3_test.go" >&2; exit 1; }
minio_dir=${COFFER_TEST_CACHE:-$HOME/.cache/coffer-test}/minio-$minio_version
if [ ! -x "$minio_dir/minio" ]; then
	echo "installing: minio $minio_version (go install, a few minutes)"
	mkdir -p "$minio_dir"
	GOBIN="$minio_dir" CGO_ENABLED=0 go install "github.com/minio/minio@$minio_version"
fi

unformatted=$(gofmt -l $(git ls-files '*.go'))
[ -z "$unformatted" ] || { echo "gofmt needed:"; echo "$unformatted"; exit 1; }
go vet ./...
go test -count=1 -timeout 30m ./...
go test -count=1 -race -timeout 20m ./internal/crypto/... ./internal/format/... ./internal/pool/... ./internal/dmu/... ./internal/dsl/... ./internal/vdev/... ./internal/compress/... ./internal/api/...
# Fuzz targets, briefly (go test -fuzz takes one target and one package at a
# time). A crash is a failure; the fuzzing engine itself sometimes dies under
# load ("fuzzing process terminated unexpectedly"), so a run that fails
# without writing a crash input is retried once.
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
