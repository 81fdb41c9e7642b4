package api

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
)

// TCPOptions configure the HTTP API on TCP.
type TCPOptions struct {
	Addr     string // HOST:PORT
	CertFile string // TLS certificate (PEM); with KeyFile, serve HTTPS
	KeyFile  string
}

// CheckTCP validates o: both or neither TLS file, and plain HTTP only on a
// loopback address (API tokens must not cross a network in the clear).
func CheckTCP(o TCPOptions) error {
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return fmt.Errorf("cannot serve HTTP on '%s': %v", o.Addr, err)
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return fmt.Errorf("cannot serve HTTP on '%s': give both --http-cert and --http-key, or neither", o.Addr)
	}
	if o.CertFile == "" && !loopback(host) {
		return fmt.Errorf("cannot serve HTTP on '%s': plain HTTP is only allowed on a loopback address (127.0.0.1, ::1, localhost); give --http-cert and --http-key to serve HTTPS", o.Addr)
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ListenTCP checks o and listens on its address.
func ListenTCP(o TCPOptions) (net.Listener, error) {
	if err := CheckTCP(o); err != nil {
		return nil, err
	}
	var cfg *tls.Config
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cannot serve HTTPS on '%s': %v", o.Addr, err)
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("cannot serve HTTP on '%s': %v", o.Addr, err)
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	return ln, nil
}

// ServeTCP serves the API on ln (from ListenTCP) until ctx is done: the
// same methods and JSON as on the socket, each request authenticated by
// its "Authorization: Bearer TOKEN" header.
func (s *Server) ServeTCP(ctx context.Context, ln net.Listener) error {
	return s.serve(ctx, ln, s.tcpConnContext, "HTTP API")
}
