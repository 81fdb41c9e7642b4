package api

// Descriptor passing on the Unix socket. `coffer send` hands the daemon its
// standard output (SCM_RIGHTS, with the first bytes of the request) and the
// daemon writes the stream there itself, as `zfs send` hands its output to
// the kernel: the stream is copied once, not through the socket and the
// command. The server reads every connection with recvmsg and keeps the
// descriptors that arrive, at most maxPendingFDs per connection; the
// handler that expects one takes it (takeFDs). The kernel marks received
// descriptors close-on-exec (Go reads with MSG_CMSG_CLOEXEC).

import (
	"context"
	"io"
	"net"
	"sync"

	"golang.org/x/sys/unix"
)

// maxPendingFDs bounds the descriptors a connection may hold unclaimed;
// more are closed on arrival.
const maxPendingFDs = 4

// fdListener accepts connections that collect passed descriptors.
type fdListener struct{ *net.UnixListener }

func (l fdListener) Accept() (net.Conn, error) {
	c, err := l.AcceptUnix()
	if err != nil {
		return nil, err
	}
	return &fdConn{UnixConn: c}, nil
}

// fdConn is a server connection that keeps the descriptors passed with the
// bytes it reads.
type fdConn struct {
	*net.UnixConn
	oob [128]byte // room for a few SCM_RIGHTS descriptors

	mu  sync.Mutex
	fds []int
}

func (c *fdConn) Read(b []byte) (int, error) {
	n, oobn, flags, _, err := c.ReadMsgUnix(b, c.oob[:])
	if oobn > 0 {
		c.keep(c.oob[:oobn])
	}
	_ = flags // MSG_CTRUNC: the kernel closed what did not fit
	if n < 0 {
		// recvmsg failed (ECONNRESET when the client left without reading
		// a response): ReadMsgUnix passes on its -1, which io.Reader
		// forbids and net/http answers with a panic.
		n = 0
	}
	if n == 0 && err == nil && len(b) > 0 {
		err = io.EOF
	}
	return n, err
}

// keep records the descriptors of the control messages in oob.
func (c *fdConn) keep(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range msgs {
		fds, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if len(c.fds) < maxPendingFDs {
				c.fds = append(c.fds, fd)
			} else {
				unix.Close(fd)
			}
		}
	}
}

// takeFDs hands over the descriptors received so far; the caller closes
// them.
func (c *fdConn) takeFDs() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	fds := c.fds
	c.fds = nil
	return fds
}

func (c *fdConn) Close() error {
	for _, fd := range c.takeFDs() {
		unix.Close(fd)
	}
	return c.UnixConn.Close()
}

type connKey struct{}

// connFDs returns the descriptors passed on the connection of ctx (a
// request's context on the Unix socket); nil elsewhere.
func connFDs(ctx context.Context) []int {
	if c, ok := ctx.Value(connKey{}).(*fdConn); ok {
		return c.takeFDs()
	}
	return nil
}

// rightsConn is a client connection that passes fd with the first bytes
// it writes.
type rightsConn struct {
	*net.UnixConn
	fd   int
	sent bool
}

func (c *rightsConn) Write(b []byte) (int, error) {
	if c.sent || len(b) == 0 {
		return c.UnixConn.Write(b)
	}
	c.sent = true
	n, _, err := c.WriteMsgUnix(b, unix.UnixRights(c.fd), nil)
	if err != nil || n == len(b) {
		return n, err
	}
	m, err := c.UnixConn.Write(b[n:])
	return n + m, err
}
