#!/usr/bin/env bash
# Run every test: installs what the tests need on a bare Debian machine,
# then vet, the whole suite, the race detector on the core packages, and a
# short run of every fuzz target. Needs root (FUSE mounts, apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin:$HOME/go/bin

need=()
for tool in fusermount3:fuse3 sqlite3:sqlite3 git:git tar:tar /usr/sbin/sshd:openssh-server ssh:openssh-client ssh-keygen:openssh-client; do
	command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "installing: ${need[*]}"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -e /dev/fuse ] || { echo "/dev/fuse is missing: FUSE tests cannot run" >&2; exit 1; }

unformatted=$(gofmt -l $(git ls-files '*.go'))
[ -z "$unformatted" ] || { echo "gofmt needed:"; echo "$unformatted"; exit 1; }
go vet ./...
go test -count=1 -timeout 30m ./...
go test -count=1 -race -timeout 20m ./internal/crypto/... ./internal/format/... ./internal/pool/... ./internal/dmu/... ./internal/dsl/... ./internal/vdev/... ./internal/compress/... ./internal/api/...
# Fuzz targets, briefly (go test -fuzz takes one target and one package at a time).
fuzztime=${COFFER_FUZZTIME:-5s}
for pkg in $(go list ./internal/...); do
	for f in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		go test -run '^$' -fuzz "^${f}\$" -fuzztime "$fuzztime" "$pkg" >/dev/null
		echo "fuzz ok: $pkg $f"
	done
done
