package kmip

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// Config says how to reach a KMIP server. CA, Cert and Key are PEM: the CA
// that signed the server's certificate, and the client's certificate and
// private key (the server authenticates the client by it).
type Config struct {
	Addr       string // host:port; KMIP's port is 5696
	ServerName string // name checked in the server certificate; defaults to Addr's host
	CA         []byte
	Cert       []byte
	Key        []byte
	Timeout    time.Duration // per request, when ctx has no earlier deadline; default 30s
}

// Version is a KMIP protocol version.
type Version struct{ Major, Minor int32 }

func (v Version) String() string { return itoa(int64(v.Major)) + "." + itoa(int64(v.Minor)) }

func (v Version) less(w Version) bool {
	return v.Major < w.Major || v.Major == w.Major && v.Minor < w.Minor
}

// Versions this client speaks, preferred first.
var clientVersions = []Version{{1, 2}, {1, 1}, {1, 0}}

// Sentinel errors, matched with errors.Is.
var (
	ErrUnreachable      = errors.New("KMIP server unreachable")
	ErrNotFound         = errors.New("no such object")
	ErrPermissionDenied = errors.New("permission denied")
	ErrNotSupported     = errors.New("not supported by the server")
	ErrProtocol         = errors.New("KMIP protocol error")
	ErrHandshake        = errors.New("TLS handshake with KMIP server failed")
)

// Error is a failed KMIP operation as reported by the server.
type Error struct {
	Server  string
	Op      string
	Reason  ResultReason
	Message string // the server's Result Message, flattened to one line
}

func (e *Error) Error() string {
	s := "kmip " + e.Server + ": " + e.Op + ": " + e.Reason.String()
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is maps result reasons to the sentinel errors.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Reason == ReasonItemNotFound
	case ErrPermissionDenied:
		return e.Reason == ReasonPermissionDenied || e.Reason == ReasonAuthenticationFailed
	case ErrNotSupported:
		return e.Reason == ReasonOperationNotSupported || e.Reason == ReasonFeatureNotSupported
	}
	return false
}

// oneLine flattens and bounds text that comes from the server.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// Client is a connection to one KMIP server. It is safe for concurrent use;
// requests are serialised on one TLS connection, which is re-established
// after an I/O error.
type Client struct {
	cfg     Config
	tls     *tls.Config
	mu      sync.Mutex
	conn    net.Conn
	version Version
	closed  bool
}

// Dial connects to the server, authenticates with the client certificate
// and negotiates the protocol version (1.2, else what the server offers).
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Addr == "" {
		return nil, errors.New("kmip: no server address")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	tc, err := tlsConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kmip %s: %w", cfg.Addr, err)
	}
	c := &Client{cfg: cfg, tls: tc, version: clientVersions[0]}
	if err := c.negotiate(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(cfg.CA) {
		return nil, errors.New("CA: no PEM certificate")
	}
	cert, err := tls.X509KeyPair(cfg.Cert, cfg.Key)
	if err != nil {
		// The tls error text names no key bytes.
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	name := cfg.ServerName
	if name == "" {
		host, _, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("address %q: %w", cfg.Addr, err)
		}
		name = host
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12, // KMIP 1.2 profiles require TLS 1.2
		RootCAs:      pool,
		Certificates: []tls.Certificate{cert},
		ServerName:   name,
	}, nil
}

// Version is the negotiated protocol version.
func (c *Client) Version() Version {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version
}

// Close closes the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}

