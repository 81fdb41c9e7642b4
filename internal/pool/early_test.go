package pool

import (
	"bytes"
	"path/filepath"
	"sync"
	"testing"

	"coffer/internal/compress"
	"coffer/internal/format"
)

// Blocks written ahead while others are given back keep their bytes: space
// is punched out of the data file before it is released, never after
// (a block placed in the meantime would be zeroed).
func TestUnplaceWhilePlacing(t *testing.T) {
	p, err := Create("tank", []VdevSpec{{Paths: []string{filepath.Join(t.TempDir(), "v0")}}}, false, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	spec := BlockSpec{Type: format.TypeData, Compress: compress.Off, Fill: 1}
	const rounds = 300
	var wg sync.WaitGroup
	bad := make(chan string, 2*rounds)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				data := bytes.Repeat([]byte{byte(w*rounds + i)}, 16<<10)
				data[0] = byte(w)
				stored, bp, err := Encode(2, spec, data)
				if err != nil {
					bad <- err.Error()
					return
				}
				p.AllocEarly(&bp)
				if err := p.WriteStored(&bp, stored); err != nil {
					bad <- err.Error()
					return
				}
				PutBuf(stored)
				got, err := p.ReadBlock(&bp, nil, nil)
				if err != nil || !bytes.Equal(got, data) {
					bad <- "block written ahead lost its bytes"
				}
				if err := p.Unplace(&bp); err != nil {
					bad <- err.Error()
				}
			}
		}()
	}
	wg.Wait()
	close(bad)
	for m := range bad {
		t.Fatal(m)
	}
	if u := p.UnsettledBytes(); u != 0 {
		t.Fatalf("unsettled %d after every block was given back", u)
	}
}
