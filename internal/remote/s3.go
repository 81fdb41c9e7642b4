package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"coffer/internal/crypto"
)

// DefaultEndpoint is the endpoint of a remote added without one.
const DefaultEndpoint = "https://s3.amazonaws.com"

// Location is where a remote keeps its backups: an endpoint, a bucket and a
// key prefix. It holds no credentials.
type Location struct {
	Endpoint string `json:"endpoint"` // URL: https://host[:port] or http://host[:port]
	Region   string `json:"region,omitempty"`
	Bucket   string `json:"bucket"`
	Prefix   string `json:"prefix,omitempty"` // no leading or trailing '/'
}

// URL returns s3://bucket[/prefix].
func (l Location) URL() string {
	if l.Prefix == "" {
		return "s3://" + l.Bucket
	}
	return "s3://" + l.Bucket + "/" + l.Prefix
}

// Insecure reports whether the endpoint is plain HTTP.
func (l Location) Insecure() bool { return strings.HasPrefix(l.Endpoint, "http://") }

// ParseURL parses s3://BUCKET[/PREFIX].
func ParseURL(s string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return "", "", fmt.Errorf("'%s' is not an s3://BUCKET[/PREFIX] URL", s)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if err := s3utils.CheckValidBucketNameStrict(bucket); err != nil {
		return "", "", fmt.Errorf("invalid bucket name '%s': %v", bucket, err)
	}
	prefix = strings.Trim(prefix, "/")
	for _, p := range strings.Split(prefix, "/") {
		if prefix != "" && (p == "" || p == "." || p == "..") {
			return "", "", fmt.Errorf("invalid prefix '%s'", prefix)
		}
	}
	return bucket, prefix, nil
}

// ParseEndpoint checks an endpoint given as a URL (http:// or https://) or
// as host[:port] (then https, or http with insecure) and returns it as a URL.
// Plain HTTP needs insecure: the caller chose to send data without TLS.
func ParseEndpoint(s string, insecure bool) (string, error) {
	if s == "" {
		s = DefaultEndpoint
	}
	if !strings.Contains(s, "://") {
		scheme := "https://"
		if insecure {
			scheme = "http://"
		}
		s = scheme + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("invalid endpoint '%s': want http(s)://HOST[:PORT]", s)
	}
	switch u.Scheme {
	case "https":
		if insecure {
			return "", fmt.Errorf("endpoint '%s' is https: insecure=on asks for plain HTTP", s)
		}
	case "http":
		if !insecure {
			return "", fmt.Errorf("endpoint '%s' is plain HTTP: add -o insecure=on to allow it", s)
		}
	default:
		return "", fmt.Errorf("invalid endpoint '%s': want http(s)://HOST[:PORT]", s)
	}
	return u.Scheme + "://" + u.Host, nil
}

// Target is an open connection to a remote's bucket.
type Target struct {
	loc Location
	c   *minio.Client
}

// Open returns a Target for loc with the given credentials. It does not
// talk to the server yet.
func Open(loc Location, accessKey string, secretKey crypto.Secret) (*Target, error) {
	u, err := url.Parse(loc.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("invalid endpoint '%s': %v", loc.Endpoint, err)
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(accessKey, string(secretKey), ""),
		Secure: u.Scheme == "https",
		Region: loc.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("endpoint '%s': %v", loc.Endpoint, err)
	}
	return &Target{loc: loc, c: c}, nil
}

// Location returns where t points.
func (t *Target) Location() Location { return t.loc }

// EnsureBucket checks that the bucket can be reached with the credentials,
// and creates it when it does not exist. It reports whether it created it.
func (t *Target) EnsureBucket(ctx context.Context) (created bool, err error) {
	ok, err := t.c.BucketExists(ctx, t.loc.Bucket)
	if err != nil {
		return false, describe(err)
	}
	if ok {
		// Listing proves the credentials may read it, not only see it.
		for o := range t.c.ListObjects(ctx, t.loc.Bucket, minio.ListObjectsOptions{Prefix: t.key(""), MaxKeys: 1}) {
			if o.Err != nil {
				return false, describe(o.Err)
			}
			break
		}
		return false, nil
	}
	if err := t.c.MakeBucket(ctx, t.loc.Bucket, minio.MakeBucketOptions{Region: t.loc.Region}); err != nil {
		return false, describe(err)
	}
	return true, nil
}

// key returns the object key of name under the prefix.
func (t *Target) key(name string) string {
	if t.loc.Prefix == "" {
		return name
	}
	if name == "" {
		return t.loc.Prefix + "/"
	}
	return t.loc.Prefix + "/" + name
}

// ManifestKey and StreamKey are the object keys of a dataset's backups.
func (t *Target) ManifestKey(dataset string) string {
	return t.key(path.Join(dataset, "manifest.json"))
}
func (t *Target) StreamKey(dataset string, guid uint64) string {
	return t.key(path.Join(dataset, strconv.FormatUint(guid, 10)+".cfs"))
}

// ReadManifest returns the manifest of dataset; an empty one when the
// remote has no backup of it.
func (t *Target) ReadManifest(ctx context.Context, dataset string) (*Manifest, error) {
	obj, err := t.c.GetObject(ctx, t.loc.Bucket, t.ManifestKey(dataset), minio.GetObjectOptions{})
	if err != nil {
		return nil, describe(err)
	}
	defer obj.Close()
	b, err := io.ReadAll(io.LimitReader(obj, 64<<20))
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return NewManifest(dataset), nil
		}
		return nil, describe(err)
	}
	m, err := ParseManifest(b, dataset)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.ManifestKey(dataset), err)
	}
	return m, nil
}

