package api

// Send and receive: the wire types, and the two streaming endpoints that do
// not fit the JSON-in/JSON-out shape of every other call.
//
//	POST /v1/send     body: JSON SendReq (1 MiB limit)
//	                  response: the stream, application/octet-stream, chunked.
//	                  An error before the first byte is an ordinary JSON error
//	                  response; an error after it is the HTTP trailer
//	                  X-Coffer-Error holding the JSON-encoded Error.
//	                  With the header X-Coffer-Output: fd, on the Unix
//	                  socket, the client passes a descriptor (SCM_RIGHTS)
//	                  with the request and the daemon writes the stream to
//	                  it; the response (application/x-ndjson) is a line
//	                  {"bytes":N} at least every progressEvery while the
//	                  stream runs, then a last line {"bytes":N,"done":true}
//	                  or {"bytes":N,"error":{...}}. An error before the
//	                  stream starts (no descriptor) is an ordinary JSON
//	                  error response.
//	POST /v1/receive  header X-Coffer-Request: base64 (standard, padded) of
//	                  the JSON ReceiveReq; body: the stream, no size limit.
//	                  response: ordinary JSON {"result": ReceiveResp} or error.
//	                  With the header X-Coffer-Input: fd, on the Unix socket,
//	                  the body is empty and the daemon reads the stream from
//	                  the descriptor passed with the request (SCM_RIGHTS);
//	                  the response is then progress lines as for send, the
//	                  last one {"bytes":N,"done":true,"result":ReceiveResp}
//	                  (ReceiveResp.Bytes = N, what the daemon read) or
//	                  {"bytes":N,"error":{...}}.
//
// send.estimate and receive.abort are ordinary JSON methods.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

type SendReq struct {
	Snapshot      string `json:"snapshot"`                // pool/ds@snap
	Raw           bool   `json:"raw,omitempty"`           // -w
	Replicate     bool   `json:"replicate,omitempty"`     // -R
	From          string `json:"from,omitempty"`          // -i or -I base: "@snap", "ds@snap"
	Intermediates bool   `json:"intermediates,omitempty"` // -I
	Token         string `json:"token,omitempty"`         // -t resume token (Snapshot empty then)
}

// SendEstimate is what `send -n/-v/-P` print before the stream.
type SendEstimate struct {
	Bytes uint64 `json:"bytes"` // total estimated stream size
	// Streams has one entry per snapshot step, for the -v lines
	// ("full send of tank/a@s estimated size is 1.20M", "incremental send
	// from @a to tank/a@b estimated size is 4K").
	Streams []StreamInfo `json:"streams"`
	// Warning, when set, is printed on stderr by every send, e.g. that a
	// non-raw send of an encrypted dataset sends plaintext.
	Warning string `json:"warning,omitempty"`
}

// StreamInfo is one step of a send: full when From is empty.
type StreamInfo struct {
	From  string `json:"from,omitempty"`
	To    string `json:"to"`
	Bytes uint64 `json:"bytes"`
}

type ReceiveReq struct {
	Target    string            `json:"target"`
	Force     bool              `json:"force,omitempty"`     // -F
	NoMount   bool              `json:"nomount,omitempty"`   // -u
	Resumable bool              `json:"resumable,omitempty"` // -s
	Props     map[string]string `json:"props,omitempty"`     // -o
	Exclude   []string          `json:"exclude,omitempty"`   // -x
}

// ReceiveResp lists the snapshots the receive created.
type ReceiveResp struct {
	Received []string `json:"received"`
	// Bytes is the stream bytes the daemon read from a passed descriptor
	// (Client.ReceiveFile); 0 otherwise.
	Bytes int64 `json:"bytes,omitempty"`
}

// ReceiveAbortReq is `receive -A`: discard the partial state of an
// interrupted resumable receive into Target.
type ReceiveAbortReq struct {
	Target string `json:"target"`
}

