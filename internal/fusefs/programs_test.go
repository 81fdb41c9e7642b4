package fusefs_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

var toolMu sync.Mutex

// requireTool finds a program, installing its Debian package with apt-get
// when it is missing. A tool that cannot be had fails the test: these
// tests are never skipped.
func requireTool(t *testing.T, tool, pkg string) string {
	t.Helper()
	toolMu.Lock()
	defer toolMu.Unlock()
	if p, err := exec.LookPath(tool); err == nil {
		return p
	}
	out, err := exec.Command("sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "+pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("%s is missing and apt-get install %s failed: %v\n%s", tool, pkg, err, out)
	}
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s still missing after installing %s", tool, pkg)
	}
	return p
}

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir, "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestGit(t *testing.T) {
	t.Parallel()
	git := requireTool(t, "git", "git")
	mt := mountNew(t, true)
	repo := filepath.Join(mt.Dir, "repo")
	ok(t, os.Mkdir(repo, 0o755))
	run(t, repo, git, "init", "-q", "-b", "main")
	for i := range 50 {
		ok(t, os.MkdirAll(filepath.Join(repo, fmt.Sprintf("pkg%d", i%5)), 0o755))
		ok(t, os.WriteFile(filepath.Join(repo, fmt.Sprintf("pkg%d/file%d.txt", i%5, i)), []byte(strings.Repeat(fmt.Sprintf("line %d\n", i), 100)), 0o644))
	}
	run(t, repo, git, "add", "-A")
	run(t, repo, git, "commit", "-q", "-m", "first")
	ok(t, os.WriteFile(filepath.Join(repo, "pkg0/file0.txt"), []byte("changed\n"), 0o644))
	ok(t, os.Remove(filepath.Join(repo, "pkg1/file1.txt")))
	run(t, repo, git, "commit", "-q", "-am", "second")
	run(t, repo, git, "gc", "-q")
	run(t, repo, git, "fsck", "--full", "--strict")
	if log := run(t, repo, git, "log", "--oneline"); strings.Count(log, "\n") != 2 {
		t.Fatalf("git log: %q", log)
	}
	if st := run(t, repo, git, "status", "--porcelain"); st != "" {
		t.Fatalf("git status not clean: %q", st)
	}
}

// treeSums maps every regular file and symlink under root to a checksum
// of its content (or target) and mode.
func treeSums(t *testing.T, root string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			tgt, err := os.Readlink(path)
			if err != nil {
				return err
			}
			sums[rel] = "link:" + tgt
		case d.Type().IsRegular():
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			sums[rel] = fmt.Sprintf("%x %v", h.Sum(nil), info.Mode().Perm())
		case d.IsDir():
			sums[rel] = "dir"
		}
		return nil
	})
	ok(t, err)
	return sums
}

func TestTarRoundTrip(t *testing.T) {
	t.Parallel()
	tar := requireTool(t, "tar", "tar")
	src := "/usr/local/go/src/net"
	if _, err := os.Stat(src); err != nil {
		src = filepath.Join(os.Getenv("GOROOT"), "src/net")
	}
	want := treeSums(t, src)
	if len(want) < 100 {
		t.Fatalf("source tree %s too small: %d entries", src, len(want))
	}
	mt := mountNew(t, true)
	in := filepath.Join(mt.Dir, "in")
	ok(t, os.Mkdir(in, 0o755))
	run(t, mt.Dir, "sh", "-c", fmt.Sprintf("%s -C %s -cf - . | %s -C %s -xf -", tar, filepath.Dir(src)+"/"+filepath.Base(src), tar, in))
	got := treeSums(t, in)
	compareSums(t, "tar in", want, got)
	// And out again, from the mount to a local directory.
	out := t.TempDir()
	run(t, mt.Dir, "sh", "-c", fmt.Sprintf("%s -C %s -cf - . | %s -C %s -xf -", tar, in, tar, out))
	compareSums(t, "tar out", want, treeSums(t, out))
}

