package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// maxKeyBytes bounds key material read from stdin; the daemon validates
// the exact length for the key format.
const maxKeyBytes = 1 << 20

// keyReader reads key material: from the terminal without echo when stdin
// is one, else from stdin (a pipe or file). It owns its buffer so that it
// can wipe everything it read.
type keyReader struct {
	a   *app
	buf []byte // bytes read from stdin and not yet handed out
	eof bool
	// Several keys may come from one pipe (load-key -a: one line per
	// encryption root); raw keys are then read 32 bytes at a time.
	many bool
}

func newKeyReader(a *app) *keyReader { return &keyReader{a: a} }

// wipe clears the unread buffer. Callers wipe the keys they were given.
func (k *keyReader) wipe() {
	clear(k.buf[:cap(k.buf)])
	k.buf = nil
}

func keyDesc(format string) string {
	switch format {
	case "hex":
		return "hex key"
	case "raw":
		return "raw key"
	default:
		return "passphrase"
	}
}

// newKey reads a key being set. At a terminal it is asked twice; for is
// "" (create) or a dataset name (change-key).
func (k *keyReader) newKey(format, forDS string) ([]byte, error) {
	if k.a.env.Terminal == nil {
		return k.fromStdin(format)
	}
	if format == "raw" {
		return nil, errors.New("Cannot enter raw keys on the terminal")
	}
	desc := keyDesc(format)
	suffix := ":"
	if forDS != "" {
		suffix = fmt.Sprintf(" for '%s':", forDS)
	}
	first, err := k.prompt("Enter new " + desc + suffix)
	if err != nil {
		return nil, err
	}
	second, err := k.prompt("Re-enter new " + desc + suffix)
	if err != nil {
		clear(first)
		return nil, err
	}
	defer clear(second)
	if !bytes.Equal(first, second) {
		clear(first)
		if format == "hex" {
			return nil, errors.New("Keys do not match.")
		}
		return nil, errors.New("Passphrases do not match.")
	}
	return first, nil
}

// existingKey reads the current key of an encryption root, once.
func (k *keyReader) existingKey(format, ds string) ([]byte, error) {
	if k.a.env.Terminal == nil {
		return k.fromStdin(format)
	}
	if format == "raw" {
		return nil, errors.New("Cannot enter raw keys on the terminal")
	}
	return k.prompt(fmt.Sprintf("Enter %s for '%s':", keyDesc(format), ds))
}

func (k *keyReader) prompt(text string) ([]byte, error) {
	fmt.Fprint(k.a.env.Stderr, text)
	key, err := k.a.env.Terminal.ReadPassword()
	fmt.Fprintln(k.a.env.Stderr)
	if err != nil {
		clear(key)
		return nil, fmt.Errorf("cannot read key material: %w", err)
	}
	return key, nil
}

// fromStdin reads one key from stdin: a line for passphrase and hex (the
// newline is not part of the key); for raw, everything up to maxKeyBytes,
// or exactly 32 bytes when several keys are read.
func (k *keyReader) fromStdin(format string) ([]byte, error) {
	var key []byte
	var err error
	switch {
	case format == "raw" && k.many:
		key, err = k.take(func(b []byte) (int, int) {
			if len(b) >= 32 {
				return 32, 32
			}
			return -1, 0
		})
	case format == "raw":
		key, err = k.take(func(b []byte) (int, int) { return -1, 0 })
	default:
		key, err = k.take(func(b []byte) (int, int) {
			if i := bytes.IndexByte(b, '\n'); i >= 0 {
				// A CRLF line end is not part of the key either, as in
				// key files (keysrc.Parse): the same bytes piped or at a
				// file:// location give the same key.
				if i > 0 && b[i-1] == '\r' {
					return i - 1, i + 1
				}
				return i, i + 1
			}
			return -1, 0
		})
	}
	if err != nil {
		return nil, err
	}
	return key, nil
}

// take fills the buffer until split finds the end of a key (returning the
// key length and how much to consume) or stdin ends.
func (k *keyReader) take(split func([]byte) (n, consume int)) ([]byte, error) {
	for {
		if n, consume := split(k.buf); n >= 0 {
			key := bytes.Clone(k.buf[:n])
			rest := copy(k.buf, k.buf[consume:])
			clear(k.buf[rest:])
			k.buf = k.buf[:rest]
			return key, nil
		}
		if k.eof {
			if len(k.buf) == 0 {
				return nil, errors.New("cannot read key material: no data on standard input")
			}
			key := bytes.Clone(k.buf)
			clear(k.buf)
			k.buf = k.buf[:0]
			return key, nil
		}
		if len(k.buf) > maxKeyBytes {
			return nil, fmt.Errorf("cannot read key material: more than %d bytes on standard input", maxKeyBytes)
		}
		if err := k.fill(); err != nil {
			return nil, err
		}
	}
}

func (k *keyReader) fill() error {
	if k.a.env.Stdin == nil {
		k.eof = true
		return nil
	}
	if cap(k.buf)-len(k.buf) < 512 {
		nb := make([]byte, len(k.buf), 2*cap(k.buf)+4096)
		copy(nb, k.buf)
		clear(k.buf[:cap(k.buf)])
		k.buf = nb
	}
	n, err := k.a.env.Stdin.Read(k.buf[len(k.buf):cap(k.buf)])
	k.buf = k.buf[:len(k.buf)+n]
	if errors.Is(err, io.EOF) {
		k.eof = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read key material: %w", err)
	}
	return nil
}

// needsNewKey reports whether create/pool create must read a key: a
// keyformat is given and keylocation is prompt, or not given (prompt is
// then implied).
func needsNewKey(props map[string]string) (format string, ok bool) {
	format, hasFormat := props["keyformat"]
	if !hasFormat || format == "none" {
		return "", false
	}
	loc, hasLoc := props["keylocation"]
	return format, !hasLoc || loc == "prompt"
}
