package dsl

import (
	"crypto/rand"
	"encoding/binary"
)

func randGUID() uint64 {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic(err)
		}
		if g := binary.LittleEndian.Uint64(b[:]); g != 0 {
			return g
		}
	}
}
