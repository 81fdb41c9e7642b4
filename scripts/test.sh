#!/usr/bin/env bash
# Run every test: installs what the tests need on a bare Debian machine,
# then vet, the whole suite, the race detector on the core packages, and a
# short run of every fuzz target. Needs root (FUSE mounts, apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin:$HOME/go/bin

bash scripts/deps.sh

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
# Fuzz targets, briefly (COFFER_FUZZTIME, default 5s each).
bash scripts/fuzz.sh
