package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"coffer/internal/api"
	"coffer/internal/atomicfile"
	"coffer/internal/dsl"
	"coffer/internal/pool"
)

// Options configure the daemon.
type Options struct {
	StateDir string
	Socket   string
	// HTTP, when HTTP.Addr is set, also serves the API on TCP.
	HTTP   api.TCPOptions
	TPM    string // TPM device or tcp://HOST:PORT (swtpm); default /dev/tpmrm0
	Logger *slog.Logger
	// ReadAheadKB is the kernel read-ahead of FUSE mounts in KiB (0:
	// fusefs.DefaultReadAheadKB, -1: the kernel's default).
	ReadAheadKB int
	// Pool options (tests shorten the commit interval).
	PoolOptions dsl.Options
}

// Daemon holds the open pools.
type Daemon struct {
	opts  Options
	log   *slog.Logger
	mu    sync.Mutex
	pools map[string]*dsl.Pool

	// FUSE mounts (mount.go).
	mountOnce sync.Once
	mounts    *mountTable

	remotes remoteSet // remote.go

	keys keys // keys.go: system keystore, audit log

	rekeyRuns rekeyRuns // rekey.go

	// notImported: pools of the cache file that did not import at start,
	// and why (health.go); a later pool import clears the entry.
	notImported map[string]string
}

// cacheFile lists the imported pools and where their vdevs are.
type cacheFile struct {
	Pools []cachedPool `json:"pools"`
}

type cachedPool struct {
	Name string   `json:"name"`
	GUID uint64   `json:"guid"`
	Dirs []string `json:"dirs"`
}

// New opens the state directory and imports the cached pools. A pool that
// cannot be imported is logged and skipped; it does not stop the others.
func New(opts Options) (*Daemon, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	opts.PoolOptions.Logger = opts.Logger
	d := &Daemon{opts: opts, log: opts.Logger, pools: map[string]*dsl.Pool{}, notImported: map[string]string{}}
	d.opts.PoolOptions.KeyProvider = keyProvider{d}
	opts = d.opts
	c, err := d.readCache()
	if err != nil {
		return nil, err
	}
	for _, cp := range c.Pools {
		found, err := pool.Scan(cp.Dirs)
		if err != nil {
			d.log.Error("pool not imported", "pool", cp.Name, "err", err)
			d.notImported[cp.Name] = firstLine(err)
			continue
		}
		var f *pool.Found
		for i := range found {
			if found[i].GUID == cp.GUID {
				f = &found[i]
			}
		}
		if f == nil {
			d.log.Error("pool not imported: no vdev found", "pool", cp.Name, "dirs", cp.Dirs)
			d.notImported[cp.Name] = "no vdev found in " + strings.Join(cp.Dirs, ", ")
			continue
		}
		dp, err := dsl.Import(*f, opts.PoolOptions)
		if err != nil {
			d.log.Error("pool not imported", "pool", cp.Name, "err", err)
			d.notImported[cp.Name] = firstLine(err)
			continue
		}
		d.pools[dp.Name()] = dp
		d.log.Info("pool imported", "pool", dp.Name(), "txg", dp.Raw().Txg())
	}
	if err := d.openKeystore(); err != nil {
		d.log.Error("keystore", "err", err)
	}
	d.migrateRemoteKey()
	d.autoUnlock()
	return d, nil
}

func (d *Daemon) cachePath() string { return filepath.Join(d.opts.StateDir, "pools.json") }

func (d *Daemon) readCache() (cacheFile, error) {
	var c cacheFile
	b, err := os.ReadFile(d.cachePath())
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", d.cachePath(), err)
	}
	return c, nil
}

// writeCache records the open pools; d.mu held.
func (d *Daemon) writeCache() error {
	var c cacheFile
	names := make([]string, 0, len(d.pools))
	for n := range d.pools {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		dp := d.pools[n]
		cp := cachedPool{Name: n, GUID: dp.Raw().GUID()}
		for _, t := range dp.Raw().Config().Tops {
			for _, l := range t.Leaves {
				cp.Dirs = append(cp.Dirs, l.Path)
			}
		}
		c.Pools = append(c.Pools, cp)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(d.cachePath(), b)
}

// Close commits and closes every pool.
func (d *Daemon) Close() error {
	d.unmountForShutdown() // mount.go: before the pools close
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for n, dp := range d.pools {
		if err := dp.Close(); err != nil {
			errs = append(errs, fmt.Errorf("pool %s: %w", n, err))
		}
		delete(d.pools, n)
	}
	return errors.Join(errs...)
}

// Run runs the daemon until ctx is done.
func Run(ctx context.Context, opts Options) error {
	d, err := New(opts)
	if err != nil {
		return err
	}
	if err := d.mountAll(""); err != nil { // mount.go
		d.log.Error("some file systems were not mounted", "err", err)
	}
	srv := d.newServer()
	users, err := api.LoadUsers(filepath.Join(opts.StateDir, "users.json"))
	if err != nil {
		return errors.Join(err, d.Close())
	}
	srv.SetUsers(users)
	var tcp net.Listener
	if opts.HTTP.Addr != "" {
		if tcp, err = api.ListenTCP(opts.HTTP); err != nil {
			return errors.Join(err, d.Close())
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var herr error
	var wg sync.WaitGroup
	if tcp != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if herr = srv.ServeTCP(ctx, tcp); herr != nil {
				cancel()
			}
		}()
		d.log.Info("serving HTTP API", "addr", tcp.Addr().String(), "tls", opts.HTTP.CertFile != "")
	}
	d.log.Info("serving", "socket", opts.Socket)
	serr := srv.ServeUnix(ctx, opts.Socket)
	cancel()
	wg.Wait()
	cerr := d.Close()
	return errors.Join(serr, herr, cerr)
}

// newServer builds the API server with every method of the daemon.
func (d *Daemon) newServer() *api.Server {
	srv := api.NewServer(d, d.log)
	srv.RegisterMount(d)   // mount.go
	srv.RegisterRemote(d)  // remote.go
	srv.RegisterLock(d)    // lock.go
	srv.RegisterKeys(d)    // keys.go
	srv.RegisterCheck(d)   // check.go
	srv.RegisterUpgrade(d) // check.go
	srv.RegisterRekey(d)   // rekey.go
	srv.RegisterHealth(d)  // health.go
	srv.SetAudit(d.auditAPI)
	return srv
}
