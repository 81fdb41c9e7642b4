// Command pipeline measures coffer's block pipeline (compress, encrypt,
// checksum, store) against Go's raw AES-256-GCM on all cores, in one run,
// interleaved, and reports the median of the per-pair ratios.
//
//	go run ./bench/pipeline [-dir DIR] [-pairs 5] [-mib 1024] [-json FILE] [-cpuprofile FILE]
//
// Data is random (incompressible): coffer compresses, so zeros would flatter
// it. The pipeline figure is what a txg commit does with dirty data: the
// parallel encode (lz4 probe, AES-256-GCM, XXH3-64 as new pools checksum) and the writes to
// the vdev file, then the commit (fdatasync of the data file and the
// uberblock). It runs on the disk that holds -dir.
package main

import (
	"crypto/aes"
	"sync/atomic"

	"coffer/internal/compress"
	"coffer/internal/crypto"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"sync"
	"time"

	"coffer/internal/dsl"
	"coffer/internal/format"
	"coffer/internal/pool"
)

const block = 128 << 10

type result struct {
	Machine      string    `json:"machine"`
	Cores        int       `json:"cores"`
	MiB          int       `json:"mib_per_run"`
	GCMMBps      []float64 `json:"aes256gcm_mbps"`
	EncodeMBps   []float64 `json:"encode_mbps"`
	DiskMBps     []float64 `json:"disk_write_fdatasync_mbps"`
	PipelineMBps []float64 `json:"pipeline_commit_mbps"`
	EncodeRatios []float64 `json:"encode_vs_gcm"`
	CommitRatios []float64 `json:"commit_vs_disk"`
	EncodeMedian float64   `json:"encode_vs_gcm_median"`
	CommitMedian float64   `json:"commit_vs_disk_median"`
	Target       float64   `json:"encode_target"`
	MeetsTarget  bool      `json:"meets_target"`
}

func main() {
	dir := flag.String("dir", os.TempDir(), "directory for the test pool (its disk is measured)")
	pairs := flag.Int("pairs", 5, "interleaved measurement pairs")
	mib := flag.Int("mib", 1024, "MiB per measurement")
	jsonOut := flag.String("json", "", "write the result as JSON here")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run here")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}

	data := make([]byte, 64<<20)
	if _, err := rand.Read(data); err != nil {
		log.Fatal(err)
	}
	res := result{Cores: runtime.NumCPU(), MiB: *mib, Target: 0.8}
	res.Machine, _ = os.Hostname()
	for i := 0; i < *pairs; i++ {
		g := gcm(data, *mib)
		e := encode(data, *mib)
		dk, err := disk(*dir, data, *mib)
		if err != nil {
			log.Fatal(err)
		}
		p, err := pipeline(*dir, data, *mib)
		if err != nil {
			log.Fatal(err)
		}
		res.GCMMBps = append(res.GCMMBps, g)
		res.EncodeMBps = append(res.EncodeMBps, e)
		res.DiskMBps = append(res.DiskMBps, dk)
		res.PipelineMBps = append(res.PipelineMBps, p)
		res.EncodeRatios = append(res.EncodeRatios, e/g)
		res.CommitRatios = append(res.CommitRatios, p/dk)
		fmt.Fprintf(os.Stderr, "pair %d: gcm %.0f, encode %.0f (%.3f), disk %.0f, commit %.0f (%.3f) MB/s\n", i+1, g, e, e/g, dk, p, p/dk)
	}
	res.EncodeMedian = median(res.EncodeRatios)
	res.CommitMedian = median(res.CommitRatios)
	res.MeetsTarget = res.EncodeMedian >= res.Target
	fmt.Printf("| figure (%d MiB, random data, %d cores, median of %d interleaved runs) | MB/s |\n|---|---|\n", *mib, res.Cores, *pairs)
	fmt.Printf("| Go AES-256-GCM, all cores, 128 KiB blocks (ceiling) | %.0f |\n", median(res.GCMMBps))
	fmt.Printf("| coffer encode: lz4 (probe) + AES-256-GCM + XXH3-64, all cores | %.0f |\n", median(res.EncodeMBps))
	fmt.Printf("| plain write + fdatasync of the same bytes, same disk (ceiling) | %.0f |\n", median(res.DiskMBps))
	fmt.Printf("| coffer commit: encode + write + fdatasync + uberblock | %.0f |\n", median(res.PipelineMBps))
	fmt.Printf("\nencode / AES-256-GCM: %.3f (target >= %.2f: %v)\ncommit / disk: %.3f\n", res.EncodeMedian, res.Target, res.MeetsTarget, res.CommitMedian)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// encode runs the block encoder (what a commit does before writing) on
// every core.
func encode(data []byte, mib int) float64 {
	key, err := crypto.NewDatasetKey(crypto.AES256GCM)
	if err != nil {
		log.Fatal(err)
	}
	blocks := mib << 20 / block
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ad := make([]byte, 34)
			for {
				i := next.Add(1) - 1
				if i >= int64(blocks) {
					return
				}
				off := (i * block) % int64(len(data)-block)
				out, _, err := pool.Encode(7, pool.BlockSpec{Type: format.TypeData, Compress: compress.LZ4, Key: key, AD: ad, Cksum: format.ChecksumXXH3}, data[off:off+block])
				if err != nil {
					log.Fatal(err)
				}
				pool.PutBuf(out)
			}
		}()
	}
	wg.Wait()
	return float64(blocks*block) / time.Since(start).Seconds() / 1e6
}

