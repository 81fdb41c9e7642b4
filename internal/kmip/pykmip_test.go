package kmip

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"coffer/internal/kmip/kmiptest"
)

// testServer adapts kmiptest.Server to the client's Config.
type testServer struct {
	*kmiptest.Server
	cfg Config
}

func (s *testServer) stop() { s.Stop() }

func startPyKMIP(t *testing.T) *testServer {
	t.Helper()
	s := kmiptest.Start(t)
	return &testServer{Server: s, cfg: Config{Addr: s.Addr, CA: s.CA, Cert: s.Cert, Key: s.Key, Timeout: 20 * time.Second}}
}

func tail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func TestPyKMIP(t *testing.T) {
	t.Parallel()
	s := startPyKMIP(t)
	ctx := context.Background()
	c, err := Dial(ctx, s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v := c.Version(); v != (Version{1, 2}) {
		t.Errorf("negotiated %v, want 1.2", v)
	}

	id, err := c.CreateAES256(ctx, "coffer-kek-1")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("created key %q", id)

	t.Run("Get", func(t *testing.T) {
		key, err := c.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(key) != 32 {
			t.Fatalf("key is %d bytes", len(key))
		}
	})
	t.Run("Locate", func(t *testing.T) {
		ids, err := c.Locate(ctx, "coffer-kek-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != 1 || ids[0] != id {
			t.Fatalf("Locate = %q, want [%q]", ids, id)
		}
		ids, err = c.Locate(ctx, "no-such-name")
		if err != nil || len(ids) != 0 {
			t.Fatalf("Locate(missing) = %q, %v", ids, err)
		}
	})
	t.Run("EncryptDecrypt", func(t *testing.T) {
		pt := []byte("seventeen bytes!!")
		ct, iv, err := c.Encrypt(ctx, id, pt, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct) != 32 || len(iv) != 16 {
			t.Fatalf("ct %d bytes, iv %d bytes", len(ct), len(iv))
		}
		got, err := c.Decrypt(ctx, id, ct, iv)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("Decrypt = %q, %v", got, err)
		}
		// The server's CBC agrees with ours on the exported key.
		key, err := c.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		l, err := newLocalOps(key)
		if err != nil {
			t.Fatal(err)
		}
		local, _ := l.cbcEncrypt(ctx, pt, iv)
		if !bytes.Equal(local, ct) {
			t.Fatal("server-side AES-CBC differs from local AES-CBC")
		}
	})
	t.Run("WrapUnwrap", func(t *testing.T) {
		secret := bytes.Repeat([]byte{0xA5}, 32)
		blob, err := c.WrapSecret(ctx, id, secret)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(blob, secret) {
			t.Fatal("blob contains the secret")
		}
		if kid, err := BlobKeyID(blob); err != nil || kid != id {
			t.Fatalf("BlobKeyID = %q, %v", kid, err)
		}
		got, err := c.UnwrapSecret(ctx, id, blob)
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("UnwrapSecret = %x, %v", got, err)
		}
		// Same format when the AES runs locally (pre-1.2 servers).
		key, _ := c.Get(ctx, id)
		l, _ := newLocalOps(key)
		got, err = unwrapWith(ctx, l, id, blob)
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("local unwrap = %x, %v", got, err)
		}

		// Wrong key: another id, and the same id naming another key.
		other, err := c.CreateAES256(ctx, "coffer-kek-2")
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.UnwrapSecret(ctx, other, blob)
		if !errors.Is(err, ErrWrongKey) {
			t.Fatalf("unwrap with other id: %v", err)
		}
		forged := relabel(t, blob, other)
		_, err = c.UnwrapSecret(ctx, other, forged)
		if !errors.Is(err, ErrWrongKey) {
			t.Fatalf("unwrap with other key under the blob's id: %v", err)
		}
		// Damaged.
		for i := range []int{0, 10, len(blob) / 2, len(blob) - 1} {
			bad := bytes.Clone(blob)
			bad[i] ^= 1
			if _, err := c.UnwrapSecret(ctx, id, bad); !errors.Is(err, ErrDamaged) {
				t.Fatalf("flipped byte %d: %v", i, err)
			}
		}
		if _, err := c.UnwrapSecret(ctx, id, blob[:len(blob)-1]); !errors.Is(err, ErrDamaged) {
			t.Fatalf("truncated: %v", err)
		}
		// Tampered ciphertext with a fixed-up checksum: the MAC catches it.
		bad := bytes.Clone(blob)
		bad[len(bad)-sumLen-macLen-1] ^= 1
		bad = resum(bad)
		if _, err := c.UnwrapSecret(ctx, id, bad); !errors.Is(err, ErrDamaged) || errors.Is(err, ErrWrongKey) {
			t.Fatalf("tampered: %v", err)
		}
		if err := c.Destroy(ctx, other); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		_, err := c.Get(ctx, "999999")
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(missing) = %v", err)
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || !strings.Contains(msg, s.cfg.Addr) {
			t.Fatalf("error %q must be one line and name the server", msg)
		}
		if _, _, err := c.Encrypt(ctx, "999999", []byte("x"), nil); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Encrypt(missing) = %v", err)
		}
	})
	t.Run("Destroy", func(t *testing.T) {
		victim, err := c.CreateAES256(ctx, "coffer-doomed")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Destroy(ctx, victim); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(ctx, victim); err == nil {
			t.Fatal("Get after Destroy succeeded")
		} else {
			t.Logf("Get after Destroy: %v", err)
		}
		if ids, err := c.Locate(ctx, "coffer-doomed"); err != nil || len(ids) != 0 {
			t.Logf("Locate after Destroy = %q, %v", ids, err)
		}
	})
}

