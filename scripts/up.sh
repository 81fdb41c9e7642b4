#!/usr/bin/env bash
# Build coffer, start the daemon if it is not running, and make sure a pool
# named "tank" exists. Safe to run again. Needs root (FUSE, /run, /var/lib).
set -euo pipefail
cd "$(dirname "$0")/.."
state=${COFFER_STATE:-/var/lib/coffer}
export COFFER_SOCKET=${COFFER_SOCKET:-/run/coffer/coffer.sock}
mkdir -p "$(dirname "$COFFER_SOCKET")" "$state"
go build -o bin/coffer ./cmd/coffer
install -m 0755 bin/coffer /usr/local/bin/coffer
if ! coffer pool list >/dev/null 2>&1; then
	nohup coffer daemon --state "$state" --socket "$COFFER_SOCKET" >>"$state/daemon.log" 2>&1 &
	for _ in $(seq 50); do coffer pool list >/dev/null 2>&1 && break; sleep 0.1; done
	coffer pool list >/dev/null || { echo "daemon did not start; see $state/daemon.log" >&2; exit 1; }
fi
if ! coffer list tank >/dev/null 2>&1; then
	coffer pool create tank "$state/vdevs/tank-0"
fi
coffer pool list
cat <<MSG

coffer is running (socket $COFFER_SOCKET, state $state, log $state/daemon.log).
Next:
  echo 'correct horse battery' | coffer create -o encryption=on -o keyformat=passphrase tank/media
  coffer get -p encryption,keystatus,pbkdf2iters,encryptionroot tank/media
  coffer create tank/media/photos
  coffer snapshot -r tank/media@first
  coffer list -t all -r tank
  coffer unload-key tank/media
  echo 'correct horse battery' | coffer load-key tank/media
MSG
