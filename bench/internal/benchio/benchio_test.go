package benchio

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// sizeRecorder records the size of every Read it is asked for.
type sizeRecorder struct {
	r     io.Reader
	sizes []int
}

func (s *sizeRecorder) Read(p []byte) (int, error) {
	s.sizes = append(s.sizes, len(p))
	return s.r.Read(p)
}

func TestReadAllReadsInMiBPieces(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 3<<20+5)
	s := &sizeRecorder{r: bytes.NewReader(data)}
	n, err := ReadAll(s)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("ReadAll = %d, %v; want %d, nil", n, err, len(data))
	}
	for _, z := range s.sizes {
		if z != 1<<20 {
			t.Fatalf("read of %d bytes, want every read 1 MiB: %v", z, s.sizes)
		}
	}
}

func TestReadAllReturnsTheError(t *testing.T) {
	bad := errors.New("disk gone")
	n, err := ReadAll(io.MultiReader(bytes.NewReader(make([]byte, 10)), iotest{bad}))
	if n != 10 || !errors.Is(err, bad) {
		t.Fatalf("ReadAll = %d, %v; want 10, %v", n, err, bad)
	}
}

type iotest struct{ err error }

func (e iotest) Read([]byte) (int, error) { return 0, e.err }
