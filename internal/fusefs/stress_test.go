package fusefs_test

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestConcurrentNamespace runs writers that create, write, link, rename,
// unlink, mkdir and rmdir in one shared tree at once, with fsyncs (txg
// commits) in between; the file system check at unmount must pass.
func TestConcurrentNamespace(t *testing.T) {
	t.Parallel()
	mt := mountNew(t, true)
	const workers = 6
	deadline := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var unexpected []error
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(w)))
			path := func() string {
				return filepath.Join(mt.Dir, fmt.Sprintf("d%d", r.Intn(3)), fmt.Sprintf("n%d", r.Intn(20)))
			}
			for time.Now().Before(deadline) {
				var err error
				switch r.Intn(8) {
				case 0:
					err = os.Mkdir(filepath.Dir(path()), 0o755)
				case 1:
					err = os.WriteFile(path(), []byte(fmt.Sprint(w, r.Int())), 0o644)
				case 2:
					err = syscall.Rename(path(), path())
				case 3:
					err = os.Remove(path())
				case 4:
					err = os.Link(path(), path())
				case 5:
					err = os.Mkdir(path(), 0o755)
				case 6:
					var f *os.File
					if f, err = os.OpenFile(path(), os.O_WRONLY|os.O_APPEND, 0); err == nil {
						_, err = f.Write([]byte("more"))
						if err == nil && r.Intn(10) == 0 {
							err = f.Sync()
						}
						f.Close()
					}
				case 7:
					_, err = os.ReadDir(filepath.Dir(path()))
				}
				if err != nil && !expected(err) {
					mu.Lock()
					unexpected = append(unexpected, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range unexpected[:min(10, len(unexpected))] {
		t.Errorf("unexpected error: %v", err)
	}
}

// expected reports errors that racing namespace operations may rightly get.
func expected(err error) bool {
	for _, e := range []error{syscall.ENOENT, syscall.EEXIST, syscall.ENOTEMPTY, syscall.EISDIR, syscall.ENOTDIR, syscall.EINVAL, syscall.EPERM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