// Method names of send and receive. MSend and MReceive are the streaming
// endpoints (Client.Send, Client.Receive), not callable with Client.Call.
const (
	MSendEstimate = "send.estimate"
	MReceiveAbort = "receive.abort"
	MSend         = "send"
	MReceive      = "receive"
)

// Headers of the streaming endpoints.
const (
	// HeaderRequest carries the ReceiveReq of POST /v1/receive, as base64
	// (standard encoding, padded) of its JSON.
	HeaderRequest = "X-Coffer-Request"
	// TrailerError carries the JSON-encoded Error of a send that failed
	// after the stream started.
	TrailerError = "X-Coffer-Error"
	// HeaderOutput "fd" asks for the stream to be written to the
	// descriptor passed with the request (Client.SendFile).
	HeaderOutput = "X-Coffer-Output"
	// HeaderInput "fd" asks for the stream to be read from the descriptor
	// passed with the request (Client.ReceiveFile).
	HeaderInput = "X-Coffer-Input"
)

// progressContentType is the response of a send to or a receive from a
// passed descriptor.
const progressContentType = "application/x-ndjson"

// progressEvery is how often a stream through a passed descriptor reports.
const progressEvery = 200 * time.Millisecond

// progressLine is one line of the response of a send to or a receive from
// a descriptor.
type progressLine struct {
	Bytes  int64           `json:"bytes"`
	Done   bool            `json:"done,omitempty"`
	Error  *Error          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"` // receive: the ReceiveResp
}

const streamContentType = "application/octet-stream"

// flushInterval bounds how long sent bytes may sit in the server's buffers.
const flushInterval = 100 * time.Millisecond

// streamHandler serves one streaming endpoint and returns the error to log
// (already reported to the client) and the number of stream bytes moved.
type streamHandler func(w http.ResponseWriter, r *http.Request, c Caller) (bytes int64, err error)

func (s *Server) streamHandlers() map[string]streamHandler {
	return map[string]streamHandler{MSend: s.serveSend, MReceive: s.serveReceive}
}

// serveSend runs Backend.Send, streaming what it writes to the client.
func (s *Server) serveSend(w http.ResponseWriter, r *http.Request, c Caller) (int64, error) {
	req, err := decode[SendReq](http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		writeResponse(w, nil, AsError(err))
		return 0, err
	}
	if r.Header.Get(HeaderOutput) == "fd" {
		return s.serveSendFD(w, r, c, req)
	}
	sw := &streamWriter{w: w, rc: http.NewResponseController(w)}
	err = s.protect(MSend, func() error { return s.backend.Send(r.Context(), c, req, sw) })
	switch {
	case err != nil && !sw.started:
		writeResponse(w, nil, AsError(err))
	case err != nil:
		// Declared in the Trailer header when the stream started.
		w.Header().Set(TrailerError, asciiJSON(AsError(err)))
	case !sw.started:
		sw.start() // an empty stream
	}
	return sw.n, err
}

// serveSendFD runs Backend.Send into the descriptor the client passed with
// the request, reporting progress and the outcome in the response.
func (s *Server) serveSendFD(w http.ResponseWriter, r *http.Request, c Caller, req SendReq) (int64, error) {
	f, perr := passedFile(r, HeaderOutput, unix.O_RDONLY, "cannot send: standard output is not open for writing")
	if perr != nil {
		writeResponse(w, nil, perr)
		return 0, perr
	}
	defer f.Close()
	var sent atomic.Int64
	out := &countingWriter{w: fdWriter{f}, n: &sent}
	err := s.withProgress(w, r, sent.Load, func(ctx context.Context) (any, error) {
		return nil, s.protect(MSend, func() error { return s.backend.Send(ctx, c, req, out) })
	})
	return sent.Load(), err
}

