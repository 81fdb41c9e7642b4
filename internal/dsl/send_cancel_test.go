package dsl

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// evictFiles drops every file under dir from the page cache
// (fadvise DONTNEED), so that the next reads come from the disk.
func evictFiles(dir string) {
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			if f, err := os.Open(p); err == nil {
				unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
				f.Close()
			}
		}
		return nil
	})
}

// failAfter is a stream consumer that goes away (an error) after n bytes.
type failAfter struct{ n int64 }

var errGone = errors.New("receiver went away")

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n -= int64(len(p)); f.n < 0 {
		return 0, errGone
	}
	return len(p), nil
}

// A raw send whose consumer fails mid-stream, or whose context is
// cancelled, returns at once with that error; it never hangs with blocks
// queued for reading. The vdev is evicted from the page cache first, so
// that the readers lag behind the walk as on a cold disk.
func TestRawSendStopsWhenConsumerFails(t *testing.T) {
	dp, dir := newNamedPool(t, "tank")
	if err := dp.Create(nil, "tank/fs", CreateOpts{}); err != nil {
		t.Fatal(err)
	}
	files(t, dp, "tank/fs", 24) // about 200 blocks
	if err := dp.Snapshot([]string{"tank/fs@s"}, false, nil); err != nil {
		t.Fatal(err)
	}
	evict := func() { evictFiles(dir) }
	run := func(ctx context.Context, w *failAfter) error {
		done := make(chan error, 1)
		go func() { done <- dp.Send(ctx, "tank/fs@s", SendOpts{Raw: true}, w) }()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("send hangs after its consumer failed")
			return nil
		}
	}
	for i := 0; i < 20; i++ {
		evict()
		err := run(context.Background(), &failAfter{n: int64(i%5) * 300 << 10})
		if !errors.Is(err, errGone) {
			t.Fatalf("attempt %d: error %v, want %v", i, err, errGone)
		}
		evict()
		ctx, cancel := context.WithCancel(context.Background())
		w := &failAfter{n: 1 << 40}
		go func() {
			time.Sleep(time.Duration(i%4) * time.Millisecond)
			cancel()
		}()
		if err := run(ctx, w); !errors.Is(err, context.Canceled) && err != nil {
			t.Fatalf("attempt %d: cancelled send: %v", i, err)
		}
		cancel()
	}
	// The pool is still whole and a full send still works.
	checked(t, dp)
	if len(send(t, dp, "tank/fs@s", SendOpts{Raw: true})) == 0 {
		t.Fatal("empty stream")
	}
}