// WriteManifest replaces the manifest of m.Dataset. A single PUT: readers
// see the old or the new manifest, never a mix.
func (t *Target) WriteManifest(ctx context.Context, m *Manifest) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	_, err = t.c.PutObject(ctx, t.loc.Bucket, t.ManifestKey(m.Dataset), bytes.NewReader(b), int64(len(b)),
		minio.PutObjectOptions{ContentType: "application/json", DisableMultipart: true})
	return describe(err)
}

// Uploaded is what PutStream wrote.
type Uploaded struct {
	Object string
	Bytes  int64
	SHA256 string
}

// MinPartSize is the smallest multipart part PutStream uses.
const MinPartSize = 16 << 20

// maxParts is S3's limit of parts per multipart upload.
const maxParts = 10000

// PutStream uploads r, of unknown length (estimate is a guess, 0 if none),
// as object key. It hashes what it uploads. The object is complete when
// PutStream returns nil; on error nothing was recorded anywhere.
func (t *Target) PutStream(ctx context.Context, key string, r io.Reader, estimate uint64) (Uploaded, error) {
	// Parts are buffered in memory: small, but enough of them for a stream
	// well past the estimate (S3 allows 10,000 parts).
	part := uint64(MinPartSize)
	if need := estimate * 2 / maxParts; need > part {
		part = (need + 1<<20 - 1) &^ (1<<20 - 1)
	}
	h := &hashReader{r: r, h: sha256.New()}
	_, err := t.c.PutObject(ctx, t.loc.Bucket, key, h, -1, minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		PartSize:    part,
	})
	if err != nil {
		if h.err != nil { // the stream failed, not the upload
			return Uploaded{}, h.err
		}
		return Uploaded{}, describe(err)
	}
	return Uploaded{Object: key, Bytes: h.n, SHA256: hex.EncodeToString(h.h.Sum(nil))}, nil
}

// Get opens an object for reading.
func (t *Target) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	obj, err := t.c.GetObject(ctx, t.loc.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, describe(err)
	}
	return &objReader{obj}, nil
}

// objReader words the errors of a GetObject.
type objReader struct{ o *minio.Object }

func (r *objReader) Read(p []byte) (int, error) {
	n, err := r.o.Read(p)
	if err != nil && err != io.EOF {
		err = describe(err)
	}
	return n, err
}

func (r *objReader) Close() error { return r.o.Close() }

// Remove deletes an object (missing is fine).
func (t *Target) Remove(ctx context.Context, key string) error {
	return describe(t.c.RemoveObject(ctx, t.loc.Bucket, key, minio.RemoveObjectOptions{}))
}

type hashReader struct {
	r   io.Reader
	h   hash.Hash
	n   int64
	err error
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	if err != nil && err != io.EOF {
		h.err = err
	}
	return n, err
}

// Verifier passes an object's bytes through to a reader (the receiver) and
// refuses to deliver its last byte unless the whole object has the size and
// SHA-256 its manifest entry records: a receiver that commits only after
// the END record never commits an object that was changed, truncated or
// swapped for another valid stream.
type Verifier struct {
	r    io.Reader
	e    Entry
	h    hash.Hash
	n    int64
	want []byte
}

// NewVerifier returns a Verifier of r against e.
func NewVerifier(r io.Reader, e Entry) *Verifier {
	want, _ := hex.DecodeString(e.SHA256)
	return &Verifier{r: r, e: e, h: sha256.New(), want: want}
}

// ErrMismatch means an object is not the one its manifest entry describes.
var ErrMismatch = errors.New("does not match the manifest")

func (v *Verifier) Read(p []byte) (int, error) {
	if v.n >= v.e.Bytes {
		// Everything was delivered and checked; the object must end here.
		var one [1]byte
		if n, _ := io.ReadFull(v.r, one[:]); n > 0 {
			return 0, v.fail("it is longer than %d bytes", v.e.Bytes)
		}
		return 0, io.EOF
	}
	if rest := v.e.Bytes - v.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.n == v.e.Bytes && !bytes.Equal(v.h.Sum(nil), v.want) {
		return 0, v.fail("its SHA-256 differs")
	}
	if err == io.EOF && v.n < v.e.Bytes {
		return n, v.fail("it is %d bytes, not %d", v.n, v.e.Bytes)
	}
	if err == io.EOF {
		err = nil // checked above; the next Read ends it
	}
	return n, err
}

func (v *Verifier) fail(format string, args ...any) error {
	return fmt.Errorf("object %s of '%s' %w: %s", v.e.Object, v.e.Name, ErrMismatch, fmt.Sprintf(format, args...))
}

// Check reads the whole object through a Verifier.
func Check(r io.Reader, e Entry) error {
	_, err := io.Copy(io.Discard, NewVerifier(r, e))
	return err
}

// describe words an S3 error in one line.
func describe(err error) error {
	if err == nil {
		return nil
	}
	er := minio.ToErrorResponse(err)
	if er.Code != "" {
		msg := er.Message
		if msg == "" {
			msg = er.Code
		}
		return fmt.Errorf("%s (%s)", strings.TrimSuffix(msg, "."), er.Code)
	}
	return err
}