// withProgress answers r with progress lines while op runs on a stream
// through a passed descriptor: {"bytes":n()} at once and every
// progressEvery, then the outcome with op's result. op's context ends
// when the client goes away.
func (s *Server) withProgress(w http.ResponseWriter, r *http.Request, n func() int64, op func(context.Context) (any, error)) error {
	// Read the request to its end: only then does the server watch the
	// connection and cancel the request's context when the client goes.
	io.Copy(io.Discard, r.Body)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	w.Header().Set("Content-Type", progressContentType)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	report := func(p progressLine) {
		if enc.Encode(p) != nil || rc.Flush() != nil {
			cancel() // the client is gone
		}
	}
	report(progressLine{})
	type outcome struct {
		res any
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := op(ctx)
		done <- outcome{res, err}
	}()
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for {
		select {
		case o := <-done:
			last := progressLine{Bytes: n(), Done: o.err == nil}
			if o.err == nil && o.res != nil {
				var err error
				if last.Result, err = json.Marshal(o.res); err != nil {
					o.err = Errorf(CodeInternal, "encode result: %v", err)
					last.Done = false
				}
			}
			if o.err != nil {
				last.Error = AsError(o.err)
			}
			report(last)
			return o.err
		case <-tick.C:
			report(progressLine{Bytes: n()})
		}
	}
}

// passedFile returns the one descriptor passed with r (header names the
// request's header), refused when its access mode is badMode.
func passedFile(r *http.Request, header string, badMode int, badMsg string) (*os.File, *Error) {
	fds := connFDs(r.Context())
	if len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, Errorf(CodeUsage, "bad request: %s: fd needs exactly one descriptor passed with the request on the Unix socket, got %d", header, len(fds))
	}
	// Not f.Fd() below: it would make the client's file description
	// blocking.
	if fl, err := unix.FcntlInt(uintptr(fds[0]), unix.F_GETFL, 0); err != nil || fl&unix.O_ACCMODE == badMode {
		unix.Close(fds[0])
		return nil, Errorf(CodeInvalid, "%s", badMsg)
	}
	return os.NewFile(uintptr(fds[0]), "stream"), nil
}

// fdReader reads a receive stream from the client's descriptor.
type fdReader struct{ f *os.File }

func (r fdReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, streamIOError("read", err)
	}
	return n, err
}

// streamIOError names a failed read or write of a passed descriptor by
// its errno ("write stream: broken pipe"), without the file's made-up name.
func streamIOError(op string, err error) error {
	if u := errors.Unwrap(err); u != nil {
		err = u
	}
	return fmt.Errorf("%s stream: %w", op, err)
}

// fdWriter writes a send stream to the client's descriptor.
type fdWriter struct{ f *os.File }

func (w fdWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		return n, streamIOError("write", err)
	}
	return n, nil
}

// streamWriter is the io.Writer Backend.Send writes to. The response
// headers go out with the first byte, so an error before it can still be an
// ordinary JSON error response.
type streamWriter struct {
	w         http.ResponseWriter
	rc        *http.ResponseController
	started   bool
	n         int64
	lastFlush time.Time
}

func (sw *streamWriter) start() {
	h := sw.w.Header()
	h.Set("Content-Type", streamContentType)
	h.Set("Trailer", TrailerError)
	sw.w.WriteHeader(http.StatusOK)
	sw.started = true
	sw.lastFlush = time.Now()
}

func (sw *streamWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	first := !sw.started
	if first {
		sw.start()
	}
	n, err := sw.w.Write(p)
	sw.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("send stream to client: %w", err)
	}
	if now := time.Now(); first || now.Sub(sw.lastFlush) >= flushInterval {
		sw.lastFlush = now
		if err := sw.rc.Flush(); err != nil {
			return n, fmt.Errorf("send stream to client: %w", err)
		}
	}
	return n, nil
}

