package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
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

// Client calls the daemon's API over its Unix socket.
type Client struct {
	path string
	http *http.Client
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
	return &Client{path: socketPath, http: &http.Client{Transport: tr}}
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
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://coffer/v1/"+method, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
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
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return fmt.Errorf("cannot connect to coffer daemon at %s: %v", c.path, op.Err)
	}
	return fmt.Errorf("lost connection to coffer daemon at %s: %w", c.path, err)
}