func (c *Client) connect(ctx context.Context) error {
	if c.conn != nil {
		return nil
	}
	if c.closed {
		return fmt.Errorf("kmip %s: client closed", c.cfg.Addr)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	d := tls.Dialer{Config: c.tls, NetDialer: &net.Dialer{}}
	conn, err := d.DialContext(ctx, "tcp", c.cfg.Addr)
	var alert tls.AlertError
	var verr *tls.CertificateVerificationError
	var herr x509.HostnameError
	var oerr *net.OpError // a TLS alert received from the server
	if errors.As(err, &alert) || errors.As(err, &verr) || errors.As(err, &herr) ||
		errors.As(err, &oerr) && oerr.Op == "remote error" {
		return fmt.Errorf("kmip %s: %w: %s", c.cfg.Addr, ErrHandshake, oneLine(err.Error()))
	}
	if err != nil {
		return fmt.Errorf("kmip %s: %w: %s", c.cfg.Addr, ErrUnreachable, oneLine(err.Error()))
	}
	c.conn = conn
	return nil
}

// negotiate runs Discover Versions and settles on the highest version both
// sides speak. A KMIP 1.0 server does not know the operation; its error
// response carries its version, which is then used.
func (c *Client) negotiate(ctx context.Context) error {
	var list []Item
	for _, v := range clientVersions {
		list = append(list, versionItem(v))
	}
	resp, err := c.do(ctx, OpDiscoverVersions, list...)
	var kerr *Error
	if errors.As(err, &kerr) {
		switch kerr.Reason {
		case ReasonOperationNotSupported, ReasonInvalidMessage, ReasonFeatureNotSupported:
			// A KMIP 1.0 server: Discover Versions came in 1.1.
			c.mu.Lock()
			c.version = Version{1, 0}
			c.mu.Unlock()
			return nil
		}
	}
	if err != nil {
		return err
	}
	for _, it := range resp.FindAll(TagProtocolVersion) {
		v := parseVersion(it)
		for _, mine := range clientVersions {
			if v == mine {
				c.mu.Lock()
				c.version = v
				c.mu.Unlock()
				return nil
			}
		}
	}
	return fmt.Errorf("kmip %s: %w: server speaks none of KMIP 1.2, 1.1, 1.0", c.cfg.Addr, ErrNotSupported)
}

func versionItem(v Version) Item {
	return Struct(TagProtocolVersion,
		Int(TagProtocolVersionMajor, v.Major),
		Int(TagProtocolVersionMinor, v.Minor))
}

func parseVersion(it *Item) Version {
	var v Version
	if m := it.Find(TagProtocolVersionMajor); m != nil {
		v.Major = int32(m.Int)
	}
	if m := it.Find(TagProtocolVersionMinor); m != nil {
		v.Minor = int32(m.Int)
	}
	return v
}

// do sends one request with a single batch item and returns its response
// payload (an empty structure when the server sent none).
func (c *Client) do(ctx context.Context, op uint32, payload ...Item) (*Item, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kmip %s: %s: %w", c.cfg.Addr, opName(op), err)
	}
	if err := c.connect(ctx); err != nil {
		return nil, err
	}
	req := Struct(TagRequestMessage,
		Struct(TagRequestHeader,
			versionItem(c.version),
			Int(TagMaximumResponseSize, MaxMessageSize),
			Int(TagBatchCount, 1)),
		Struct(TagBatchItem,
			Enum(TagOperation, op),
			Struct(TagRequestPayload, payload...)))
	msg, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("kmip %s: %s: %w", c.cfg.Addr, opName(op), err)
	}
	resp, err := c.roundTrip(ctx, msg)
	if err != nil {
		// The stream is out of step or gone: drop the connection so the
		// next call dials again.
		c.conn.Close()
		c.conn = nil
		if ctx.Err() != nil {
			return nil, fmt.Errorf("kmip %s: %s: %w", c.cfg.Addr, opName(op), ctx.Err())
		}
		if errors.Is(err, ErrMalformed) {
			return nil, fmt.Errorf("kmip %s: %s: %w: %v", c.cfg.Addr, opName(op), ErrProtocol, err)
		}
		return nil, fmt.Errorf("kmip %s: %s: %w: %s", c.cfg.Addr, opName(op), ErrUnreachable, oneLine(err.Error()))
	}
	return c.parseResponse(op, resp)
}

func (c *Client) roundTrip(ctx context.Context, msg []byte) (Item, error) {
	deadline := time.Now().Add(c.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn := c.conn
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(msg); err != nil {
		return Item{}, err
	}
	var hdr [8]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("connection closed by server")
		}
		return Item{}, err
	}
	n := binary.BigEndian.Uint32(hdr[4:])
	if Type(hdr[3]) != TypeStructure || n > MaxMessageSize-8 {
		return Item{}, malformed("response header type 0x%02x length %d", hdr[3], n)
	}
	buf := make([]byte, 8+int(n))
	copy(buf, hdr[:])
	if _, err := io.ReadFull(conn, buf[8:]); err != nil {
		return Item{}, err
	}
	return Unmarshal(buf)
}

