package dmu

// Frozen associated-data layouts.
//
// CHANGING THESE BREAKS THE ON-DISK FORMAT: the AD is bound into every
// encrypted block's GCM/CCM tag, every encrypted bonus and every keyed MAC
// of a structural block. Different AD bytes make every existing encrypted
// dataset unreadable (ErrDamaged on every block). See
// docs/design/on-disk-format.md, "Associated data".

import (
	"encoding/hex"
	"testing"
)

const (
	katKeyGUID = 0x0102030405060708
	katObj     = 0x1112131415161718
	katBlkID   = 0x2122232425262728
	katBirth   = 0x3132333435363738
	katGen     = 0x4142434445464748
)

func TestADLayoutsKAT(t *testing.T) {
	for _, c := range []struct {
		name string
		got  []byte
		want string
	}{
		{
			"blockAD", blockAD(katKeyGUID, katObj, 3, katBlkID, katBirth),
			"42" + // 'B'
				"0807060504030201" + // key GUID, LE
				"1817161514131211" + // object, LE
				"03" + // level
				"2827262524232221" + // block id, LE
				"3837363534333231", // logical birth, LE
		},
		{
			"blockAD(meta)", blockAD(0, 0, 0, 0, 1),
			"42" + "0000000000000000" + "0000000000000000" + "00" + "0000000000000000" + "0100000000000000",
		},
		{
			"headerAD", headerAD(katKeyGUID),
			"48" + // 'H'
				"0807060504030201",
		},
		{
			"bonusAD", bonusAD(katKeyGUID, katObj, katGen),
			"4e" + // 'N'
				"0807060504030201" + // key GUID
				"1817161514131211" + // object
				"4847464544434241", // dnode generation
		},
	} {
		if h := hex.EncodeToString(c.got); h != c.want {
			t.Errorf("%s = %s\n          want %s (this breaks the on-disk format)", c.name, h, c.want)
		}
	}
	if n := len(blockAD(1, 2, 3, 4, 5)); n != 34 {
		t.Errorf("blockAD is %d bytes, want 34", n)
	}
	if n := len(headerAD(1)); n != 9 {
		t.Errorf("headerAD is %d bytes, want 9", n)
	}
	if n := len(bonusAD(1, 2, 3)); n != 25 {
		t.Errorf("bonusAD is %d bytes, want 25", n)
	}
}