func compareSums(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	var bad []string
	for k, v := range want {
		if got[k] != v {
			bad = append(bad, k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			bad = append(bad, "extra "+k)
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Fatalf("%s: %d differences, e.g. %v", what, len(bad), bad[:min(5, len(bad))])
	}
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	sqlite := requireTool(t, "sqlite3", "sqlite3")
	mt := mountNew(t, true)
	db := filepath.Join(mt.Dir, "test.db")
	var script strings.Builder
	script.WriteString("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);\nCREATE INDEX iv ON t(v);\n")
	for batch := range 20 {
		script.WriteString("BEGIN;\n")
		for i := range 500 {
			fmt.Fprintf(&script, "INSERT INTO t(v) VALUES('row-%d-%d-%s');\n", batch, i, strings.Repeat("x", i%50))
		}
		script.WriteString("COMMIT;\n")
	}
	script.WriteString("DELETE FROM t WHERE id % 3 = 0;\nVACUUM;\n")
	cmd := exec.Command(sqlite, db)
	cmd.Stdin = strings.NewReader(script.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
	if out := run(t, mt.Dir, sqlite, db, "PRAGMA integrity_check;"); strings.TrimSpace(out) != "ok" {
		t.Fatalf("integrity_check: %q", out)
	}
	if out := run(t, mt.Dir, sqlite, db, "SELECT count(*) FROM t;"); strings.TrimSpace(out) != "6667" {
		t.Fatalf("count: %q", out)
	}
	// WAL mode uses shared memory (mmap of the -shm file).
	run(t, mt.Dir, sqlite, db, "PRAGMA journal_mode=WAL; INSERT INTO t(v) VALUES('wal'); PRAGMA wal_checkpoint;")
	if out := run(t, mt.Dir, sqlite, db, "PRAGMA integrity_check;"); strings.TrimSpace(out) != "ok" {
		t.Fatalf("integrity_check after WAL: %q", out)
	}
}

// TestGoBuild compiles and runs a program with its source, build cache and
// binary all on an encrypted mount.
func TestGoBuild(t *testing.T) {
	t.Parallel()
	gobin := filepath.Join(runtimeGOROOT(), "bin", "go")
	mt := mountNew(t, true)
	src := filepath.Join(mt.Dir, "hello")
	ok(t, os.MkdirAll(src, 0o755))
	ok(t, os.WriteFile(filepath.Join(src, "go.mod"), []byte("module hello\n\ngo 1.21\n"), 0o644))
	ok(t, os.WriteFile(filepath.Join(src, "main.go"), []byte(`package main

import (
	"fmt"
	"sort"
	"strings"
)

func main() {
	w := strings.Fields("built on coffer")
	sort.Strings(w)
	fmt.Println(strings.Join(w, " "))
}
`), 0o644))
	cmd := exec.Command(gobin, "build", "-o", "hello.bin", ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOCACHE="+filepath.Join(mt.Dir, "gocache"), "GOFLAGS=", "CGO_ENABLED=0", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if out := run(t, src, filepath.Join(src, "hello.bin")); out != "built coffer on\n" {
		t.Fatalf("program printed %q", out)
	}
}

func runtimeGOROOT() string {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "/usr/local/go"
	}
	return strings.TrimSpace(string(out))
}

// TestFio runs fio random read/write jobs with data verification (every
// block written is read back and checked against its checksum).
func TestFio(t *testing.T) {
	t.Parallel()
	fio := requireTool(t, "fio", "fio")
	mt := mountNew(t, true)
	out := run(t, mt.Dir, fio, "--name=verify", "--directory="+mt.Dir, "--ioengine=psync",
		"--rw=randrw", "--bs=4k,64k", "--size=48m", "--numjobs=2", "--verify=crc32c",
		"--verify_fatal=1", "--do_verify=1", "--fsync=64", "--group_reporting", "--minimal")
	// --minimal (terse v3): fields 7 and 48 are read and write bandwidth (KiB/s).
	f := strings.Split(strings.TrimSpace(out), ";")
	if len(f) < 50 {
		t.Fatalf("fio output: %q", out)
	}
	t.Logf("fio randrw 4k/64k, fsync every 64 writes: read %s KiB/s, write %s KiB/s", f[6], f[47])
}
