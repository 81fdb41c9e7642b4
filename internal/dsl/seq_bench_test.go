package dsl

import (
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"coffer/internal/format"
	"coffer/internal/pool"
)

// benchPool makes a pool with an encrypted dataset for the sequential
// benchmarks (the access layers' view: writes, MaybeSync, fsync).
func benchPool(b *testing.B) (*Pool, string) {
	b.Helper()
	dir := b.TempDir()
	dp, err := CreatePool("tank", []pool.VdevSpec{{Paths: []string{filepath.Join(dir, "d0")}}}, false, nil, nil, Options{})
	if err != nil {
		b.Fatal(err)
	}
	encProps := map[string]string{"encryption": "on", "keyformat": "passphrase", "pbkdf2iters": "100000"}
	if err := dp.Create(nil, "tank/enc", CreateOpts{Props: encProps, Key: []byte(pass + "\n")}); err != nil {
		b.Fatal(err)
	}
	return dp, dir
}

const benchMiB = 256

// writeSeq writes a new file of mib MiB of random data to tank/enc in
// 1 MiB writes, as FUSE delivers them, calling MaybeSync after each,
// commits it (fsync) and returns its object number.
func writeSeq(b *testing.B, dp *Pool, mib int) uint64 {
	data := make([]byte, 1<<20)
	rand.Read(data)
	os, err := dp.Objset("tank/enc")
	if err != nil {
		b.Fatal(err)
	}
	o, err := os.NewObject(format.ObjectPlain, 128<<10, dp.NextTxg())
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < mib; i++ {
		data[i%len(data)]++
		if err := o.Write(data, uint64(i)<<20); err != nil {
			b.Fatal(err)
		}
		if err := dp.MaybeSync(); err != nil {
			b.Fatal(err)
		}
	}
	if err := dp.Sync(); err != nil {
		b.Fatal(err)
	}
	return o.ID()
}

// BenchmarkSequentialWrite writes benchMiB MiB of random data in 1 MiB
// writes, as FUSE delivers them, calling MaybeSync after each, then
// commits (fsync).
func BenchmarkSequentialWrite(b *testing.B) {
	b.SetBytes(benchMiB << 20)
	for b.Loop() {
		b.StopTimer()
		dp, _ := benchPool(b)
		b.StartTimer()
		writeSeq(b, dp, benchMiB)
		b.StopTimer()
		dp.Close()
		b.StartTimer()
	}
}

// BenchmarkColdSequentialRead reads benchMiB MiB in 128 KiB reads (the
// size of FUSE's reads) after a reimport with the vdev evicted from the
// page cache.
func BenchmarkColdSequentialRead(b *testing.B) {
	dp, dir := benchPool(b)
	id := writeSeq(b, dp, benchMiB)
	buf := make([]byte, 128<<10)
	b.SetBytes(benchMiB << 20)
	for b.Loop() {
		b.StopTimer()
		dp.Close()
		evictFiles(dir)
		found, err := pool.Scan([]string{dir})
		if err != nil || len(found) != 1 {
			b.Fatal(err)
		}
		if dp, err = Import(found[0], Options{}); err != nil {
			b.Fatal(err)
		}
		if err := dp.LoadKey("tank/enc", false, "", []byte(pass+"\n")); err != nil {
			b.Fatal(err)
		}
		os2, err := dp.Objset("tank/enc")
		if err != nil {
			b.Fatal(err)
		}
		o2, err := os2.Object(id)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for off := uint64(0); off < benchMiB<<20; off += uint64(len(buf)) {
			if err := o2.Read(buf, off); err != nil {
				b.Fatal(err)
			}
		}
	}
	dp.Close()
}

// BenchmarkColdRawSend sends a snapshot of benchSendMiB MiB, written as
// FUSE writes, raw to io.Discard from a cold page cache, and reports it as
// a ratio against a cold read of the vdev file in the same iteration
// ("x-disk"): what P6 of bench/run.sh measures, without the daemon.
func BenchmarkColdRawSend(b *testing.B) {
	const benchSendMiB = 1024
	dp, dir := benchPool(b)
	defer dp.Close()
	writeSeq(b, dp, benchSendMiB)
	if err := dp.Snapshot([]string{"tank/enc@s"}, false, nil); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	var sendT, diskT time.Duration
	b.SetBytes(benchSendMiB << 20)
	for b.Loop() {
		b.StopTimer()
		evictFiles(dir)
		t0 := time.Now()
		f, err := os.Open(filepath.Join(dir, "d0", "data"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, io.LimitReader(f, benchSendMiB<<20), buf); err != nil {
			b.Fatal(err)
		}
		f.Close()
		diskT += time.Since(t0)
		evictFiles(dir)
		b.StartTimer()
		t0 = time.Now()
		if err := dp.Send(context.Background(), "tank/enc@s", SendOpts{Raw: true}, io.Discard); err != nil {
			b.Fatal(err)
		}
		sendT += time.Since(t0)
	}
	b.ReportMetric(diskT.Seconds()/sendT.Seconds(), "x-disk")
}