func (c *Client) parseResponse(op uint32, resp Item) (*Item, error) {
	bad := func(what string) error {
		return fmt.Errorf("kmip %s: %s: %w: %s", c.cfg.Addr, opName(op), ErrProtocol, what)
	}
	if resp.Tag != TagResponseMessage {
		return nil, bad("not a Response Message")
	}
	items := resp.FindAll(TagBatchItem)
	if len(items) != 1 {
		return nil, bad(fmt.Sprintf("%d batch items", len(items)))
	}
	bi := items[0]
	st := bi.Find(TagResultStatus)
	if st == nil {
		return nil, bad("no Result Status")
	}
	if uint32(st.Int) != statusSuccess {
		e := &Error{Server: c.cfg.Addr, Op: opName(op), Reason: ReasonGeneralFailure}
		if r := bi.Find(TagResultReason); r != nil {
			e.Reason = ResultReason(r.Int)
		}
		if m := bi.Find(TagResultMessage); m != nil {
			e.Message = oneLine(string(m.Bytes))
		}
		return nil, e
	}
	if o := bi.Find(TagOperation); o != nil && uint32(o.Int) != op {
		return nil, bad("response is for " + opName(uint32(o.Int)))
	}
	p := bi.Find(TagResponsePayload)
	if p == nil {
		p = &Item{Tag: TagResponsePayload, Type: TypeStructure}
	}
	return p, nil
}

func uid(id string) Item { return Text(TagUniqueIdentifier, id) }

func attr(name string, v Item) Item {
	v.Tag = TagAttributeValue
	return Struct(TagAttribute, Text(TagAttributeName, name), v)
}

func nameAttr(name string) Item {
	return attr("Name", Struct(0,
		Text(TagNameValue, name),
		Enum(TagNameType, nameTypeUninterpreted)))
}

func (c *Client) idFrom(op uint32, p *Item) (string, error) {
	u := p.Find(TagUniqueIdentifier)
	if u == nil || u.Type != TypeTextString || len(u.Bytes) == 0 {
		return "", fmt.Errorf("kmip %s: %s: %w: no Unique Identifier in response", c.cfg.Addr, opName(op), ErrProtocol)
	}
	return string(u.Bytes), nil
}

// CreateAES256 creates an AES-256 symmetric key usable for Encrypt,
// Decrypt, Wrap Key and Unwrap Key, named name (may be empty), and
// activates it. It returns the key's Unique Identifier.
func (c *Client) CreateAES256(ctx context.Context, name string) (string, error) {
	attrs := []Item{
		attr("Cryptographic Algorithm", Enum(0, algorithmAES)),
		attr("Cryptographic Length", Int(0, 256)),
		attr("Cryptographic Usage Mask", Int(0, UsageEncrypt|UsageDecrypt|UsageWrapKey|UsageUnwrapKey)),
	}
	if name != "" {
		attrs = append(attrs, nameAttr(name))
	}
	p, err := c.do(ctx, OpCreate,
		Enum(TagObjectType, objectTypeSymmetricKey),
		Struct(TagTemplateAttribute, attrs...))
	if err != nil {
		return "", err
	}
	id, err := c.idFrom(OpCreate, p)
	if err != nil {
		return "", err
	}
	if err := c.Activate(ctx, id); err != nil {
		return id, err
	}
	return id, nil
}

// Activate moves a key to the Active state; Encrypt and Decrypt need it.
func (c *Client) Activate(ctx context.Context, id string) error {
	_, err := c.do(ctx, OpActivate, uid(id))
	return err
}

// Locate returns the identifiers of the objects named name.
func (c *Client) Locate(ctx context.Context, name string) ([]string, error) {
	p, err := c.do(ctx, OpLocate, nameAttr(name))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, u := range p.FindAll(TagUniqueIdentifier) {
		ids = append(ids, string(u.Bytes))
	}
	return ids, nil
}

// Get returns the raw key material of a symmetric key, when the server lets
// this client export it. The caller owns the slice and should wipe it.
func (c *Client) Get(ctx context.Context, id string) ([]byte, error) {
	p, err := c.do(ctx, OpGet, uid(id))
	if err != nil {
		return nil, err
	}
	kv := p.Path(TagSymmetricKey, TagKeyBlock, TagKeyValue)
	bad := func(what string) error {
		return fmt.Errorf("kmip %s: Get %s: %w: %s", c.cfg.Addr, id, ErrProtocol, what)
	}
	if kv == nil {
		return nil, bad("no symmetric key value in response")
	}
	if kv.Type == TypeByteString {
		return nil, fmt.Errorf("kmip %s: Get %s: %w: the server returned the key wrapped", c.cfg.Addr, id, ErrNotSupported)
	}
	km := kv.Find(TagKeyMaterial)
	if km != nil && km.Type == TypeStructure { // Transparent Symmetric Key
		km = km.Find(TagKey)
	}
	if km == nil || km.Type != TypeByteString {
		return nil, bad("no key material")
	}
	return km.Bytes, nil
}

