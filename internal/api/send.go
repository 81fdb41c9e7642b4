package api

// Send and receive: the wire types, and the two streaming endpoints that do
// not fit the JSON-in/JSON-out shape of every other call.
//
//	POST /v1/send     body: JSON SendReq (1 MiB limit)
//	                  response: the stream, application/octet-stream, chunked.
//	                  An error before the first byte is an ordinary JSON error
//	                  response; an error after it is the HTTP trailer
//	                  X-Coffer-Error holding the JSON-encoded Error.
//	POST /v1/receive  header X-Coffer-Request: base64 (standard, padded) of
//	                  the JSON ReceiveReq; body: the stream, no size limit.
//	                  response: ordinary JSON {"result": ReceiveResp} or error.
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
	"net/http"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
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
)

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
	body := &countingReader{r: r.Body}
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
	return body.n.Load(), err
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

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
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
	body, err := json.Marshal(req)
	if err != nil {
		return 0, fmt.Errorf("encode %s request: %w", MSend, err)
	}
	hreq, err := c.newRequest(ctx, MSend, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	hreq.Header.Set("Content-Type", "application/json")
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
