package kmip

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "|", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The encoding examples of the KMIP 1.x specification (§9.1.2); changing
// them breaks the wire format.
func TestSpecExamples(t *testing.T) {
	t.Parallel()
	bigV, _ := new(big.Int).SetString("1234567890000000000000000000", 10)
	cases := []struct {
		name string
		item Item
		want string
	}{
		{"Integer 8", Int(0x420020, 8), "420020 | 02 | 00000004 | 00000008 00000000"},
		{"Long Integer", Long(0x420020, 123456789000000000), "420020 | 03 | 00000008 | 01B69B4BA5749200"},
		{"Big Integer", BigInt(0x420020, bigV), "420020 | 04 | 00000010 | 0000000003FD35EB6BC2DF4618080000"},
		{"Enumeration 255", Enum(0x420020, 255), "420020 | 05 | 00000004 | 000000FF 00000000"},
		{"Boolean true", Bool(0x420020, true), "420020 | 06 | 00000008 | 0000000000000001"},
		{"Text String", Text(0x420020, "Hello World"), "420020 | 07 | 0000000B | 48656C6C6F20576F726C64 0000000000"},
		{"Byte String", Bytes(0x420020, []byte{1, 2, 3}), "420020 | 08 | 00000003 | 010203 0000000000"},
		{"Date-Time", DateTime(0x420020, time.Date(2008, 3, 14, 11, 56, 40, 0, time.UTC)), "420020 | 09 | 00000008 | 0000000047DA67F8"},
		{"Interval 10 days", Interval(0x420020, 10*24*3600), "420020 | 0A | 00000004 | 000D2F00 00000000"},
		{"Structure", Struct(0x420020, Enum(0x420004, 254), Int(0x420005, 255)),
			"420020 | 01 | 00000020 | 420004 | 05 | 00000004 | 000000FE 00000000 | 420005 | 02 | 00000004 | 000000FF 00000000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := unhex(t, tc.want)
			got, err := tc.item.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encode\n got %x\nwant %x", got, want)
			}
			back, err := Unmarshal(want)
			if err != nil {
				t.Fatal(err)
			}
			again, err := back.Marshal()
			if err != nil || !bytes.Equal(again, want) {
				t.Fatalf("round trip: %x, %v", again, err)
			}
		})
	}
}

func TestValues(t *testing.T) {
	t.Parallel()
	for _, v := range []int64{0, 1, -1, 127, 128, -128, -129, 1 << 62, -(1 << 62)} {
		b := BigInt(1, big.NewInt(v))
		if len(b.Bytes)%8 != 0 || b.Big().Int64() != v {
			t.Errorf("big %d: %x -> %v", v, b.Bytes, b.Big())
		}
	}
	if got := BigInt(1, big.NewInt(-1)).Bytes; !bytes.Equal(got, unhex(t, "FFFFFFFFFFFFFFFF")) {
		t.Errorf("big -1 = %x", got)
	}
	it, err := Unmarshal(unhex(t, "420020 02 00000004 FFFFFFFE 00000000"))
	if err != nil || it.Int != -2 {
		t.Errorf("negative Integer: %v %v", it.Int, err)
	}
	dt := DateTime(1, time.Date(2008, 3, 14, 11, 56, 40, 0, time.UTC))
	if !dt.Time().Equal(time.Date(2008, 3, 14, 11, 56, 40, 0, time.UTC)) {
		t.Error(dt.Time())
	}
	msg := Struct(TagRequestMessage, Struct(TagRequestHeader, versionItem(Version{1, 2})))
	if v := msg.Path(TagRequestHeader, TagProtocolVersion, TagProtocolVersionMinor); v == nil || v.Int != 2 {
		t.Errorf("Path: %v", v)
	}
	if msg.Path(TagRequestHeader, TagBatchCount) != nil {
		t.Error("Path found a missing tag")
	}
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	deep := []byte{}
	for i := 0; i < MaxDepth+2; i++ {
		deep = append(deep, 0x42, 0, 1, 1, 0, 0, 0, 0)
	}
	// fix the structure lengths from the inside out
	for i := len(deep)/8 - 1; i >= 0; i-- {
		n := len(deep) - 8*(i+1)
		deep[8*i+4], deep[8*i+5], deep[8*i+6], deep[8*i+7] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	}
	cases := map[string][]byte{
		"empty":            nil,
		"short header":     unhex(t, "42002002000000"),
		"length overflow":  unhex(t, "420020 02 FFFFFFFF 00000008 00000000"),
		"integer length 8": unhex(t, "420020 02 00000008 0000000000000008"),
		"missing padding":  unhex(t, "420020 02 00000004 00000008"),
		"nonzero padding":  unhex(t, "420020 02 00000004 00000008 00000001"),
		"boolean 2":        unhex(t, "420020 06 00000008 0000000000000002"),
		"unknown type":     unhex(t, "420020 0B 00000000"),
		"bad utf8":         unhex(t, "420020 07 00000001 FF00000000000000"),
		"big int len 3":    unhex(t, "420020 04 00000003 0102030000000000"),
		"struct len 4":     unhex(t, "420020 01 00000004 00000000"),
		"trailing":         unhex(t, "420020 02 00000004 00000008 00000000 00"),
		"too deep":         deep,
	}
	for name, b := range cases {
		if _, err := Unmarshal(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	if _, err := (Item{Tag: 0x1000000, Type: TypeInteger}).Marshal(); err == nil {
		t.Error("4-byte tag encoded")
	}
}

func FuzzUnmarshal(f *testing.F) {
	seed, _ := Struct(TagResponseMessage,
		Struct(TagResponseHeader, versionItem(Version{1, 2}), DateTime(TagTimeStamp, time.Unix(1e9, 0)), Int(TagBatchCount, 1)),
		Struct(TagBatchItem, Enum(TagOperation, OpGet), Enum(TagResultStatus, 0),
			Struct(TagResponsePayload, Text(TagUniqueIdentifier, "1"), Bytes(TagData, []byte("xyz")),
				BigInt(1, big.NewInt(-5)), Long(2, 3), Bool(3, true), Interval(4, 5)))).Marshal()
	f.Add(seed)
	f.Add(unhex(f, "420020 01 00000020 420004 05 00000004 000000FE 00000000 420005 02 00000004 000000FF 00000000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		it, err := Unmarshal(b)
		if err != nil {
			return
		}
		// Accepted input is canonical: it re-encodes to the same bytes.
		out, err := it.Marshal()
		if err != nil {
			t.Fatalf("decoded item does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, out)
		}
	})
}
