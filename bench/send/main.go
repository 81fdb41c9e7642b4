// Command send measures raw send against the physical ceiling and restic,
// in one run, on the same disk:
//
//   - full raw send of an encrypted dataset to /dev/null vs a cold read of
//     the pool's vdev data file (target >= 0.85x), and vs a first
//     `restic backup` of the same data as plain files;
//
//   - an incremental raw send after changing 1% of the data vs a second
//     `restic backup` of the same change (target <= 0.1x of restic's time),
//     and a send with no change (target <= 0.05x); stream size vs changed
//     bytes (target <= 1.1x).
//
//     go run ./bench/send [-dir DIR] [-gib 1] [-pairs 5] [-json FILE]
//
// Needs restic (Debian's package). Data is random (coffer compresses).
// Before every cold read the backing files are evicted with
// fadvise(DONTNEED).
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"coffer/bench/internal/benchio"
	"coffer/internal/dsl"
	"coffer/internal/format"
	"coffer/internal/pool"
)

const fileSize = 64 << 20

type result struct {
	GiB                float64   `json:"gib"`
	FullSendMBps       []float64 `json:"full_send_mbps"`
	ColdReadMBps       []float64 `json:"cold_read_mbps"`
	FullVsRead         float64   `json:"full_send_vs_cold_read"`
	ResticFirstSec     float64   `json:"restic_first_backup_sec"`
	FullSendSec        float64   `json:"full_send_sec"`
	FasterThanRestic   float64   `json:"full_send_x_faster_than_restic_first"`
	IncSendSec         []float64 `json:"incremental_send_sec"`
	ResticIncSec       []float64 `json:"restic_incremental_sec"`
	IncVsRestic        float64   `json:"incremental_vs_restic"`
	NoChangeSendSec    float64   `json:"nochange_send_sec"`
	ResticNoChangeSec  float64   `json:"restic_nochange_sec"`
	NoChangeVsRestic   float64   `json:"nochange_vs_restic"`
	IncStreamVsChanged float64   `json:"incremental_stream_vs_changed_bytes"`
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func evict(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	f.Sync()
	unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

func evictTree(dir string) {
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			evict(p)
		}
		return nil
	})
}

