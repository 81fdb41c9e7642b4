// Package benchio holds what the benchmark programs share to read files
// the way a user's sequential reader does.
package benchio

import "io"

// ReadAll reads r to its end in 1 MiB reads and returns the bytes read.
// A plain loop, not io.Copy to io.Discard: io.Discard is an io.ReaderFrom,
// and io.Copy and io.CopyBuffer then read in its 8 KiB pieces whatever
// buffer they are given.
func ReadAll(r io.Reader) (int64, error) {
	buf := make([]byte, 1<<20)
	var n int64
	for {
		m, err := r.Read(buf)
		n += int64(m)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
