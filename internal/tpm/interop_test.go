package tpm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tpm2Tools runs tpm2-tools against tp, one tool at a time. swtpm has no
// resource manager, and each tool leaves what it loaded in the TPM (it
// also saves a context file), so transient objects are flushed after each
// step: saved object contexts stay valid after a flush.
type tpm2Tools struct {
	t   *testing.T
	tp  *swtpm
	dir string
}

func (x tpm2Tools) run(args ...string) string {
	x.t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = x.dir
	cmd.Env = append(os.Environ(), "TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port="+itoa(x.tp.port))
	out, err := cmd.CombinedOutput()
	if err != nil {
		x.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (x tpm2Tools) flush() {
	x.t.Helper()
	x.run("tpm2_flushcontext", "-t")
}

// srk makes the same storage root key as this package (TCG ECC P-256 SRK
// template) as srk.ctx. tpm2-tools reads -u as the in-memory C union
// TPMU_PUBLIC_ID of tpm2-tss: per coordinate a little-endian UINT16 size
// and a 128-byte buffer (TPM2_MAX_ECC_KEY_BYTES).
func (x tpm2Tools) srk() {
	x.t.Helper()
	coord := append([]byte{32, 0}, make([]byte, 128)...)
	if err := os.WriteFile(filepath.Join(x.dir, "unique.bin"), append(coord, coord...), 0o600); err != nil {
		x.t.Fatal(err)
	}
	x.run("tpm2_createprimary", "-Q", "-C", "o", "-g", "sha256", "-G", "ecc256:aes128cfb",
		"-a", "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt",
		"-u", "unique.bin", "-c", "srk.ctx")
	x.run("tpm2_readpublic", "-Q", "-c", "srk.ctx", "-n", "srk.name")
	x.flush()
}

func TestInteropTPM2Tools(t *testing.T) {
	t.Parallel()
	tp := startSwtpm(t)
	ctx := ctxT(t)
	x := tpm2Tools{t: t, tp: tp, dir: t.TempDir()}
	x.srk()

	for _, tc := range []struct {
		name string
		pcrs []int
		pin  string
	}{
		{"pcr7", nil, ""},
		{"pcr0,7+pin", []int{0, 7}, "2468"},
	} {
		secret := []byte("secret sealed by coffer: " + tc.name)
		s, err := Seal(ctx, tp.opts(tc.pcrs, tc.pin), secret)
		if err != nil {
			t.Fatal(err)
		}
		name, err := os.ReadFile(filepath.Join(x.dir, "srk.name"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(name, s.srkName) {
			t.Fatalf("tpm2_createprimary made SRK %x, coffer %x", name, s.srkName)
		}
		write := func(f string, b []byte) {
			if err := os.WriteFile(filepath.Join(x.dir, f), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		write("seal.pub", s.TPM2BPublic())
		write("seal.priv", s.TPM2BPrivate())
		x.run("tpm2_load", "-Q", "-C", "srk.ctx", "-u", "seal.pub", "-r", "seal.priv", "-c", "seal.ctx")
		x.flush()
		x.run("tpm2_startauthsession", "--policy-session", "-S", "sess.ctx")
		pcrList := "sha256:7"
		if tc.pcrs != nil {
			pcrList = "sha256:0,7"
		}
		x.run("tpm2_policypcr", "-Q", "-S", "sess.ctx", "-l", pcrList)
		auth := "session:sess.ctx"
		if tc.pin != "" {
			x.run("tpm2_policyauthvalue", "-Q", "-S", "sess.ctx")
			sum := sha256.Sum256([]byte(tc.pin))
			auth += "+hex:" + hex.EncodeToString(sum[:])
		}
		got := x.run("tpm2_unseal", "-c", "seal.ctx", "-p", auth)
		x.flush()
		x.run("tpm2_flushcontext", "-s")
		if got != string(secret) {
			t.Fatalf("%s: tpm2_unseal printed %q, want %q", tc.name, got, secret)
		}
	}

	// The other way: tpm2-tools seals (tpm2_create with a PolicyPCR
	// policy), coffer unseals.
	x.run("tpm2_startauthsession", "-S", "trial.ctx")
	x.run("tpm2_policypcr", "-Q", "-S", "trial.ctx", "-l", "sha256:7", "-L", "pcr.policy")
	x.run("tpm2_flushcontext", "trial.ctx")
	x.run("sh", "-c", "printf 'sealed by tpm2-tools' | tpm2_create -Q -C srk.ctx -g sha256 -L pcr.policy -a 'fixedtpm|fixedparent|noda|adminwithpolicy' -i - -u tools.pub -r tools.priv")
	x.flush()
	pub, _ := os.ReadFile(filepath.Join(x.dir, "tools.pub"))
	priv, _ := os.ReadFile(filepath.Join(x.dir, "tools.priv"))
	srkName, err := os.ReadFile(filepath.Join(x.dir, "srk.name"))
	if err != nil {
		t.Fatal(err)
	}
	vals := func() [][]byte {
		c, err := open(ctx, tp.opts(nil, ""))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		v, err := readPCRs(c, []int{7})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}()
	s := Sealed{pcrs: []int{7}, values: vals, srkName: srkName, public: pub[2:], private: priv[2:]}
	s = roundTrip(t, s)
	got, err := Unseal(ctx, tp.opts(nil, ""), s)
	if err != nil || string(got) != "sealed by tpm2-tools" {
		t.Fatalf("coffer Unseal of a tpm2-tools blob = %q, %v", got, err)
	}
}
