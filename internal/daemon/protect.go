package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"coffer/internal/keystore"
	"coffer/internal/tpm"
)

// tpmProtector seals the system secret to the TPM with a PCR policy
// (default PCR 7) and an optional PIN.
type tpmProtector struct {
	device string
	pcrs   []int
	pin    []byte
}

var _ keystore.Protector = tpmProtector{}

func (p tpmProtector) Kind() string { return "tpm2" }

func (p tpmProtector) Params() map[string]string {
	var s []string
	for _, n := range p.pcrs {
		s = append(s, strconv.Itoa(n))
	}
	m := map[string]string{"pcrs": strings.Join(s, ",")}
	if len(p.pin) > 0 {
		m["pin"] = "yes"
	}
	return m
}

func (p tpmProtector) opts() tpm.Options {
	return tpm.Options{Device: p.device, PCRs: p.pcrs, PIN: p.pin}
}

func (p tpmProtector) Seal(ctx context.Context, secret []byte) ([]byte, error) {
	s, err := tpm.Seal(ctx, p.opts(), secret)
	if err != nil {
		return nil, err
	}
	return s.MarshalBinary()
}

func (p tpmProtector) Unseal(ctx context.Context, blob []byte) ([]byte, error) {
	var s tpm.Sealed
	if err := s.UnmarshalBinary(blob); err != nil {
		return nil, err
	}
	p.pcrs = s.PCRs()
	return tpm.Unseal(ctx, p.opts(), s)
}

func parsePCRs(s string) ([]int, error) {
	if s == "" {
		return []int{7}, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n > 23 {
			return nil, fmt.Errorf("bad PCR '%s' (0 to 23)", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// tpmDevice is the TPM the daemon uses: --tpm, else /dev/tpmrm0.
func (d *Daemon) tpmDevice() string {
	if d.opts.TPM != "" {
		return d.opts.TPM
	}
	return "/dev/tpmrm0"
}

// tpmPresent reports whether a TPM answers, quickly.
func (d *Daemon) tpmPresent() bool {
	dev := d.tpmDevice()
	if !strings.HasPrefix(dev, "tcp://") {
		if _, err := os.Stat(dev); err != nil {
			return false
		}
	}
	done := make(chan error, 1)
	go func() { done <- tpm.Available(tpm.Options{Device: dev}) }()
	select {
	case err := <-done:
		return err == nil
	case <-time.After(5 * time.Second):
		return false
	}
}

// unsealTPM unseals at start; a PIN-protected seal waits for keystore unlock.
func (d *Daemon) unsealTPM(ctx context.Context, st *keystore.Store, pin []byte) error {
	err := st.Unlock(ctx, tpmProtector{device: d.tpmDevice(), pin: pin})
	if errors.Is(err, tpm.ErrPINRequired) {
		return fmt.Errorf("waiting for the TPM PIN: run 'coffer keystore unlock'")
	}
	return err
}
