package tpm

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
)

// The TPM tests run against a real swtpm. They never skip: when swtpm or
// tpm2-tools is missing they install it with apt-get, and fail with the
// reason when that does not work.

var (
	toolsOnce sync.Once
	toolsErr  error
)

var neededTools = []string{"swtpm", "tpm2_unseal", "tpm2_load", "tpm2_createprimary"}

func needTools(t testing.TB) {
	t.Helper()
	toolsOnce.Do(func() {
		missing := func() []string {
			var m []string
			for _, b := range neededTools {
				if _, err := exec.LookPath(b); err != nil {
					m = append(m, b)
				}
			}
			return m
		}
		if len(missing()) == 0 {
			return
		}
		install := func() ([]byte, error) {
			cmd := exec.Command("apt-get", "install", "-y", "--no-install-recommends", "swtpm", "swtpm-tools", "tpm2-tools")
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			return cmd.CombinedOutput()
		}
		out, err := install()
		if err != nil {
			_, _ = exec.Command("apt-get", "update").CombinedOutput()
			out, err = install()
		}
		if m := missing(); len(m) > 0 {
			toolsErr = fmt.Errorf("TPM tests need swtpm and tpm2-tools (Debian: apt-get install -y swtpm swtpm-tools tpm2-tools); still missing %v after apt-get (%v):\n%s", m, err, out)
		}
	})
	if toolsErr != nil {
		t.Fatal(toolsErr)
	}
}

// swtpm is one running software TPM with its own state directory.
type swtpm struct {
	t     testing.TB
	state string
	port  int // command port; the control port is port+1
	cmd   *exec.Cmd
	done  chan struct{}
}

// startSwtpm starts a fresh swtpm on free loopback ports; it is stopped in
// Cleanup.
func startSwtpm(t testing.TB) *swtpm {
	t.Helper()
	needTools(t)
	s := &swtpm{t: t, state: t.TempDir()}
	s.start()
	t.Cleanup(s.stop)
	return s
}

// freePorts finds P with P and P+1 both free on 127.0.0.1.
func freePorts(t testing.TB) int {
	for range 50 {
		l1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l1.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		l1.Close()
		if err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("no two adjacent free TCP ports on 127.0.0.1")
	return 0
}

func (s *swtpm) start() {
	s.t.Helper()
	var lastErr error
	for range 5 {
		s.port = freePorts(s.t)
		log := filepath.Join(s.state, "swtpm.log")
		cmd := exec.Command("swtpm", "socket", "--tpm2",
			"--tpmstate", "dir="+s.state,
			"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", s.port),
			"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", s.port+1),
			"--flags", "not-need-init,startup-clear",
			"--log", "file="+log)
		if err := cmd.Start(); err != nil {
			s.t.Fatalf("start swtpm: %v", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		if err := waitPort(s.port+1, done); err != nil {
			lastErr = err
			_ = cmd.Process.Kill()
			<-done
			continue
		}
		s.cmd, s.done = cmd, done
		return
	}
	s.t.Fatalf("swtpm did not come up: %v", lastErr)
}

// waitPort waits until swtpm listens (probing the control port, so the
// single-client command port stays free).
func waitPort(port int, exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("swtpm exited")
		default:
		}
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("timeout")
}

func (s *swtpm) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// reboot stops swtpm and starts it again on the same state: PCRs go back
// to their power-on values, the seeds (and so the SRK) stay.
func (s *swtpm) reboot() {
	s.t.Helper()
	s.stop()
	s.start()
}

func (s *swtpm) device() string { return fmt.Sprintf("tcp://127.0.0.1:%d", s.port) }

func (s *swtpm) opts(pcrs []int, pin string) Options {
	o := Options{Device: s.device(), PCRs: pcrs}
	if pin != "" {
		o.PIN = []byte(pin)
	}
	return o
}

// extend extends a SHA-256 PCR through this package's transport, as a
// boot loader measuring a changed Secure Boot configuration would.
func (s *swtpm) extend(pcr int, data string) {
	s.t.Helper()
	c, err := open(context.Background(), Options{Device: s.device()})
	if err != nil {
		s.t.Fatal(err)
	}
	defer c.Close()
	d := sha256.Sum256([]byte(data))
	_, err = tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(pcr), Auth: tpm2.PasswordAuth(nil)},
		Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: d[:]}}},
	}.Execute(c)
	if err != nil {
		s.t.Fatalf("extend PCR %d: %v", pcr, err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
