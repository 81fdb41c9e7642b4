package kmip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"time"
	"unicode/utf8"
)

// Type is a TTLV item type (KMIP 1.x §9.1.1.2).
type Type byte

// TTLV item types.
const (
	TypeStructure   Type = 0x01
	TypeInteger     Type = 0x02
	TypeLongInteger Type = 0x03
	TypeBigInteger  Type = 0x04
	TypeEnumeration Type = 0x05
	TypeBoolean     Type = 0x06
	TypeTextString  Type = 0x07
	TypeByteString  Type = 0x08
	TypeDateTime    Type = 0x09
	TypeInterval    Type = 0x0A
)

func (t Type) String() string {
	switch t {
	case TypeStructure:
		return "Structure"
	case TypeInteger:
		return "Integer"
	case TypeLongInteger:
		return "LongInteger"
	case TypeBigInteger:
		return "BigInteger"
	case TypeEnumeration:
		return "Enumeration"
	case TypeBoolean:
		return "Boolean"
	case TypeTextString:
		return "TextString"
	case TypeByteString:
		return "ByteString"
	case TypeDateTime:
		return "DateTime"
	case TypeInterval:
		return "Interval"
	}
	return fmt.Sprintf("Type(0x%02x)", byte(t))
}

// Tag is a 3-byte TTLV tag; KMIP tags are 0x42XXXX.
type Tag uint32

// Decoder limits.
const (
	// MaxMessageSize bounds one encoded TTLV message (header included).
	MaxMessageSize = 1 << 20
	// MaxDepth bounds structure nesting; KMIP 1.x messages nest < 10 deep.
	MaxDepth = 32
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed TTLV")

// Item is one TTLV node. Which value field is used depends on Type:
// Integer, LongInteger, Enumeration, Interval, Boolean (0 or 1) and DateTime
// (seconds since the Unix epoch) use Int; TextString, ByteString and
// BigInteger (big-endian two's complement, a multiple of 8 bytes) use Bytes;
// Structure uses Items.
type Item struct {
	Tag   Tag
	Type  Type
	Int   int64
	Bytes []byte
	Items []Item
}

// Struct builds a Structure.
func Struct(tag Tag, items ...Item) Item { return Item{Tag: tag, Type: TypeStructure, Items: items} }

// Int builds an Integer.
func Int(tag Tag, v int32) Item { return Item{Tag: tag, Type: TypeInteger, Int: int64(v)} }

// Long builds a Long Integer.
func Long(tag Tag, v int64) Item { return Item{Tag: tag, Type: TypeLongInteger, Int: v} }

// Enum builds an Enumeration.
func Enum(tag Tag, v uint32) Item { return Item{Tag: tag, Type: TypeEnumeration, Int: int64(v)} }

// Bool builds a Boolean.
func Bool(tag Tag, v bool) Item {
	it := Item{Tag: tag, Type: TypeBoolean}
	if v {
		it.Int = 1
	}
	return it
}

// Text builds a Text String.
func Text(tag Tag, s string) Item { return Item{Tag: tag, Type: TypeTextString, Bytes: []byte(s)} }

// Bytes builds a Byte String.
func Bytes(tag Tag, b []byte) Item { return Item{Tag: tag, Type: TypeByteString, Bytes: b} }

// DateTime builds a Date-Time (second resolution).
func DateTime(tag Tag, t time.Time) Item { return Item{Tag: tag, Type: TypeDateTime, Int: t.Unix()} }

// Interval builds an Interval (seconds).
func Interval(tag Tag, seconds uint32) Item {
	return Item{Tag: tag, Type: TypeInterval, Int: int64(seconds)}
}

// BigInt builds a Big Integer, sign-extended to a multiple of 8 bytes.
func BigInt(tag Tag, v *big.Int) Item {
	return Item{Tag: tag, Type: TypeBigInteger, Bytes: bigToTwos(v)}
}

func bigToTwos(v *big.Int) []byte {
	n := (v.BitLen()/8 + 1 + 7) / 8 * 8 // room for a sign bit
	if n == 0 {
		n = 8
	}
	out := make([]byte, n)
	if v.Sign() >= 0 {
		v.FillBytes(out)
		return out
	}
	// two's complement: 2^(8n) + v
	m := new(big.Int).Lsh(big.NewInt(1), uint(8*n))
	m.Add(m, v)
	m.FillBytes(out)
	return out
}

// Big returns the value of a Big Integer.
func (it Item) Big() *big.Int {
	v := new(big.Int).SetBytes(it.Bytes)
	if len(it.Bytes) > 0 && it.Bytes[0]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(it.Bytes))))
	}
	return v
}

