package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// minioVersion is the MinIO server the S3 tests run: built from the Go
// module proxy with `go install` (scripts/test.sh does it ahead of time
// into the same cache, so the tests only find it there).
const minioVersion = "v0.0.0-20260212201848-7aac2a2c5b7c"

// minioBinary returns the cached MinIO server binary, building it with go
// install when it is missing. The cache is $COFFER_TEST_CACHE, else
// $HOME/.cache/coffer-test. It fails the test when MinIO cannot be had:
// the S3 tests are never skipped.
func minioBinary(t *testing.T) string {
	t.Helper()
	cache := os.Getenv("COFFER_TEST_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatalf("MinIO cache: no home directory and no COFFER_TEST_CACHE: %v", err)
		}
		cache = filepath.Join(home, ".cache", "coffer-test")
	}
	dir := filepath.Join(cache, "minio-"+minioVersion)
	bin := filepath.Join(dir, "minio")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	t.Logf("building MinIO %s into %s (once; scripts/test.sh does this ahead of the tests)", minioVersion, dir)
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatalf("MinIO cache %s: %v", cache, err)
	}
	tmp, err := os.MkdirTemp(cache, "minio-build-")
	if err != nil {
		t.Fatalf("MinIO cache %s: %v", cache, err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "install", "github.com/minio/minio@"+minioVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the S3 tests need a real S3 server: `go install github.com/minio/minio@%s` failed: %v\n%s", minioVersion, err, out)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(tmp, "minio"), bin); err != nil {
		t.Fatalf("MinIO cache: %v", err)
	}
	return bin
}

// s3Server is a MinIO server on loopback with its data in a temporary
// directory.
type s3Server struct {
	endpoint string // host:port
	dir      string // the server's backing directory
	access   string
	secret   string
}