// disk writes the same amount with plain writes and one fdatasync.
func disk(dir string, data []byte, mib int) (float64, error) {
	f, err := os.CreateTemp(dir, "coffer-bench-disk-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	total := mib << 20
	start := time.Now()
	for off := 0; off < total; off += 1 << 20 {
		if _, err := f.Write(data[off%(len(data)-(1<<20)) : off%(len(data)-(1<<20))+(1<<20)]); err != nil {
			return 0, err
		}
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	return float64(total) / time.Since(start).Seconds() / 1e6, nil
}

// gcm seals mib MiB of 128 KiB blocks with AES-256-GCM on every core.
func gcm(data []byte, mib int) float64 {
	key := make([]byte, 32)
	rand.Read(key)
	blocks := mib << 20 / block
	var next int64
	var mu sync.Mutex
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, _ := aes.NewCipher(key)
			a, _ := cipher.NewGCM(b)
			nonce := make([]byte, 12)
			out := make([]byte, 0, block+16)
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= int64(blocks) {
					return
				}
				off := (i * block) % int64(len(data)-block)
				nonce[0]++ // a counter: the ceiling must not pay for crypto/rand
				out = a.Seal(out[:0], nonce, data[off:off+block], nil)
			}
		}()
	}
	wg.Wait()
	return float64(blocks*block) / time.Since(start).Seconds() / 1e6
}

// pipeline writes mib MiB of random data into an encrypted dataset and
// commits it.
func pipeline(dir string, data []byte, mib int) (float64, error) {
	tmp, err := os.MkdirTemp(dir, "coffer-bench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	dp, err := dsl.CreatePool("bench", []pool.VdevSpec{{Paths: []string{filepath.Join(tmp, "v0")}}}, false, nil, nil,
		dsl.Options{SyncInterval: time.Hour, DirtyMax: 1 << 40})
	if err != nil {
		return 0, err
	}
	defer dp.Close()
	key := make([]byte, 32)
	rand.Read(key)
	if err := dp.Create(nil, "bench/enc", dsl.CreateOpts{Props: map[string]string{"encryption": "aes-256-gcm", "keyformat": "raw"}, Key: key}); err != nil {
		return 0, err
	}
	os, err := dp.Objset("bench/enc")
	if err != nil {
		return 0, err
	}
	total := mib << 20
	const perObject = 64 << 20
	// Fill the dirty buffers first (copying into them is the write path, not
	// the pipeline), then time the commit that encodes and stores them.
	for off := 0; off < total; off += perObject {
		o, err := os.NewObject(format.ObjectPlain, block, dp.NextTxg())
		if err != nil {
			return 0, err
		}
		n := min(perObject, total-off)
		if err := o.Write(data[:n], 0); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	if err := dp.Sync(); err != nil {
		return 0, err
	}
	return float64(total) / time.Since(start).Seconds() / 1e6, nil
}
