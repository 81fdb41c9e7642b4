// Command fuse measures file-system throughput on a coffer mount with
// encryption on and off, on gocryptfs (Debian's package) and on the bare
// disk, in one run, interleaved, and reports ratios:
//
//   - sequential write of -mib MiB of random data + fsync;
//
//   - sequential read of it, cold (backing files evicted with
//     fadvise(DONTNEED) and the FUSE file system remounted);
//
//   - untar of a tree of thousands of small files (Go's own source).
//
//     go run ./bench/fuse [-dir DIR] [-mib 1024] [-rounds 3] [-json FILE]
//
// Needs root, /dev/fuse, gocryptfs and tar.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"coffer/bench/internal/benchio"
	"golang.org/x/sys/unix"
)

type target struct {
	name    string
	dir     string // where files are written
	backing string // what to evict for cold reads
	remount func() // drop the FUSE cache (nil for the bare disk)
}

type figures struct {
	WriteMBps []float64 `json:"write_mbps"`
	ReadMBps  []float64 `json:"read_mbps"`
	UntarSec  []float64 `json:"untar_sec"`
}

var (
	coffer string
	sock   string
)

func run(env []string, name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		log.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func cof(args ...string) string { return run([]string{"COFFER_SOCKET=" + sock}, coffer, args...) }

func evict(root string) {
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			if f, err := os.Open(p); err == nil {
				unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
				f.Close()
			}
		}
		return nil
	})
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func main() {
	dir := flag.String("dir", os.TempDir(), "directory on the disk to measure")
	mib := flag.Int("mib", 1024, "MiB for the sequential figures")
	rounds := flag.Int("rounds", 3, "interleaved rounds")
	jsonOut := flag.String("json", "", "write the result as JSON here")
	flag.Parse()
	for _, tool := range []string{"gocryptfs", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			log.Fatalf("%s is needed", tool)
		}
	}
	work, err := os.MkdirTemp(*dir, "coffer-bench-fuse-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	coffer = filepath.Join(work, "coffer")
	run(nil, "go", "build", "-o", coffer, "coffer/cmd/coffer")
	sock = filepath.Join(work, "s.sock")
	daemon := exec.Command(coffer, "daemon", "--state", filepath.Join(work, "state"), "--socket", sock)
	daemon.Stderr = os.Stderr
	if err := daemon.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() { daemon.Process.Signal(syscall.SIGTERM); daemon.Wait() }()
	for i := 0; i < 100; i++ {
		if exec.Command(coffer, "pool", "list").Run() == nil {
			break
		}
		cmd := exec.Command(coffer, "pool", "list")
		cmd.Env = append(os.Environ(), "COFFER_SOCKET="+sock)
		if cmd.Run() == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	mnt := filepath.Join(work, "mnt")
	vdev := filepath.Join(work, "vdev")
	cof("pool", "create", "-O", "mountpoint="+mnt, "bench", vdev)
	key := filepath.Join(work, "key")
	k := make([]byte, 32)
	rand.Read(k)
	os.WriteFile(key, k, 0o600)
	cof("create", "-o", "keyformat=raw", "-o", "keylocation=file://"+key, "bench/enc")
	cof("create", "bench/plain")
	cof("mount", "bench/enc")
	cof("mount", "bench/plain")
	remount := func(ds string) func() {
		return func() { cof("unmount", ds); evict(vdev); cof("mount", ds) }
	}
	// gocryptfs with its defaults (AES-256-GCM).
	gcCipher, gcMnt := filepath.Join(work, "gc-cipher"), filepath.Join(work, "gc-mnt")
	os.MkdirAll(gcCipher, 0o700)
	os.MkdirAll(gcMnt, 0o700)
	pw := filepath.Join(work, "gcpass")
	os.WriteFile(pw, []byte("benchmark passphrase"), 0o600)
	run(nil, "gocryptfs", "-q", "-init", "-passfile", pw, gcCipher)
	gcMount := func() { run(nil, "gocryptfs", "-q", "-passfile", pw, gcCipher, gcMnt) }
	gcMount()
	defer exec.Command("umount", gcMnt).Run()
	bare := filepath.Join(work, "bare")
	os.MkdirAll(bare, 0o755)
	targets := []target{
		{name: "coffer aes-256-gcm", dir: filepath.Join(mnt, "enc"), backing: vdev, remount: remount("bench/enc")},
		{name: "coffer unencrypted", dir: filepath.Join(mnt, "plain"), backing: vdev, remount: remount("bench/plain")},
		{name: "gocryptfs", dir: gcMnt, backing: gcCipher, remount: func() { run(nil, "umount", gcMnt); evict(gcCipher); gcMount() }},
		{name: "bare disk", dir: bare, backing: bare},
	}
	// The small-file tree: Go's own source.
	tarball := filepath.Join(work, "src.tar")
	run(nil, "tar", "-C", "/usr/local/go", "-cf", tarball, "src")
	nfiles := strings.Count(run(nil, "tar", "-tf", tarball), "\n")
	data := make([]byte, 1<<20)
	res := map[string]*figures{}
	for _, t := range targets {
		res[t.name] = &figures{}
	}
	for r := 0; r < *rounds; r++ {
		for _, t := range targets {
			f := res[t.name]
			p := filepath.Join(t.dir, "seq.bin")
			start := time.Now()
			out, err := os.Create(p)
			if err != nil {
				log.Fatal(err)
			}
			for i := 0; i < *mib; i++ {
				rand.Read(data[:64]) // vary every MiB; the rest stays random from the first fill
				if i == 0 {
					rand.Read(data)
				}
				if _, err := out.Write(data); err != nil {
					log.Fatal(err)
				}
			}
			if err := out.Sync(); err != nil {
				log.Fatal(err)
			}
			out.Close()
			f.WriteMBps = append(f.WriteMBps, float64(*mib<<20)/time.Since(start).Seconds()/1e6)
			evict(t.backing)
			evict(t.dir)
			if t.remount != nil {
				t.remount()
			}
			start = time.Now()
			in, err := os.Open(p)
			if err != nil {
				log.Fatal(err)
			}
			n, _ := benchio.ReadAll(in)
			in.Close()
			f.ReadMBps = append(f.ReadMBps, float64(n)/time.Since(start).Seconds()/1e6)
			os.Remove(p)
			tree := filepath.Join(t.dir, fmt.Sprintf("tree%d", r))
			os.MkdirAll(tree, 0o755)
			start = time.Now()
			run(nil, "tar", "-C", tree, "-xf", tarball)
			run(nil, "sync", "-f", tree)
			f.UntarSec = append(f.UntarSec, time.Since(start).Seconds())
			run(nil, "rm", "-rf", tree)
			fmt.Fprintf(os.Stderr, "round %d %-20s write %6.0f MB/s  read %6.0f MB/s  untar %.2fs\n", r+1, t.name,
				f.WriteMBps[len(f.WriteMBps)-1], f.ReadMBps[len(f.ReadMBps)-1], f.UntarSec[len(f.UntarSec)-1])
		}
	}
	enc, gc, bareF, plain := res["coffer aes-256-gcm"], res["gocryptfs"], res["bare disk"], res["coffer unencrypted"]
	fmt.Printf("| %d MiB random data; untar of %d entries (Go source); median of %d rounds | coffer enc | coffer plain | gocryptfs | bare disk | enc/gocryptfs | enc/bare | enc/plain |\n|---|---|---|---|---|---|---|---|\n", *mib, nfiles, *rounds)
	fmt.Printf("| sequential write + fsync (MB/s) | %.0f | %.0f | %.0f | %.0f | %.2fx | %.2fx | %.2fx |\n",
		median(enc.WriteMBps), median(plain.WriteMBps), median(gc.WriteMBps), median(bareF.WriteMBps),
		median(enc.WriteMBps)/median(gc.WriteMBps), median(enc.WriteMBps)/median(bareF.WriteMBps), median(enc.WriteMBps)/median(plain.WriteMBps))
	fmt.Printf("| sequential read, cold (MB/s) | %.0f | %.0f | %.0f | %.0f | %.2fx | %.2fx | %.2fx |\n",
		median(enc.ReadMBps), median(plain.ReadMBps), median(gc.ReadMBps), median(bareF.ReadMBps),
		median(enc.ReadMBps)/median(gc.ReadMBps), median(enc.ReadMBps)/median(bareF.ReadMBps), median(enc.ReadMBps)/median(plain.ReadMBps))
	fmt.Printf("| untar (s, lower is better) | %.2f | %.2f | %.2f | %.2f | %.2fx | %.2fx | %.2fx |\n",
		median(enc.UntarSec), median(plain.UntarSec), median(gc.UntarSec), median(bareF.UntarSec),
		median(enc.UntarSec)/median(gc.UntarSec), median(enc.UntarSec)/median(bareF.UntarSec), median(enc.UntarSec)/median(plain.UntarSec))
	// P8: the daemon's peak resident memory over the whole run.
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", daemon.Process.Pid)); err == nil {
		for _, l := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(l, "VmHWM:") {
				fmt.Printf("\ndaemon peak RSS (VmHWM) over the run: %s (target <= 256 MiB while writing 4 GiB)\n", strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:")))
			}
		}
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		os.WriteFile(*jsonOut, b, 0o644)
	}
}
