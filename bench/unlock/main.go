// Command unlock measures `unlock -r` of many passphrase encryption roots
// that share one passphrase, through the daemon's own API methods (the
// code the socket and HTTP servers call), with the real default KDF cost
// (PBKDF2-SHA512, 350,000 iterations).
//
//	go run ./bench/unlock [-roots 1000] [-salt pool|random] [-dir DIR] [-json FILE]
//
// It creates a pool in -dir, a passphrase root tank/top and -roots child
// roots below it with the same passphrase (canmount=off: mounting is not
// what is measured), locks them all, then times one unlock -r of tank/top
// and prints {"roots": N, "seconds": S, "derivations": D}. With -salt
// random every root gets its own salt: the cost before the pool salt.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"coffer/internal/api"
	"coffer/internal/daemon"
	"coffer/internal/dsl"
)

type result struct {
	Roots         int     `json:"roots"`
	Salt          string  `json:"salt"`
	Seconds       float64 `json:"seconds"`
	Derivations   int64   `json:"derivations"`
	Unlocked      int     `json:"unlocked"`
	CreateSeconds float64 `json:"create_seconds"`
}

func main() {
	n := flag.Int("roots", 1000, "child encryption roots")
	salt := flag.String("salt", "pool", "pbkdf2salt of the roots: pool or random")
	dir := flag.String("dir", "", "directory for the pool and state (default: a temporary one)")
	jsonOut := flag.String("json", "", "also write the result here")
	flag.Parse()

	base := *dir
	if base == "" {
		var err error
		if base, err = os.MkdirTemp("", "coffer-bench-unlock-"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(base)
	}
	var derived atomic.Int64
	d, err := daemon.New(daemon.Options{
		StateDir:    filepath.Join(base, "state"),
		Logger:      slog.New(slog.DiscardHandler),
		PoolOptions: dsl.Options{Derived: func() { derived.Add(1) }},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	admin := api.Caller{User: "root", Role: api.RoleAdmin, Transport: "bench"}
	pass := []byte("one passphrase for every root")
	must(d.PoolCreate(ctx, admin, api.PoolCreateReq{Name: "tank", Vdevs: []api.VdevSpec{{Paths: []string{filepath.Join(base, "vdev")}}}, Props: map[string]string{"canmount": "off"}}))
	root := map[string]string{"encryption": "on", "keyformat": "passphrase", "keylocation": "prompt", "canmount": "off", "pbkdf2salt": *salt}
	start := time.Now()
	must(d.Create(ctx, admin, api.CreateReq{Name: "tank/top", Props: root, Key: pass}))
	for i := range *n {
		must(d.Create(ctx, admin, api.CreateReq{Name: fmt.Sprintf("tank/top/r%05d", i), Props: root, Key: pass}))
	}
	created := time.Since(start)
	if _, err := d.UnloadKey(ctx, admin, api.UnloadKeyReq{Name: "tank/top", Recursive: true}); err != nil {
		log.Fatal(err)
	}
	derived.Store(0)
	start = time.Now()
	resp, err := d.Unlock(ctx, admin, api.UnlockReq{Name: "tank/top", Recursive: true, Key: pass})
	took := time.Since(start)
	if err != nil {
		log.Fatal(err)
	}
	if len(resp.Unlocked) != *n+1 {
		log.Fatalf("unlocked %d roots, want %d (skipped %d)", len(resp.Unlocked), *n+1, len(resp.Skipped))
	}
	res := result{Roots: *n + 1, Salt: *salt, Seconds: took.Seconds(), Derivations: derived.Load(), Unlocked: len(resp.Unlocked), CreateSeconds: created.Seconds()}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	if *jsonOut != "" {
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