// Time returns the value of a Date-Time.
func (it Item) Time() time.Time { return time.Unix(it.Int, 0).UTC() }

// Find returns the first direct child with tag, or nil.
func (it *Item) Find(tag Tag) *Item {
	for i := range it.Items {
		if it.Items[i].Tag == tag {
			return &it.Items[i]
		}
	}
	return nil
}

// FindAll returns the direct children with tag.
func (it *Item) FindAll(tag Tag) []*Item {
	var out []*Item
	for i := range it.Items {
		if it.Items[i].Tag == tag {
			out = append(out, &it.Items[i])
		}
	}
	return out
}

// Path follows tags through nested structures, returning nil when a step is
// missing.
func (it *Item) Path(tags ...Tag) *Item {
	cur := it
	for _, t := range tags {
		if cur == nil || cur.Type != TypeStructure {
			return nil
		}
		cur = cur.Find(t)
	}
	return cur
}

func pad8(n int) int { return (n + 7) &^ 7 }

// Marshal encodes it as TTLV.
func (it Item) Marshal() ([]byte, error) { return it.AppendTo(nil) }

// AppendTo appends the TTLV encoding of it to b.
func (it Item) AppendTo(b []byte) ([]byte, error) {
	return it.appendTo(b, 0)
}

func (it Item) appendTo(b []byte, depth int) ([]byte, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("encode: nesting deeper than %d", MaxDepth)
	}
	if it.Tag > 0xFFFFFF {
		return nil, fmt.Errorf("encode: tag 0x%x does not fit in 3 bytes", uint32(it.Tag))
	}
	b = append(b, byte(it.Tag>>16), byte(it.Tag>>8), byte(it.Tag), byte(it.Type))
	lenAt := len(b)
	b = append(b, 0, 0, 0, 0)
	var n int
	switch it.Type {
	case TypeStructure:
		start := len(b)
		for _, c := range it.Items {
			var err error
			if b, err = c.appendTo(b, depth+1); err != nil {
				return nil, err
			}
		}
		n = len(b) - start
		binary.BigEndian.PutUint32(b[lenAt:], uint32(n))
		return b, nil
	case TypeInteger, TypeEnumeration, TypeInterval:
		n = 4
		b = binary.BigEndian.AppendUint32(b, uint32(it.Int))
	case TypeLongInteger, TypeDateTime:
		n = 8
		b = binary.BigEndian.AppendUint64(b, uint64(it.Int))
	case TypeBoolean:
		if it.Int != 0 && it.Int != 1 {
			return nil, fmt.Errorf("encode: boolean value %d", it.Int)
		}
		n = 8
		b = binary.BigEndian.AppendUint64(b, uint64(it.Int))
	case TypeBigInteger:
		if len(it.Bytes) == 0 || len(it.Bytes)%8 != 0 {
			return nil, fmt.Errorf("encode: big integer length %d is not a positive multiple of 8", len(it.Bytes))
		}
		n = len(it.Bytes)
		b = append(b, it.Bytes...)
	case TypeTextString, TypeByteString:
		if it.Type == TypeTextString && !utf8.Valid(it.Bytes) {
			return nil, errors.New("encode: text string is not UTF-8")
		}
		n = len(it.Bytes)
		b = append(b, it.Bytes...)
	default:
		return nil, fmt.Errorf("encode: unknown type 0x%02x", byte(it.Type))
	}
	if n > MaxMessageSize {
		return nil, fmt.Errorf("encode: value of %d bytes is too long", n)
	}
	binary.BigEndian.PutUint32(b[lenAt:], uint32(n))
	for i := n; i < pad8(n); i++ {
		b = append(b, 0)
	}
	return b, nil
}