// serveReceive runs Backend.Receive on the request body.
func (s *Server) serveReceive(w http.ResponseWriter, r *http.Request, c Caller) (int64, error) {
	req, err := decodeRequestHeader(r.Header.Get(HeaderRequest))
	if err != nil {
		writeResponse(w, nil, AsError(err))
		return 0, err
	}
	if r.Header.Get(HeaderInput) == "fd" {
		f, perr := passedFile(r, HeaderInput, unix.O_WRONLY, "cannot receive: standard input is not open for reading")
		if perr != nil {
			writeResponse(w, nil, perr)
			return 0, perr
		}
		defer f.Close()
		var read atomic.Int64
		in := &countingReader{r: fdReader{f}, n: &read}
		err := s.withProgress(w, r, read.Load, func(ctx context.Context) (any, error) {
			var resp ReceiveResp
			err := s.protect(MReceive, func() error {
				var err error
				resp, err = s.backend.Receive(ctx, c, req, in)
				return err
			})
			resp.Bytes = read.Load()
			return resp, err
		})
		return read.Load(), err
	}
	var read atomic.Int64
	body := &countingReader{r: r.Body, n: &read}
	var resp ReceiveResp
	err = s.protect(MReceive, func() error {
		var err error
		resp, err = s.backend.Receive(r.Context(), c, req, body)
		return err
	})
	if err != nil {
		writeResponse(w, nil, AsError(err))
	} else {
		writeResponse(w, resp, nil)
	}
	return read.Load(), err
}

// decodeRequestHeader decodes the X-Coffer-Request header of a receive.
func decodeRequestHeader(h string) (ReceiveReq, error) {
	var req ReceiveReq
	if h == "" {
		return req, Errorf(CodeUsage, "bad request: missing %s header", HeaderRequest)
	}
	b, err := base64.StdEncoding.DecodeString(h)
	if err != nil {
		return req, Errorf(CodeUsage, "bad request: %s header: %v", HeaderRequest, err)
	}
	if err := json.Unmarshal(b, &req); err != nil {
		return req, Errorf(CodeUsage, "bad request: %s header: %v", HeaderRequest, err)
	}
	return req, nil
}

// protect runs f, turning a panic into an internal error.
func (s *Server) protect(method string, f func() error) (err error) {
	_, err = s.call(context.Background(), func(context.Context, Caller, io.Reader) (any, error) {
		return nil, f()
	}, Caller{}, method, nil)
	return err
}

// asciiJSON encodes e as JSON with only printable ASCII, fit for a header.
func asciiJSON(e *Error) string {
	b, err := json.Marshal(e)
	if err != nil {
		return `{"code":"internal","message":"unencodable error"}`
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r >= 0x20 && r < 0x7f:
			sb.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16Pair(r)
			fmt.Fprintf(&sb, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&sb, `\u%04x`, r)
		}
		b = b[size:]
	}
	return sb.String()
}

func utf16Pair(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}

// countingReader and countingWriter add the bytes that pass through them
// to n, which others may read meanwhile (progress).
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// logCall logs one API call: method, caller, duration, error code and, for
// the streaming endpoints, the stream bytes. Never payloads.
func (s *Server) logCall(ctx context.Context, method string, c Caller, start time.Time, e *Error, stream bool, n int64) {
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.Int("uid", c.UID),
		slog.String("user", c.User),
		slog.String("transport", c.Transport),
		slog.Duration("duration", time.Since(start)),
	}
	if stream {
		attrs = append(attrs, slog.Int64("bytes", n))
	}
	if e != nil {
		attrs = append(attrs, slog.String("code", e.Code))
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "api call", attrs...)
}

// Send asks the daemon for the stream of req and copies it to w as it
// arrives. n is the number of bytes written to w. An error the daemon
// reports after the stream started is returned as an *Error, like one
// before it; a failed write to w is returned wrapped ("write stream: ...").
func (c *Client) Send(ctx context.Context, req SendReq, w io.Writer) (n int64, err error) {
	hreq, err := c.newSendRequest(ctx, req)
	if err != nil {
		return 0, err
	}
	hresp, err := c.http.Do(hreq)
	if err != nil {
		return 0, c.connectError(ctx, err)
	}
	defer hresp.Body.Close()
	if hresp.StatusCode != http.StatusOK || hresp.Header.Get("Content-Type") != streamContentType {
		return 0, c.decodeResponse(MSend, hresp, nil)
	}
	buf := make([]byte, 256<<10)
	for {
		m, rerr := hresp.Body.Read(buf)
		if m > 0 {
			wm, werr := w.Write(buf[:m])
			n += int64(wm)
			if werr == nil && wm < m {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				return n, fmt.Errorf("write stream: %w", werr)
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return n, ctxErr
			}
			return n, fmt.Errorf("lost connection to coffer daemon at %s during send: %w", c.path, rerr)
		}
	}
	if t := hresp.Trailer.Get(TrailerError); t != "" {
		var e Error
		if err := json.Unmarshal([]byte(t), &e); err != nil || e.Message == "" {
			return n, fmt.Errorf("send failed: bad error report from coffer daemon: %q", t)
		}
		if e.Code == "" {
			e.Code = CodeInternal
		}
		return n, &e
	}
	return n, nil
}

