package tpm

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"
)

// swtpm's "socket" interface speaks the TCG reference simulator protocol
// (TpmTcpProtocol.h) on its command port. A command is
//
//	u32 TPM_SEND_COMMAND (8) | u8 locality | u32 length | command bytes
//
// and the answer is u32 length | response bytes | u32 status (0). The
// platform port (PORT+1, power and NV signals) is not needed: swtpm started
// with --flags not-need-init,startup-clear is already powered on and
// started. go-tpm's transport/tcp wants the platform port too and reads the
// response with a single Read, which a TCP stream does not promise to fill,
// so this file has its own small adapter.
const (
	simSendCommand = 8
	simSessionEnd  = 20
	maxResponse    = 1 << 16 // a TPM answer is at most a few KiB
)

type simConn struct {
	c net.Conn
}

func dialSim(ctx context.Context, addr string) (*simConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	return &simConn{c: c}, nil
}

// Send implements go-tpm's transport.TPM.
func (s *simConn) Send(cmd []byte) ([]byte, error) {
	hdr := make([]byte, 9, 9+len(cmd))
	binary.BigEndian.PutUint32(hdr[0:], simSendCommand)
	hdr[4] = 0 // locality
	binary.BigEndian.PutUint32(hdr[5:], uint32(len(cmd)))
	if _, err := s.c.Write(append(hdr, cmd...)); err != nil {
		return nil, fmt.Errorf("send to swtpm: %w", err)
	}
	var n [4]byte
	if _, err := io.ReadFull(s.c, n[:]); err != nil {
		return nil, fmt.Errorf("read from swtpm: %w", err)
	}
	size := binary.BigEndian.Uint32(n[:])
	if size == 0 || size > maxResponse {
		return nil, fmt.Errorf("read from swtpm: bad response length %d", size)
	}
	rsp := make([]byte, size+4) // response and trailing status
	if _, err := io.ReadFull(s.c, rsp); err != nil {
		return nil, fmt.Errorf("read from swtpm: %w", err)
	}
	if st := binary.BigEndian.Uint32(rsp[size:]); st != 0 {
		return nil, fmt.Errorf("swtpm transport status %d", st)
	}
	return rsp[:size], nil
}

// Close ends the session politely and closes the connection.
func (s *simConn) Close() error {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], simSessionEnd)
	_ = s.c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = s.c.Write(b[:])
	return s.c.Close()
}
