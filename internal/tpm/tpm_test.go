package tpm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

func secret32(t *testing.T) []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// roundTrip marshals and unmarshals s, as the daemon does through disk.
func roundTrip(t *testing.T, s Sealed) Sealed {
	t.Helper()
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var out Sealed
	if err := out.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	return out
}

// noLeak fails when an error message contains the secret or the PIN.
func noLeak(t *testing.T, err error, secrets ...[]byte) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if len(s) > 0 && (strings.Contains(err.Error(), string(s)) || strings.Contains(err.Error(), hex.EncodeToString(s))) {
			t.Fatalf("error message leaks a secret: %v", err)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error message is not one line: %q", err)
	}
}

func TestSealUnsealRebootAndPCRChange(t *testing.T) {
	t.Parallel()
	tp := startSwtpm(t)
	ctx := ctxT(t)
	o := tp.opts(nil, "")
	if err := Available(o); err != nil {
		t.Fatalf("Available: %v", err)
	}
	secret := secret32(t)
	s, err := Seal(ctx, o, secret)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if got := s.PCRs(); len(got) != 1 || got[0] != 7 || s.PINRequired() {
		t.Fatalf("sealed to PCRs %v, pin %v; want [7], false", got, s.PINRequired())
	}
	s = roundTrip(t, s)
	got, err := Unseal(ctx, o, s)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Unseal = %x, %v; want the secret", got, err)
	}

	// Reboot: same TPM state, PCRs back to their boot values.
	tp.reboot()
	o = tp.opts(nil, "")
	got, err = Unseal(ctx, o, s)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("after reboot: Unseal = %x, %v; want the secret", got, err)
	}

	// Secure Boot configuration changes: PCR 7 is extended.
	tp.extend(7, "a different Secure Boot db")
	_, err = Unseal(ctx, o, s)
	if !errors.Is(err, ErrPCRMismatch) {
		t.Fatalf("after PCR 7 changed: Unseal error = %v, want ErrPCRMismatch", err)
	}
	want := "TPM refused: PCR values differ from when the secret was sealed (PCR 7 changed)"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	noLeak(t, err, secret)

	// The next boot measures the old configuration again: unseal works.
	tp.reboot()
	o = tp.opts(nil, "")
	if got, err := Unseal(ctx, o, s); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("after second reboot: Unseal = %x, %v", got, err)
	}

	// Sealing again in the new state binds to the new values.
	tp.extend(7, "a different Secure Boot db")
	s2, err := Seal(ctx, o, secret)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Unseal(ctx, o, s2); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("resealed: Unseal = %x, %v", got, err)
	}
	if _, err := Unseal(ctx, o, s); !errors.Is(err, ErrPCRMismatch) {
		t.Fatalf("old blob in new state: %v, want ErrPCRMismatch", err)
	}
}

func TestPIN(t *testing.T) {
	t.Parallel()
	tp := startSwtpm(t)
	ctx := ctxT(t)
	secret := secret32(t)
	pin := "1234-correct horse"
	s, err := Seal(ctx, tp.opts(nil, pin), secret)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if !s.PINRequired() {
		t.Fatal("PINRequired = false")
	}
	s = roundTrip(t, s)
	if got, err := Unseal(ctx, tp.opts(nil, pin), s); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("right PIN: Unseal = %x, %v", got, err)
	}
	_, err = Unseal(ctx, tp.opts(nil, "1235-correct horse"), s)
	if !errors.Is(err, ErrBadPIN) {
		t.Fatalf("wrong PIN: %v, want ErrBadPIN", err)
	}
	noLeak(t, err, secret, []byte(pin))
	if _, err := Unseal(ctx, tp.opts(nil, ""), s); !errors.Is(err, ErrPINRequired) {
		t.Fatalf("no PIN: %v, want ErrPINRequired", err)
	}
	// The right PIN after a wrong one still works (one failure is far
	// below the lockout threshold).
	if got, err := Unseal(ctx, tp.opts(nil, pin), s); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("right PIN again: Unseal = %x, %v", got, err)
	}
	// The PIN does not replace the PCR policy.
	tp.extend(7, "changed")
	if _, err := Unseal(ctx, tp.opts(nil, pin), s); !errors.Is(err, ErrPCRMismatch) {
		t.Fatalf("right PIN, PCR 7 changed: %v, want ErrPCRMismatch", err)
	}

	// A blob without PIN refuses a PIN rather than ignoring it.
	s2, err := Seal(ctx, tp.opts(nil, ""), secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Unseal(ctx, tp.opts(nil, pin), s2); !errors.Is(err, ErrNoPIN) {
		t.Fatalf("PIN for a PIN-less blob: %v, want ErrNoPIN", err)
	}
}

