// Package kmiptest starts a real PyKMIP server (Debian python3-pykmip) for
// tests, with a generated ECDSA P-256 CA, server and client certificates.
// It installs the package with apt-get when it is missing and fails, never
// skips, when that is impossible.
package kmiptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests run against a real PyKMIP server (Debian python3-pykmip). When
// it is missing they install it with apt-get, and fail — never skip — when
// that is impossible.

var installOnce sync.Once
var installErr error

func pykmipServer(t testing.TB) string {
	t.Helper()
	installOnce.Do(func() {
		if _, err := exec.LookPath("pykmip-server"); err == nil {
			return
		}
		cmd := exec.Command("apt-get", "install", "-y", "--no-install-recommends", "python3-pykmip")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			installErr = fmt.Errorf("apt-get install python3-pykmip: %v\n%s", err, out)
			return
		}
		if _, err := exec.LookPath("pykmip-server"); err != nil {
			installErr = errors.New("python3-pykmip installed but pykmip-server is not on PATH")
		}
	})
	if installErr != nil {
		t.Fatalf("the KMIP tests need a real PyKMIP server (Debian package python3-pykmip, command pykmip-server) and could not install it: %v", installErr)
	}
	p, _ := exec.LookPath("pykmip-server")
	return p
}

type pki struct {
	caPEM, serverCert, serverKey, clientCert, clientKey []byte
}

func newCert(t testing.TB, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key,
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})
}

// newPKI makes an ECDSA P-256 CA, a server certificate for 127.0.0.1 and a
// client certificate marked for client authentication (PyKMIP checks it).
func newPKI(t testing.TB) pki {
	now := time.Now()
	ca, caKey, caPEM, _ := newCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "coffer test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, nil, nil)
	_, _, sc, sk := newCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, caKey)
	_, _, cc, ck := newCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "coffer-host"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, caKey)
	return pki{caPEM, sc, sk, cc, ck}
}

// Server is a running PyKMIP server.
type Server struct {
	// Addr is HOST:PORT; CA, Cert and Key are PEM: the CA that signed the
	// server certificate, and a client certificate with its key.
	Addr          string
	CA, Cert, Key []byte
	cmd           *exec.Cmd
	log           string
	once          sync.Once
}

// Stop stops the server and its workers.
func (s *Server) Stop() {
	s.once.Do(func() {
		// pykmip-server forks workers: signal its whole process group
		// (its own, see Setpgid), which only holds what this test started.
		pgid := s.cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-done
		}
		// Workers may outlive the parent for a moment; make sure the port
		// is really closed.
		syscall.Kill(-pgid, syscall.SIGKILL)
	})
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts a server on a free loopback port; it stops in t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := pykmipServer(t)
	dir := t.TempDir()
	p := newPKI(t)
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ca := write("ca.pem", p.caPEM)
	crt := write("server.pem", p.serverCert)
	key := write("server.key", p.serverKey)
	policies := filepath.Join(dir, "policies")
	if err := os.Mkdir(policies, 0o700); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	// Go's TLS client offers no CBC-SHA256/384 ECDHE suites by default and
	// PyKMIP's TLS1.2 suite offers no ECDHE-RSA-GCM, so the certificates are
	// ECDSA and the suites ECDHE-ECDSA-AES-GCM.
	conf := write("server.conf", []byte(fmt.Sprintf(`[server]
hostname=127.0.0.1
port=%d
certificate_path=%s
key_path=%s
ca_path=%s
auth_suite=TLS1.2
enable_tls_client_auth=True
tls_cipher_suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
logging_level=DEBUG
database_path=%s
policy_path=%s
`, port, crt, key, ca, filepath.Join(dir, "pykmip.db"), policies)))
	s := &Server{log: filepath.Join(dir, "server.log")}
	s.cmd = exec.Command(bin, "-f", conf, "-l", s.log)
	out, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	s.cmd.Stdout, s.cmd.Stderr = out, out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(s.Stop)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			logb, _ := os.ReadFile(s.log)
			outb, _ := os.ReadFile(out.Name())
			t.Fatalf("pykmip-server did not listen on %s: %v\noutput: %s\nlog tail: %s", addr, err, tail(outb), tail(logb))
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.Addr, s.CA, s.Cert, s.Key = addr, p.caPEM, p.clientCert, p.clientKey
	t.Cleanup(func() {
		if t.Failed() {
			logb, _ := os.ReadFile(s.log)
			t.Logf("pykmip server log tail:\n%s", tail(logb))
		}
	})
	return s
}

func tail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// OtherPKI is a CA, client certificate and key that the server does not
// trust (PEM), for tests of refused handshakes.
func OtherPKI(t testing.TB) (ca, cert, key []byte) {
	p := newPKI(t)
	return p.caPEM, p.clientCert, p.clientKey
}