// relabel rewrites the key id in a blob and fixes the checksum, as if the
// blob had been made under key id.
func relabel(t *testing.T, b []byte, id string) []byte {
	p, err := parseBlob(b)
	if err != nil {
		t.Fatal(err)
	}
	out := []byte(blobMagic)
	out = append(out, blobVersion, 0, byte(len(id)))
	out = append(out, id...)
	out = append(out, p.kcv...)
	out = append(out, p.iv...)
	out = append(out, 0, 0, 0, byte(len(p.ct)))
	out = append(out, p.ct...)
	out = append(out, p.mac...)
	return resum(append(out, make([]byte, sumLen)...))
}

func TestPyKMIPUnreachable(t *testing.T) {
	t.Parallel()
	s := startPyKMIP(t)
	ctx := context.Background()
	c, err := Dial(ctx, s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id, err := c.CreateAES256(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	s.stop()
	for i := 0; i < 2; i++ { // broken connection, then a fresh dial
		_, err = c.Get(ctx, id)
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "KMIP server unreachable") ||
			!strings.Contains(err.Error(), s.cfg.Addr) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("call %d with the server stopped: %v", i, err)
		}
		t.Logf("server stopped: %v", err)
	}
	if _, err := Dial(ctx, s.cfg); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Dial with the server stopped: %v", err)
	}
}

func TestPyKMIPBadClientCert(t *testing.T) {
	t.Parallel()
	s := startPyKMIP(t)
	otherCA, otherCert, otherKey := kmiptest.OtherPKI(t) // a CA the server does not trust
	cfg := s.cfg
	cfg.Cert, cfg.Key = otherCert, otherKey
	_, err := Dial(context.Background(), cfg)
	if !errors.Is(err, ErrHandshake) {
		t.Fatalf("Dial with an untrusted client certificate: %v", err)
	}
	// And a server certificate from a CA we do not trust.
	cfg = s.cfg
	cfg.CA = otherCA
	if _, err := Dial(context.Background(), cfg); !errors.Is(err, ErrHandshake) {
		t.Fatalf("Dial trusting another CA: %v", err)
	}
	t.Logf("untrusted client certificate: %v", err)
}