// newSendRequest builds the POST of a send.
func (c *Client) newSendRequest(ctx context.Context, req SendReq) (*http.Request, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode %s request: %w", MSend, err)
	}
	hreq, err := c.newRequest(ctx, MSend, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	return hreq, nil
}

// SendFile is Send into f. On the Unix socket, f's descriptor goes to the
// daemon with the request and the daemon writes the stream to it itself
// (one copy, not two through the socket and this process); progress, when
// not nil, follows the bytes written. Over HTTP it is Send.
func (c *Client) SendFile(ctx context.Context, req SendReq, f *os.File, progress *atomic.Int64) (int64, error) {
	if c.sock == "" {
		var w io.Writer = f
		if progress != nil {
			w = &countingWriter{w: f, n: progress}
		}
		return c.Send(ctx, req, w)
	}
	fd, err := fileFD(f)
	if err != nil {
		return 0, fmt.Errorf("cannot send: %w", err)
	}
	hreq, err := c.newSendRequest(ctx, req)
	if err != nil {
		return 0, err
	}
	hreq.Header.Set(HeaderOutput, "fd")
	hresp, err := c.doWithFD(hreq, fd)
	if err != nil {
		return 0, c.connectError(ctx, err)
	}
	defer hresp.Body.Close()
	last, err := c.readProgress(ctx, MSend, hresp, progress)
	return last.Bytes, err
}

// readProgress reads the progress lines of a stream through a passed
// descriptor, storing the byte count in progress (if not nil) as it goes,
// and returns the last line: done, or its error. A response that is not
// progress lines is an error response.
func (c *Client) readProgress(ctx context.Context, method string, hresp *http.Response, progress *atomic.Int64) (progressLine, error) {
	if hresp.StatusCode != http.StatusOK || hresp.Header.Get("Content-Type") != progressContentType {
		return progressLine{}, c.decodeResponse(method, hresp, nil)
	}
	dec := json.NewDecoder(hresp.Body)
	var last progressLine
	for {
		var p progressLine
		if err := dec.Decode(&p); err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return last, ctxErr
			}
			return last, fmt.Errorf("lost connection to coffer daemon at %s during %s: %w", c.path, method, err)
		}
		last = p
		if progress != nil {
			progress.Store(p.Bytes)
		}
		switch {
		case p.Error != nil:
			if p.Error.Code == "" {
				p.Error.Code = CodeInternal
			}
			return last, p.Error
		case p.Done:
			return last, nil
		}
	}
}

// fileFD is f's descriptor. Not f.Fd(): it would make f's file
// description blocking. The caller keeps f open while it uses the number.
func fileFD(f *os.File) (int, error) {
	fd := -1
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(u uintptr) { fd = int(u) })
	}
	if fd < 0 {
		return 0, fmt.Errorf("%s is closed", f.Name())
	}
	return fd, nil
}

// doWithFD sends hreq on a connection of its own that passes fd with the
// request's first bytes.
func (c *Client) doWithFD(hreq *http.Request, fd int) (*http.Response, error) {
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, "unix", c.sock)
			if err != nil {
				return nil, err
			}
			return &rightsConn{UnixConn: conn.(*net.UnixConn), fd: fd}, nil
		},
		DisableCompression: true,
		DisableKeepAlives:  true, // the descriptor goes with this request only
	}
	// One request on this transport: its connection closes with the body.
	return (&http.Client{Transport: tr}).Do(hreq)
}