func TestCustomPCRs(t *testing.T) {
	t.Parallel()
	tp := startSwtpm(t)
	ctx := ctxT(t)
	secret := []byte("a shorter secret")
	o := tp.opts([]int{7, 0}, "")
	s, err := Seal(ctx, o, secret)
	if err != nil {
		t.Fatal(err)
	}
	s = roundTrip(t, s)
	if got := s.PCRs(); len(got) != 2 || got[0] != 0 || got[1] != 7 {
		t.Fatalf("PCRs = %v, want [0 7]", got)
	}
	// A PCR outside the selection may change.
	tp.extend(9, "initrd")
	if got, err := Unseal(ctx, o, s); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Unseal = %q, %v", got, err)
	}
	tp.extend(0, "new firmware")
	_, err = Unseal(ctx, o, s)
	if !errors.Is(err, ErrPCRMismatch) || !strings.Contains(err.Error(), "(PCR 0 changed)") {
		t.Fatalf("PCR 0 changed: %v", err)
	}
	// Options with more PCRs than eight read in one go, and bad ones.
	many := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	s3, err := Seal(ctx, tp.opts(many, ""), secret)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Unseal(ctx, tp.opts(many, ""), roundTrip(t, s3)); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("17 PCRs: Unseal = %q, %v", got, err)
	}
	for _, bad := range [][]int{{24}, {-1}, {7, 7}} {
		if _, err := Seal(ctx, tp.opts(bad, ""), secret); err == nil {
			t.Errorf("Seal with PCRs %v succeeded", bad)
		}
	}
	for _, n := range []int{0, MaxSecret + 1} {
		if _, err := Seal(ctx, o, make([]byte, n)); err == nil {
			t.Errorf("Seal of %d bytes succeeded", n)
		}
	}
}

func TestOtherTPMAndTamper(t *testing.T) {
	t.Parallel()
	a, b := startSwtpm(t), startSwtpm(t)
	ctx := ctxT(t)
	secret := secret32(t)
	s, err := Seal(ctx, a.opts(nil, ""), secret)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Unseal(ctx, b.opts(nil, ""), s)
	if !errors.Is(err, ErrWrongTPM) {
		t.Fatalf("other TPM: %v, want ErrWrongTPM", err)
	}
	noLeak(t, err, secret)

	// Blobs forged to look as if from B: the TPM's own integrity check
	// refuses them.
	sb, err := Seal(ctx, b.opts(nil, ""), secret)
	if err != nil {
		t.Fatal(err)
	}
	forged := s
	forged.srkName = sb.srkName
	if _, err := Unseal(ctx, b.opts(nil, ""), forged); !errors.Is(err, ErrWrongTPM) {
		t.Fatalf("forged parent name: %v, want ErrWrongTPM", err)
	}
	damaged := sb
	damaged.private = append([]byte(nil), sb.private...)
	damaged.private[len(damaged.private)-1] ^= 1
	if _, err := Unseal(ctx, b.opts(nil, ""), damaged); !errors.Is(err, ErrWrongTPM) {
		t.Fatalf("damaged private: %v, want ErrWrongTPM", err)
	}
	// Both TPMs still work: nothing was left loaded.
	for range 5 {
		if got, err := Unseal(ctx, b.opts(nil, ""), sb); err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("Unseal on B = %x, %v", got, err)
		}
	}
}

func TestNoTPM(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	dev := t.TempDir() + "/tpmrm0"
	err := Available(Options{Device: dev})
	if !errors.Is(err, ErrNoTPM) || err.Error() != "no TPM at "+dev {
		t.Fatalf("Available(%s) = %v", dev, err)
	}
	port := freePorts(t)
	o := Options{Device: "tcp://127.0.0.1:" + itoa(port)}
	if _, err := Seal(ctx, o, []byte("x")); !errors.Is(err, ErrNoTPM) {
		t.Fatalf("Seal to closed port: %v", err)
	}
	if err := Available(Options{Device: "tcp://nocolon"}); err == nil {
		t.Fatal("bad address accepted")
	}
}