// Unmarshal decodes exactly one TTLV item that fills b.
func Unmarshal(b []byte) (Item, error) {
	if len(b) > MaxMessageSize {
		return Item{}, fmt.Errorf("%w: message of %d bytes exceeds %d", ErrMalformed, len(b), MaxMessageSize)
	}
	it, n, err := decode(b, 0)
	if err != nil {
		return Item{}, err
	}
	if n != len(b) {
		return Item{}, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(b)-n)
	}
	return it, nil
}

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, a...)...)
}

// decode reads one item from the front of b and returns it with the number
// of bytes consumed (header, value and padding).
func decode(b []byte, depth int) (Item, int, error) {
	if depth > MaxDepth {
		return Item{}, 0, malformed("nesting deeper than %d", MaxDepth)
	}
	if len(b) < 8 {
		return Item{}, 0, malformed("short header (%d bytes)", len(b))
	}
	it := Item{Tag: Tag(b[0])<<16 | Tag(b[1])<<8 | Tag(b[2]), Type: Type(b[3])}
	length := binary.BigEndian.Uint32(b[4:8])
	if uint64(length) > uint64(len(b)-8) {
		return Item{}, 0, malformed("tag 0x%06x: length %d exceeds remaining %d bytes", uint32(it.Tag), length, len(b)-8)
	}
	n := int(length)
	total := 8 + pad8(n)
	if it.Type != TypeStructure && total > len(b) {
		return Item{}, 0, malformed("tag 0x%06x: missing padding", uint32(it.Tag))
	}
	v := b[8 : 8+n]
	fixed := func(want int) error {
		if n != want {
			return malformed("tag 0x%06x: %s of length %d, want %d", uint32(it.Tag), it.Type, n, want)
		}
		return nil
	}
	switch it.Type {
	case TypeStructure:
		if n%8 != 0 {
			return Item{}, 0, malformed("tag 0x%06x: structure length %d is not a multiple of 8", uint32(it.Tag), n)
		}
		for off := 0; off < n; {
			c, m, err := decode(v[off:], depth+1)
			if err != nil {
				return Item{}, 0, err
			}
			it.Items = append(it.Items, c)
			off += m
		}
		return it, 8 + n, nil
	case TypeInteger, TypeEnumeration, TypeInterval:
		if err := fixed(4); err != nil {
			return Item{}, 0, err
		}
		u := binary.BigEndian.Uint32(v)
		if it.Type == TypeInteger {
			it.Int = int64(int32(u))
		} else {
			it.Int = int64(u)
		}
	case TypeLongInteger, TypeDateTime:
		if err := fixed(8); err != nil {
			return Item{}, 0, err
		}
		it.Int = int64(binary.BigEndian.Uint64(v))
	case TypeBoolean:
		if err := fixed(8); err != nil {
			return Item{}, 0, err
		}
		u := binary.BigEndian.Uint64(v)
		if u > 1 {
			return Item{}, 0, malformed("tag 0x%06x: boolean value %d", uint32(it.Tag), u)
		}
		it.Int = int64(u)
	case TypeBigInteger:
		if n == 0 || n%8 != 0 {
			return Item{}, 0, malformed("tag 0x%06x: big integer length %d", uint32(it.Tag), n)
		}
		it.Bytes = append([]byte(nil), v...)
	case TypeTextString:
		if !utf8.Valid(v) {
			return Item{}, 0, malformed("tag 0x%06x: text string is not UTF-8", uint32(it.Tag))
		}
		it.Bytes = append([]byte(nil), v...)
	case TypeByteString:
		it.Bytes = append([]byte(nil), v...)
	default:
		return Item{}, 0, malformed("tag 0x%06x: unknown type 0x%02x", uint32(it.Tag), byte(it.Type))
	}
	for _, p := range b[8+n : total] {
		if p != 0 {
			return Item{}, 0, malformed("tag 0x%06x: non-zero padding", uint32(it.Tag))
		}
	}
	return it, total, nil
}
