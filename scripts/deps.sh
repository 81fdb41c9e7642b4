#!/usr/bin/env bash
# Install what the tests need on a bare Debian machine (apt-get, so root)
# and check that FUSE is usable. Used by scripts/test.sh and make torture.
set -euo pipefail

need=()
for tool in fusermount3:fuse3 sqlite3:sqlite3 git:git tar:tar /usr/sbin/sshd:openssh-server ssh:openssh-client ssh-keygen:openssh-client swtpm:swtpm swtpm_setup:swtpm-tools tpm2_pcrextend:tpm2-tools softhsm2-util:softhsm2 pykmip-server:python3-pykmip stress-ng:stress-ng; do
	command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "installing: ${need[*]}"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -e /dev/fuse ] || { echo "/dev/fuse is missing: FUSE tests cannot run" >&2; exit 1; }
