package fusefs

import (
	"flag"
	"os"
	"testing"

	"coffer/internal/hangwatch"
)

// TestMain arms a report of what the kernel waits for should a test hang
// (Go's timeout dump shows only this process's goroutines).
func TestMain(m *testing.M) {
	flag.Parse()
	stop := hangwatch.Start(nil)
	code := m.Run()
	stop()
	os.Exit(code)
}