// ReceiveFile is Receive from f. On the Unix socket, f's descriptor goes to
// the daemon with the request and the daemon reads the stream from it
// itself; resp.Bytes says how much it read, and progress, when not nil,
// follows it while the stream runs. Over HTTP it is Receive (the bytes
// counted here).
func (c *Client) ReceiveFile(ctx context.Context, req ReceiveReq, f *os.File, progress *atomic.Int64) (ReceiveResp, error) {
	if c.sock == "" {
		if progress == nil {
			progress = new(atomic.Int64)
		}
		in := &countingReader{r: f, n: progress}
		start := progress.Load()
		resp, err := c.Receive(ctx, req, in)
		resp.Bytes = progress.Load() - start
		return resp, err
	}
	var resp ReceiveResp
	fd, err := fileFD(f)
	if err != nil {
		return resp, fmt.Errorf("cannot receive: %w", err)
	}
	js, err := json.Marshal(req)
	if err != nil {
		return resp, fmt.Errorf("encode %s request: %w", MReceive, err)
	}
	hreq, err := c.newRequest(ctx, MReceive, http.NoBody)
	if err != nil {
		return resp, err
	}
	hreq.Header.Set(HeaderRequest, base64.StdEncoding.EncodeToString(js))
	hreq.Header.Set(HeaderInput, "fd")
	hresp, err := c.doWithFD(hreq, fd)
	if err != nil {
		return resp, c.connectError(ctx, err)
	}
	defer hresp.Body.Close()
	last, err := c.readProgress(ctx, MReceive, hresp, progress)
	if err != nil {
		return resp, err
	}
	if err := json.Unmarshal(last.Result, &resp); err != nil {
		return resp, fmt.Errorf("decode %s response: %w", MReceive, err)
	}
	resp.Bytes = last.Bytes
	return resp, nil
}

// Receive sends the stream read from r to the daemon to be received as req
// says. If the daemon answers before r is at its end (it refused the
// stream), the call returns without reading r to its end; at most one Read
// of r that was already under way finishes after Receive returns.
func (c *Client) Receive(ctx context.Context, req ReceiveReq, r io.Reader) (ReceiveResp, error) {
	var resp ReceiveResp
	js, err := json.Marshal(req)
	if err != nil {
		return resp, fmt.Errorf("encode %s request: %w", MReceive, err)
	}
	body := &stoppableReader{r: r}
	defer body.stop()
	hreq, err := c.newRequest(ctx, MReceive, body)
	if err != nil {
		return resp, err
	}
	hreq.Header.Set("Content-Type", streamContentType)
	hreq.Header.Set(HeaderRequest, base64.StdEncoding.EncodeToString(js))
	hresp, err := c.http.Do(hreq)
	if err != nil {
		if rerr := body.readErr(); rerr != nil {
			return resp, fmt.Errorf("read stream: %w", rerr)
		}
		return resp, c.connectError(ctx, err)
	}
	defer hresp.Body.Close()
	return resp, c.decodeResponse(MReceive, hresp, &resp)
}

// stoppableReader is the request body of a receive. It keeps the
// transport from closing r, ends the body once Receive returns, and
// remembers a read error of r (as opposed to a connection error).
type stoppableReader struct {
	r       io.Reader
	stopped atomic.Bool
	err     atomic.Pointer[error]
}

func (s *stoppableReader) Read(p []byte) (int, error) {
	if s.stopped.Load() {
		return 0, io.EOF
	}
	n, err := s.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		s.err.Store(&err)
	}
	return n, err
}

func (s *stoppableReader) Close() error { s.stop(); return nil }
func (s *stoppableReader) stop()        { s.stopped.Store(true) }

func (s *stoppableReader) readErr() error {
	if p := s.err.Load(); p != nil {
		return *p
	}
	return nil
}