func startS3(t *testing.T, access, secret string) *s3Server {
	t.Helper()
	bin := minioBinary(t)
	port, console := freePort(t), freePort(t)
	s := &s3Server{endpoint: fmt.Sprintf("127.0.0.1:%d", port), dir: t.TempDir(), access: access, secret: secret}
	cmd := exec.Command(bin, "server", "--quiet", "--address", s.endpoint, "--console-address", fmt.Sprintf("127.0.0.1:%d", console), s.dir)
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+access, "MINIO_ROOT_PASSWORD="+secret, "MINIO_BROWSER=off",
		"MINIO_UPDATE=off", "MINIO_CI_CD=1", "HOME="+t.TempDir())
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start MinIO: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("MinIO log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("MinIO exited at start:\n%s", log.String())
		default:
		}
		resp, err := http.Get("http://" + s.endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("MinIO does not answer on %s:\n%s", s.endpoint, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// client is a MinIO client of the server, for the test's own look at the
// bucket.
func (s *s3Server) client(t *testing.T) *minio.Client {
	t.Helper()
	c, err := minio.New(s.endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.access, s.secret, "")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type remoteBackupJSON struct {
	Name     string `json:"name"`
	GUID     uint64 `json:"guid"`
	FromGUID uint64 `json:"from_guid"`
	From     string `json:"from"`
	Object   string `json:"object"`
	Bytes    int64  `json:"bytes"`
	SHA256   string `json:"sha256"`
	Created  int64  `json:"created"`
}

type backupsJSON struct {
	OutputVersion struct {
		Command   string `json:"command"`
		VersMajor int    `json:"vers_major"`
		VersMinor int    `json:"vers_minor"`
	} `json:"output_version"`
	Remote  string             `json:"remote"`
	Dataset string             `json:"dataset"`
	Backups []remoteBackupJSON `json:"backups"`
}

// TestRemoteS3 backs an encrypted dataset up to a real S3 server (MinIO)
// as a chain of raw streams, restores it into another daemon's pool, and
// checks that the bucket and the daemon never hold plaintext or the
// secret key, and that a damaged object is refused without changing the
// target.
func TestRemoteS3(t *testing.T) {
	start := time.Now()
	const access = "coffer-e2e"
	const secret = "S3-SECRET-0b4f9c2e-never-printed"
	s3 := startS3(t, access, secret)
	t.Logf("MinIO ready after %v", time.Since(start).Round(time.Millisecond))
	creds := []byte(access + ":" + secret + "\n")
	endpoint := "endpoint=http://" + s3.endpoint

	main := startDaemon(t)
	backup := startDaemon(t)
	mnt, bmnt := t.TempDir(), t.TempDir()
	main.ok("pool", "create", "-O", "mountpoint="+mnt, "tank", filepath.Join(t.TempDir(), "a0"))
	backup.ok("pool", "create", "-O", "mountpoint="+bmnt, "backup", filepath.Join(t.TempDir(), "b0"))
	const passphrase = "correct horse battery staple"
	main.okIn(pass(passphrase), createArgs(fastEnc, "tank/media")...)
	main.ok("mount", "tank/media")
	media := filepath.Join(mnt, "media")
	marker := "S3-PLAINTEXT-MARKER-51d2"
	write := func(name string, data []byte) {
		t.Helper()
		p := filepath.Join(media, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	big := make([]byte, 3<<20)
	rand.Read(big)
	write("photos/beach.jpg", big)
	write("notes/today.txt", []byte(strings.Repeat(marker+" dear diary\n", 300)))
	write("notes/"+marker+".txt", []byte("named with the marker"))
	main.ok("snapshot", "tank/media@first")

	// Credentials: bad usage and a wrong secret change nothing.
	main.fail(1, "no data on standard input", "remote", "add", "-o", endpoint, "-o", "insecure=on", "lab", "s3://coffer-e2e/backups")
	main.fail(2, "want s3://BUCKET", "remote", "add", "lab", "coffer-e2e")
	main.failIn(creds, 1, "plain HTTP", "remote", "add", "-o", endpoint, "lab", "s3://coffer-e2e/backups")
	r := main.failIn([]byte(access+":not-the-secret\n"), 1, "cannot add remote 'lab': cannot reach bucket", "remote", "add", "-o", endpoint, "-o", "insecure=on", "lab", "s3://coffer-e2e/backups")
	cannot(t, r)
	if out := main.ok("remote", "list", "-H"); out != "" {
		t.Fatalf("a refused add left a remote: %q", out)
	}

	// Add: the bucket is created.
	main.okIn(creds, "remote", "add", "-o", endpoint, "-o", "insecure=on", "lab", "s3://coffer-e2e/backups")
	main.failIn(creds, 1, "remote already exists", "remote", "add", "-o", endpoint, "-o", "insecure=on", "lab", "s3://coffer-e2e/backups")
	if out := main.ok("remote", "list", "-H"); out != "lab\ts3://coffer-e2e/backups\thttp://"+s3.endpoint+"\t-\n" {
		t.Fatalf("remote list -H = %q", out)
	}
	listJ := main.ok("remote", "list", "-j")
	var rl struct {
		OutputVersion map[string]any `json:"output_version"`
		Remotes       map[string]struct {
			Name     string `json:"name"`
			URL      string `json:"url"`
			Endpoint string `json:"endpoint"`
			Region   string `json:"region"`
			Insecure bool   `json:"insecure"`
		} `json:"remotes"`
	}
	mustJSON(t, listJ, &rl)
	if l := rl.Remotes["lab"]; l.URL != "s3://coffer-e2e/backups" || !l.Insecure || l.Endpoint != "http://"+s3.endpoint {
		t.Fatalf("remote list -j = %s", listJ)
	}

	// Full, then incremental without -i.
	main.ok("remote", "send", "lab", "tank/media@first")
	main.fail(1, "the remote already has it", "remote", "send", "lab", "tank/media@first")
	write("notes/tomorrow.txt", []byte(marker+" plans"))
	os.Remove(filepath.Join(media, "notes/"+marker+".txt"))
	f, err := os.OpenFile(filepath.Join(media, "photos/beach.jpg"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte(marker), 1<<20)
	f.Close()
	main.ok("snapshot", "tank/media@second")
	main.ok("remote", "send", "lab", "tank/media@second")

	var bl backupsJSON
	mustJSON(t, main.ok("remote", "list-backups", "-j", "lab", "tank/media"), &bl)
	guid := func(d *daemon, snap string) uint64 {
		var g uint64
		fmt.Sscan(d.prop(snap, "guid"), &g)
		return g
	}
	g1, g2 := guid(main, "tank/media@first"), guid(main, "tank/media@second")
	if len(bl.Backups) != 2 || bl.Backups[0].Name != "tank/media@first" || bl.Backups[0].FromGUID != 0 || bl.Backups[0].GUID != g1 ||
		bl.Backups[1].Name != "tank/media@second" || bl.Backups[1].FromGUID != g1 || bl.Backups[1].GUID != g2 || bl.Backups[1].From != "tank/media@first" {
		t.Fatalf("list-backups -j: %+v (guids %d %d)", bl, g1, g2)
	}
	if bl.Backups[1].Bytes*4 > bl.Backups[0].Bytes {
		t.Errorf("the second stream (%d bytes) is not a small incremental of the first (%d bytes)", bl.Backups[1].Bytes, bl.Backups[0].Bytes)
	}
	table := main.ok("remote", "list-backups", "-H", "-p", "lab", "tank/media")
	if ls := lines(table); len(ls) != 2 || !strings.HasPrefix(ls[0], "tank/media@first\tfull\t") || !strings.HasPrefix(ls[1], "tank/media@second\ttank/media@first\t") {
		t.Errorf("list-backups -H -p:\n%s", table)
	}

	// The bucket holds ciphertext only: the objects as the S3 API returns
	// them, and the server's backing files.
	ctx := context.Background()
	mc := s3.client(t)
	objects := map[string][]byte{}
	for o := range mc.ListObjects(ctx, "coffer-e2e", minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		obj, err := mc.GetObject(ctx, "coffer-e2e", o.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(obj)
		obj.Close()
		if err != nil {
			t.Fatal(err)
		}
		objects[o.Key] = b
	}
	wantKeys := []string{"backups/tank/media/manifest.json", bl.Backups[0].Object, bl.Backups[1].Object}
	for _, k := range wantKeys {
		if _, ok := objects[k]; !ok {
			t.Fatalf("bucket lacks %s; has %v", k, keys(objects))
		}
	}
	if len(objects) != 3 || bl.Backups[0].Object != fmt.Sprintf("backups/tank/media/%d.cfs", g1) {
		t.Errorf("bucket objects = %v", keys(objects))
	}
	for k, b := range objects {
		if bytes.Contains(b, []byte(marker)) || bytes.Contains(b, []byte(passphrase)) || bytes.Contains(b, big[:64]) || bytes.Contains(b, []byte(secret)) {
			t.Errorf("plaintext in object %s", k)
		}
	}
	var manifest struct {
		Version int                `json:"version"`
		Dataset string             `json:"dataset"`
		Streams []remoteBackupJSON `json:"streams"`
	}
	if err := json.Unmarshal(objects["backups/tank/media/manifest.json"], &manifest); err != nil || manifest.Version != 1 || manifest.Dataset != "tank/media" || len(manifest.Streams) != 2 {
		t.Fatalf("manifest.json: %v\n%s", err, objects["backups/tank/media/manifest.json"])
	}
	filepath.WalkDir(s3.dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(marker)) || bytes.Contains(b, big[:64]) {
			t.Errorf("plaintext in the S3 server's file %s", p)
		}
		return nil
	})

	// Restore the second snapshot into another daemon's pool: locked until
	// load-key with the original passphrase, then every file matches.
	backup.okIn(creds, "remote", "add", "-o", endpoint, "-o", "insecure=on", "lab", "s3://coffer-e2e/backups")
	backup.ok("remote", "receive", "lab", "tank/media@second", "backup/media")
	if ks := backup.prop("backup/media", "keystatus"); ks != "unavailable" {
		t.Fatalf("restored keystatus = %q", ks)
	}
	if got := backup.names("-t", "snapshot", "-r", "backup/media"); strings.Join(got, ",") != "backup/media@first,backup/media@second" {
		t.Fatalf("restored snapshots = %v", got)
	}
	if g := guid(backup, "backup/media@second"); g != g2 {
		t.Fatalf("restored guid %d, sent %d", g, g2)
	}
	backup.okIn(pass(passphrase), "load-key", "backup/media")
	backup.ok("mount", "backup/media")
	compareTrees(t, media, filepath.Join(bmnt, "media"))

	// The first snapshot alone: the chain stops early.
	backup.ok("remote", "receive", "lab", "tank/media@first", "backup/first")
	if got := backup.names("-t", "snapshot", "-r", "backup/first"); strings.Join(got, ",") != "backup/first@first" {
		t.Fatalf("restored snapshots = %v", got)
	}
	backup.okIn(pass(passphrase), "load-key", "backup/first")
	backup.ok("mount", "backup/first")
	compareTrees(t, filepath.Join(media, ".coffer", "snapshot", "first"), filepath.Join(bmnt, "first"))
	backup.ok("unmount", "backup/first")
	backup.fail(1, "already has it", "remote", "receive", "lab", "tank/media@first", "backup/first")
	backup.fail(1, "no backup of it", "remote", "receive", "lab", "tank/media@nope", "backup/x")

	// A damaged stream object is refused and the target is left as it was:
	// a fresh target, and backup/first, which needs only the incremental.
	key2 := bl.Backups[1].Object
	damaged := bytes.Clone(objects[key2])
	damaged[len(damaged)/2] ^= 0x40
	put := func(key string, b []byte) {
		t.Helper()
		if _, err := mc.PutObject(ctx, "coffer-e2e", key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put(key2, damaged)
	backup.unchanged("receive of a damaged object", func() {
		r := backup.fail(1, "does not match the manifest", "remote", "receive", "lab", "tank/media@second", "backup/broken")
		cannot(t, r)
		backup.fail(1, "does not match the manifest", "remote", "receive", "lab", "tank/media@second", "backup/first")
	})
	// Damage that the manifest agrees with (as if it were written with the
	// damage): the receiver's own checksums refuse it.
	m2 := bytes.Replace(objects["backups/tank/media/manifest.json"], []byte(bl.Backups[1].SHA256), []byte(sha256hex(damaged)), 1)
	put("backups/tank/media/manifest.json", m2)
	backup.unchanged("receive of a damaged stream", func() {
		backup.fail(1, "cannot receive", "remote", "receive", "lab", "tank/media@second", "backup/first")
	})
	put(key2, objects[key2])
	put("backups/tank/media/manifest.json", objects["backups/tank/media/manifest.json"])
	// Repaired, the incremental applies on top of backup/first.
	backup.ok("remote", "receive", "lab", "tank/media@second", "backup/first")
	if g := guid(backup, "backup/first@second"); g != g2 {
		t.Fatalf("incremental restore: guid %d, want %d", g, g2)
	}

	// A gap: with the full stream gone from the manifest, nothing restores.
	m3 := strings.Replace(string(objects["backups/tank/media/manifest.json"]), `"from_guid": 0`, `"from_guid": 77`, 1)
	put("backups/tank/media/manifest.json", []byte(m3))
	backup.unchanged("receive of a broken chain", func() {
		backup.fail(1, "is missing from the remote", "remote", "receive", "lab", "tank/media@second", "backup/gap")
	})
	put("backups/tank/media/manifest.json", objects["backups/tank/media/manifest.json"])

	// Credentials: never in a response, a log or remotes.json.
	for _, d := range []*daemon{main, backup} {
		for _, out := range []string{d.ok("remote", "list", "-j"), d.ok("remote", "list"), d.log.String()} {
			if strings.Contains(out, secret) {
				t.Errorf("the secret key shows in output or the daemon log")
			}
		}
		filepath.WalkDir(d.state, func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return nil
			}
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(secret)) {
				t.Errorf("the secret key is in plaintext in %s", p)
			}
			return nil
		})
		// The sealing key is in the keystore, not in a plain file.
		if _, err := os.Stat(filepath.Join(d.state, "remote-secret.key")); !os.IsNotExist(err) {
			t.Errorf("remote-secret.key exists: %v", err)
		}
		if b, err := os.ReadFile(filepath.Join(d.state, "remotes.json")); err != nil || !bytes.Contains(b, []byte(`"secret_sealed"`)) {
			t.Errorf("remotes.json: %v\n%s", err, b)
		}
	}

	// Remove forgets the remote; its backups stay.
	main.ok("remote", "remove", "lab")
	main.fail(1, "no such remote", "remote", "remove", "lab")
	main.fail(1, "no such remote 'lab'", "remote", "send", "lab", "tank/media@second")
	if out := main.ok("remote", "list", "-H"); out != "" {
		t.Fatalf("remote list after remove = %q", out)
	}
	backup.ok("unmount", "backup/media")
	main.ok("unmount", "tank/media")
	t.Logf("TestRemoteS3 took %v", time.Since(start).Round(time.Millisecond))
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