func main() {
	dir := flag.String("dir", os.TempDir(), "directory on the disk to measure")
	gib := flag.Float64("gib", 1, "dataset size in GiB")
	pairs := flag.Int("pairs", 5, "interleaved incremental pairs")
	jsonOut := flag.String("json", "", "write the result as JSON here")
	flag.Parse()
	if _, err := exec.LookPath("restic"); err != nil {
		log.Fatal("restic is needed (apt-get install restic)")
	}
	work, err := os.MkdirTemp(*dir, "coffer-bench-send-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	total := int(*gib * (1 << 30))
	nfiles := max(1, total/fileSize)
	res := result{GiB: *gib}

	vdev := filepath.Join(work, "vdev")
	dp, err := dsl.CreatePool("bench", []pool.VdevSpec{{Paths: []string{vdev}}}, false, nil, nil, dsl.Options{SyncInterval: time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	defer dp.Close()
	key := make([]byte, 32)
	rand.Read(key)
	if err := dp.Create(context.Background(), "bench/data", dsl.CreateOpts{Props: map[string]string{"keyformat": "raw"}, Key: key}); err != nil {
		log.Fatal(err)
	}
	plain := filepath.Join(work, "plain")
	os.MkdirAll(plain, 0o755)
	objs := make([]uint64, nfiles)
	os_, _ := dp.Objset("bench/data")
	buf := make([]byte, fileSize)
	for i := range objs {
		rand.Read(buf)
		o, err := os_.NewObject(format.ObjectPlain, 128<<10, dp.NextTxg())
		if err != nil {
			log.Fatal(err)
		}
		objs[i] = o.ID()
		if err := o.Write(buf, 0); err != nil {
			log.Fatal(err)
		}
		if err := dp.MaybeSync(); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(plain, fmt.Sprintf("f%04d", i)), buf, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	if err := dp.Snapshot([]string{"bench/data@s0"}, false, nil); err != nil {
		log.Fatal(err)
	}
	repo := filepath.Join(work, "restic")
	os.Setenv("RESTIC_PASSWORD", "bench")
	os.Setenv("RESTIC_REPOSITORY", repo)
	run := func(args ...string) float64 {
		start := time.Now()
		cmd := exec.Command("restic", args...)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			log.Fatalf("restic %v: %v", args, err)
		}
		return time.Since(start).Seconds()
	}
	run("init", "-q")
	evictTree(plain)
	res.ResticFirstSec = run("backup", "-q", plain)

	dataFile := filepath.Join(vdev, "data")
	send := func(snap, from string) (time.Duration, int64) {
		evict(dataFile)
		cw := &countWriter{}
		start := time.Now()
		if err := dp.Send(context.Background(), snap, dsl.SendOpts{Raw: true, From: from}, cw); err != nil {
			log.Fatal(err)
		}
		return time.Since(start), cw.n
	}
	// Full send vs a cold read of the data file, interleaved.
	fi, _ := os.Stat(dataFile)
	for i := 0; i < 3; i++ {
		d, n := send("bench/data@s0", "")
		res.FullSendMBps = append(res.FullSendMBps, float64(n)/d.Seconds()/1e6)
		res.FullSendSec = d.Seconds()
		evict(dataFile)
		start := time.Now()
		f, _ := os.Open(dataFile)
		benchio.ReadAll(f)
		f.Close()
		res.ColdReadMBps = append(res.ColdReadMBps, float64(fi.Size())/time.Since(start).Seconds()/1e6)
	}
	res.FullVsRead = median(res.FullSendMBps) / median(res.ColdReadMBps)
	res.FasterThanRestic = res.ResticFirstSec / res.FullSendSec

	// Incrementals: change 1% the same way in both, then send and back up.
	rnd := mrand.New(mrand.NewPCG(1, 2))
	chunk := make([]byte, 128<<10)
	var changed int64
	var incStream int64
	for p := 1; p <= *pairs; p++ {
		var bytesChanged int64
		for bytesChanged < int64(total)/100 {
			i := rnd.IntN(nfiles)
			off := int64(rnd.IntN(fileSize/len(chunk))) * int64(len(chunk))
			rand.Read(chunk)
			o, _ := os_.Object(objs[i])
			if err := o.Write(chunk, uint64(off)); err != nil {
				log.Fatal(err)
			}
			f, _ := os.OpenFile(filepath.Join(plain, fmt.Sprintf("f%04d", i)), os.O_WRONLY, 0)
			f.WriteAt(chunk, off)
			f.Close()
			bytesChanged += int64(len(chunk))
		}
		if err := dp.Snapshot([]string{fmt.Sprintf("bench/data@s%d", p)}, false, nil); err != nil {
			log.Fatal(err)
		}
		d, n := send(fmt.Sprintf("bench/data@s%d", p), fmt.Sprintf("@s%d", p-1))
		res.IncSendSec = append(res.IncSendSec, d.Seconds())
		evictTree(plain)
		res.ResticIncSec = append(res.ResticIncSec, run("backup", "-q", plain))
		changed += bytesChanged
		incStream += n
		fmt.Fprintf(os.Stderr, "pair %d: incremental send %.3fs (%d bytes for %d changed), restic %.3fs\n", p, d.Seconds(), n, bytesChanged, res.ResticIncSec[len(res.ResticIncSec)-1])
	}
	res.IncVsRestic = median(res.IncSendSec) / median(res.ResticIncSec)
	res.IncStreamVsChanged = float64(incStream) / float64(changed)
	// No change at all.
	dp.Snapshot([]string{"bench/data@same"}, false, nil)
	d, _ := send("bench/data@same", fmt.Sprintf("@s%d", *pairs))
	res.NoChangeSendSec = d.Seconds()
	evictTree(plain)
	res.ResticNoChangeSec = run("backup", "-q", plain)
	res.NoChangeVsRestic = res.NoChangeSendSec / res.ResticNoChangeSec

	fmt.Printf("| figure (%.1f GiB random data, encrypted dataset) | coffer | peer / ceiling | ratio | target |\n|---|---|---|---|---|\n", *gib)
	fmt.Printf("| P6 full raw send vs cold read of the vdev file | %.0f MB/s | %.0f MB/s | %.2fx | >= 0.85x |\n", median(res.FullSendMBps), median(res.ColdReadMBps), res.FullVsRead)
	fmt.Printf("| P6 full raw send vs first restic backup | %.2f s | %.2f s | %.1fx faster | >= 5x |\n", res.FullSendSec, res.ResticFirstSec, res.FasterThanRestic)
	fmt.Printf("| P7 incremental after 1%% change vs restic (median of %d) | %.3f s | %.3f s | %.3fx | <= 0.1x |\n", *pairs, median(res.IncSendSec), median(res.ResticIncSec), res.IncVsRestic)
	fmt.Printf("| P7 send with no change vs restic | %.4f s | %.3f s | %.4fx | <= 0.05x |\n", res.NoChangeSendSec, res.ResticNoChangeSec, res.NoChangeVsRestic)
	fmt.Printf("| P7 incremental stream size / changed bytes | | | %.3fx | <= 1.1x |\n", res.IncStreamVsChanged)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		os.WriteFile(*jsonOut, b, 0o644)
	}
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
