package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
)

// EnvSocket names the environment variable that overrides DefaultSocket.
const EnvSocket = "COFFER_SOCKET"

// DefaultSocket is where the daemon listens unless told otherwise.
const DefaultSocket = "/run/coffer/coffer.sock"

// SocketPath returns $COFFER_SOCKET, else DefaultSocket.
func SocketPath() string {
	if p := os.Getenv(EnvSocket); p != "" {
		return p
	}
	return DefaultSocket
}

// Environment variables of the HTTP transport (see NewHTTPClient).
const (
	EnvURL   = "COFFER_URL"   // https://HOST:PORT or http://127.0.0.1:PORT
	EnvToken = "COFFER_TOKEN" // the API token itself
	EnvCA    = "COFFER_CA"    // PEM file of the CA that signed the daemon's certificate
)

// Client calls the daemon's API over its Unix socket or over HTTP(S).
type Client struct {
	path  string // what error messages name: the socket, or the URL
	sock  string // the Unix socket; "" over HTTP
	base  string // URL prefix of /v1/METHOD
	token string // HTTP: the API token
	http  *http.Client
}

// NewClient returns a client for the daemon listening on socketPath.
func NewClient(socketPath string) *Client {
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socketPath)
		},
		DisableCompression: true,
		MaxIdleConns:       1,
	}
	return &Client{path: socketPath, sock: socketPath, base: "http://coffer", http: &http.Client{Transport: tr}}
}

// NewHTTPClient returns a client for the daemon's HTTP API at rawURL
// (https://HOST:PORT, or http:// on a loopback address) that sends token
// with every request. caFile, when not empty, is a PEM file of the CA to
// trust instead of the system's.
func NewHTTPClient(rawURL, token, caFile string) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("bad daemon URL '%s': want https://HOST:PORT or http://127.0.0.1:PORT", rawURL)
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return nil, fmt.Errorf("bad daemon URL '%s': plain http is only for loopback addresses; use https", rawURL)
	}
	if token == "" {
		return nil, fmt.Errorf("no API token for %s: give --token-file FILE or set $%s", rawURL, EnvToken)
	}
	tr := &http.Transport{DisableCompression: true, MaxIdleConns: 1, Proxy: nil}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("cannot read CA file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("cannot read CA file '%s': no PEM certificate in it", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	base := strings.TrimSuffix(u.Scheme+"://"+u.Host+u.Path, "/")
	return &Client{path: base, base: base, token: token, http: &http.Client{Transport: tr}}, nil
}

// newRequest builds a POST of method with the client's credentials.
func (c *Client) newRequest(ctx context.Context, method string, body io.Reader) (*http.Request, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/"+method, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	if c.token != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.token)
	}
	return hreq, nil
}

// SocketPath returns the socket the client talks to.
func (c *Client) SocketPath() string { return c.path }

// Call invokes method with req (nil for none) and decodes the result into
// resp (nil to ignore it). A failure reported by the daemon is returned as
// an *Error; a daemon that is not running gives "cannot connect to coffer
// daemon at PATH: is `coffer daemon` running?".
func (c *Client) Call(ctx context.Context, method string, req, resp any) error {
	var body []byte
	if req != nil {
		var err error
		if body, err = json.Marshal(req); err != nil {
			return fmt.Errorf("encode %s request: %w", method, err)
		}
		// The encoded body can hold key material.
		defer clear(body)
	}
	hreq, err := c.newRequest(ctx, method, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hresp, err := c.http.Do(hreq)
	if err != nil {
		return c.connectError(ctx, err)
	}
	defer hresp.Body.Close()
	return c.decodeResponse(method, hresp, resp)
}

// decodeResponse decodes a JSON response envelope into resp (nil to ignore
// the result); an error the daemon reported is returned as an *Error.
func (c *Client) decodeResponse(method string, hresp *http.Response, resp any) error {
	var env struct {
		Result json.RawMessage `json:"result"`
		Error  *Error          `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(hresp.Body, 256<<20)).Decode(&env); err != nil {
		return fmt.Errorf("bad response from coffer daemon at %s (HTTP %s): %w", c.path, hresp.Status, err)
	}
	if env.Error != nil {
		if env.Error.Code == "" {
			env.Error.Code = CodeInternal
		}
		return env.Error
	}
	if hresp.StatusCode != http.StatusOK {
		return fmt.Errorf("bad response from coffer daemon at %s: HTTP %s", c.path, hresp.Status)
	}
	if resp != nil && len(env.Result) > 0 {
		if err := json.Unmarshal(env.Result, resp); err != nil {
			return fmt.Errorf("decode %s response: %w", method, err)
		}
	}
	return nil
}

func (c *Client) connectError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot connect to coffer daemon at %s: is `coffer daemon` running?", c.path)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("cannot connect to coffer daemon at %s: permission denied", c.path)
	}
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return fmt.Errorf("cannot connect to coffer daemon at %s: its certificate is not trusted (%v); give --ca-file PEM", c.path, cv.Err)
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return fmt.Errorf("cannot connect to coffer daemon at %s: %v", c.path, op.Err)
	}
	return fmt.Errorf("lost connection to coffer daemon at %s: %w", c.path, err)
}
