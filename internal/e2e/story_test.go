package e2e

import (
	"strings"
	"testing"
)

// TestUserStory is the story, command for command: an encrypted
// dataset with a piped passphrase and default PBKDF2 work, an inheriting
// child, a snapshot, unload, wrong and right passphrases, and a daemon
// restart that locks it again.
func TestUserStory(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.newPool("tank")

	d.okIn(pass("correct horse battery"), "create", "-o", "encryption=on", "-o", "keyformat=passphrase", "tank/media")

	out := d.ok("get", "-p", "encryption,keystatus,pbkdf2iters,encryptionroot", "tank/media")
	want := "NAME        PROPERTY        VALUE        SOURCE\n" +
		"tank/media  encryption      aes-256-gcm  -\n" +
		"tank/media  keystatus       available    -\n" +
		"tank/media  pbkdf2iters     350000       -\n" +
		"tank/media  encryptionroot  tank/media   -\n"
	if out != want {
		t.Errorf("get -p:\n%s\nwant:\n%s", out, want)
	}
	if got := d.props("tank/media", "keyformat", "keylocation"); got["keyformat"] != "passphrase" || got["keylocation"] != "prompt" {
		t.Errorf("tank/media keyformat/keylocation = %v", got)
	}

	// A child inherits encryption and key.
	d.ok("create", "tank/media/photos")
	p := d.props("tank/media/photos", "encryption", "keystatus", "encryptionroot", "keyformat")
	if p["encryption"] != "aes-256-gcm" || p["keystatus"] != "available" || p["encryptionroot"] != "tank/media" || p["keyformat"] != "passphrase" {
		t.Errorf("tank/media/photos = %v", p)
	}

	d.ok("snapshot", "tank/media@first")
	if got := d.names("-t", "snapshot"); strings.Join(got, ",") != "tank/media@first" {
		t.Errorf("snapshots = %v", got)
	}

	checkLocked := func(when string, status string) {
		t.Helper()
		for _, ds := range []string{"tank/media", "tank/media/photos", "tank/media@first"} {
			if got := d.prop(ds, "keystatus"); got != status {
				t.Errorf("%s: %s keystatus = %q, want %q", when, ds, got, status)
			}
		}
	}

	d.ok("unload-key", "tank/media")
	checkLocked("after unload-key", "unavailable")
	// Locked datasets can still be listed and snapshotted.
	d.ok("snapshot", "tank/media/photos@locked")
	d.ok("list", "-r", "-t", "all", "tank/media")

	d.unchanged("wrong passphrase", func() {
		r := d.failIn(pass("wrong horse battery"), 1, "cannot load key for 'tank/media': ", "load-key", "tank/media")
		cannot(t, r)
	})
	checkLocked("after a wrong passphrase", "unavailable")

	d.okIn(pass("correct horse battery"), "load-key", "tank/media")
	checkLocked("after load-key", "available")

	d.restart()
	checkLocked("after restart", "unavailable")
	if got := d.prop("tank/media", "pbkdf2iters"); got != "350000" {
		t.Errorf("pbkdf2iters after restart = %q", got)
	}
	d.okIn(pass("correct horse battery"), "load-key", "tank/media")
	checkLocked("after load-key after restart", "available")
	if got := d.names("-r", "-t", "all", "tank"); strings.Join(got, ",") != "tank,tank/media,tank/media@first,tank/media/photos,tank/media/photos@locked" {
		t.Errorf("after restart: %v", got)
	}
}