// Revoke moves an Active key to Deactivated (reason: cessation of
// operation).
func (c *Client) Revoke(ctx context.Context, id string) error {
	_, err := c.do(ctx, OpRevoke, uid(id),
		Struct(TagRevocationReason, Enum(TagRevocationReasonCode, revocationCessationOfOper)))
	return err
}

// Destroy destroys a key, revoking it first if it is Active (KMIP forbids
// destroying an Active object).
func (c *Client) Destroy(ctx context.Context, id string) error {
	err := c.Revoke(ctx, id)
	var kerr *Error
	if err != nil && !(errors.As(err, &kerr) && kerr.Reason == ReasonIllegalOperation) {
		return err // not "key is not active"
	}
	_, err = c.do(ctx, OpDestroy, uid(id))
	return err
}

func cbcParams() Item {
	return Struct(TagCryptographicParameters,
		Enum(TagBlockCipherMode, modeCBC),
		Enum(TagPaddingMethod, paddingPKCS5),
		Enum(TagCryptographicAlgorithm, algorithmAES))
}

// Encrypt encrypts plaintext in the server with the key id, AES-CBC with
// PKCS#5 padding (PyKMIP 0.10 cannot do server-side GCM under KMIP 1.2: the
// tag fields are KMIP 1.4). CBC gives no integrity; WrapSecret adds it. A nil
// iv is drawn from crypto/rand here; ivOut is the IV used.
func (c *Client) Encrypt(ctx context.Context, id string, plaintext, iv []byte) (ct, ivOut []byte, err error) {
	if iv == nil {
		iv = make([]byte, 16)
		if _, err := rand.Read(iv); err != nil {
			return nil, nil, err
		}
	}
	if len(iv) != 16 || allZero(iv) {
		return nil, nil, fmt.Errorf("kmip %s: Encrypt: the IV must be 16 non-zero bytes", c.cfg.Addr)
	}
	p, err := c.do(ctx, OpEncrypt, uid(id), cbcParams(), Bytes(TagData, plaintext), Bytes(TagIVCounterNonce, iv))
	if err != nil {
		return nil, nil, err
	}
	d := p.Find(TagData)
	if d == nil || d.Type != TypeByteString {
		return nil, nil, fmt.Errorf("kmip %s: Encrypt: %w: no Data in response", c.cfg.Addr, ErrProtocol)
	}
	return d.Bytes, iv, nil
}

// Decrypt reverses Encrypt in the server.
func (c *Client) Decrypt(ctx context.Context, id string, ct, iv []byte) ([]byte, error) {
	if len(iv) != 16 {
		return nil, fmt.Errorf("kmip %s: Decrypt: the IV must be 16 bytes", c.cfg.Addr)
	}
	p, err := c.do(ctx, OpDecrypt, uid(id), cbcParams(), Bytes(TagData, ct), Bytes(TagIVCounterNonce, iv))
	if err != nil {
		return nil, err
	}
	d := p.Find(TagData)
	if d == nil || d.Type != TypeByteString {
		return nil, fmt.Errorf("kmip %s: Decrypt: %w: no Data in response", c.cfg.Addr, ErrProtocol)
	}
	return d.Bytes, nil
}

// encryptECB encrypts whole blocks with AES-ECB in the server; used only to
// derive a key check value and a MAC key from fixed, distinct blocks.
func (c *Client) encryptECB(ctx context.Context, id string, blocks []byte) ([]byte, error) {
	p, err := c.do(ctx, OpEncrypt, uid(id),
		Struct(TagCryptographicParameters,
			Enum(TagBlockCipherMode, modeECB),
			Enum(TagPaddingMethod, paddingPKCS5),
			Enum(TagCryptographicAlgorithm, algorithmAES)),
		Bytes(TagData, blocks))
	if err != nil {
		return nil, err
	}
	d := p.Find(TagData)
	if d == nil || len(d.Bytes) < len(blocks) {
		return nil, fmt.Errorf("kmip %s: Encrypt: %w: short Data in response", c.cfg.Addr, ErrProtocol)
	}
	return d.Bytes[:len(blocks)], nil
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
