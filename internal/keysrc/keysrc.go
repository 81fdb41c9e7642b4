package keysrc

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"coffer/internal/props"
)

// Key material limits.
const (
	WrappingKeyLen = 32
	MinPassphrase  = 8
	MaxPassphrase  = 512
	MaxKeyFile     = 1 << 20 // largest key file or HTTPS response read
	FetchTimeout   = 10 * time.Second
)

// ErrPrompt is returned by Fetch for keylocation=prompt: the caller must ask
// the user (terminal, or stdin when it is not a terminal).
var ErrPrompt = errors.New("key location is prompt")

// Parse validates key material for keyformat and returns the wrapping input:
// 32 bytes for raw and hex, the passphrase bytes for passphrase. The result
// is a new slice; material is not modified.
func Parse(keyformat string, material []byte) ([]byte, error) {
	switch keyformat {
	case "raw":
		switch {
		case len(material) < WrappingKeyLen:
			return nil, fmt.Errorf("Raw key too short (expected %d).", WrappingKeyLen)
		case len(material) > WrappingKeyLen:
			return nil, fmt.Errorf("Raw key too long (expected %d).", WrappingKeyLen)
		}
		return bytes.Clone(material), nil
	case "hex":
		m := trimNewline(material)
		switch {
		case len(m) < 2*WrappingKeyLen:
			return nil, fmt.Errorf("Hex key too short (expected %d).", 2*WrappingKeyLen)
		case len(m) > 2*WrappingKeyLen:
			return nil, fmt.Errorf("Hex key too long (expected %d).", 2*WrappingKeyLen)
		}
		key := make([]byte, WrappingKeyLen)
		if _, err := hex.Decode(key, m); err != nil {
			clear(key)
			// hex's error names the offending byte: do not pass it on.
			return nil, errors.New("Invalid hex key provided.")
		}
		return key, nil
	case "passphrase":
		m := trimNewline(material)
		switch {
		case len(m) < MinPassphrase:
			return nil, fmt.Errorf("Passphrase too short (min %d).", MinPassphrase)
		case len(m) > MaxPassphrase:
			return nil, fmt.Errorf("Passphrase too long (max %d).", MaxPassphrase)
		}
		return bytes.Clone(m), nil
	}
	return nil, errors.New("keyformat must be one of 'raw | hex | passphrase'")
}

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// ValidLocation checks a keylocation that must lead to a key: "prompt",
// "file:///absolute/path", "https://host/…", or "http://host/…" where host
// is loopback. "none" is refused: it is valid only for unencrypted datasets.
// Key provider locations (tpm2:, kmip://, pkcs11:) are refused: their key
// is opened by the provider, never fetched.
// The error is "invalid keylocation 'x'".
func ValidLocation(loc string) error {
	return props.ValidFetchLocation(loc)
}

// Fetch reads key material from a keylocation other than prompt (which
// yields ErrPrompt). file:// reads the file; https:// (and loopback http://)
// does a GET with client, or a default client when client is nil, within
// FetchTimeout, requires status 200 and refuses redirects to locations that
// ValidLocation refuses. More than MaxKeyFile bytes is an error. Callers
// pass the result to Parse.
func Fetch(ctx context.Context, loc string, client *http.Client) ([]byte, error) {
	if err := ValidLocation(loc); err != nil {
		return nil, err
	}
	if loc == "prompt" {
		return nil, ErrPrompt
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fetch key from '%s': %w", redact(loc), err)
	}
	if p, ok := strings.CutPrefix(loc, "file://"); ok {
		return fetchFile(loc, p)
	}
	return fetchHTTP(ctx, loc, client)
}

func fetchFile(loc, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("fetch key from '%s': %w", loc, unwrapPath(err))
	}
	defer f.Close()
	return readLimited(loc, f)
}

// unwrapPath drops the *PathError wrapper, whose path repeats the location.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func readLimited(loc string, r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxKeyFile+1))
	if err != nil {
		clear(b)
		return nil, fmt.Errorf("fetch key from '%s': %w", redact(loc), unwrapPath(err))
	}
	if len(b) > MaxKeyFile {
		clear(b)
		return nil, fmt.Errorf("fetch key from '%s': key material larger than %d bytes", redact(loc), MaxKeyFile)
	}
	return b, nil
}

func fetchHTTP(ctx context.Context, loc string, client *http.Client) ([]byte, error) {
	var c http.Client
	if client != nil {
		c = *client // a copy: our redirect policy must not leak into the caller's client
	}
	next := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if ValidLocation(req.URL.String()) != nil || req.URL.Scheme == "file" {
			return fmt.Errorf("redirect to '%s' refused", req.URL.Redacted())
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch key from '%s': %w", redact(loc), err)
	}
	resp, err := c.Do(req)
	if err != nil {
		// *url.Error repeats the (redacted) URL; keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("fetch key from '%s': %w", redact(loc), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Never echo the body or the server's reason phrase: a misconfigured
		// server may return the key.
		io.Copy(io.Discard, io.LimitReader(resp.Body, MaxKeyFile))
		return nil, fmt.Errorf("fetch key from '%s': HTTP status %d %s", redact(loc), resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return readLimited(loc, resp.Body)
}

// redact hides a password in a URL's user info.
func redact(loc string) string {
	if u, err := url.Parse(loc); err == nil && u.User != nil {
		return u.Redacted()
	}
	return loc
}
