package api

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// TestFDConnReadAfterReset: when the client goes away without reading what
// the server wrote, the server's next read fails with ECONNRESET. The
// connection must answer (0, err) then: a negative count made net/http
// panic ("reader returned negative count from Read") and log the stack.
func TestFDConnReadAfterReset(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "s")
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	l := fdListener{ul}
	cl, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if _, err := sc.Write([]byte("a response the client never reads")); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := sc.Read(make([]byte, 64))
	if n != 0 || err == nil {
		t.Fatalf("Read after the peer reset = (%d, %v), want (0, an error)", n, err)
	}
}
