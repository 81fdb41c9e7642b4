package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"testing"
	"time"
)

const benchBlock = 128 << 10

func BenchmarkSeal(b *testing.B) {
	for _, s := range Supported() {
		b.Run(s.String(), func(b *testing.B) {
			k := newKey(b, s)
			pt := make([]byte, benchBlock)
			dst := make([]byte, 0, benchBlock+MACLen)
			ad := make([]byte, 64)
			b.SetBytes(benchBlock)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, _, err := k.SealTo(dst, PurposeData, pt, ad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, s := range Supported() {
		b.Run(s.String(), func(b *testing.B) {
			k := newKey(b, s)
			ad := make([]byte, 64)
			ct, iv, salt, mac, err := k.Seal(PurposeData, make([]byte, benchBlock), ad)
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]byte, 0, benchBlock+MACLen)
			b.SetBytes(benchBlock)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.OpenTo(dst, PurposeData, ct, iv, salt, mac, ad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStdGCM is the ceiling: raw crypto/cipher AES-256-GCM on the same
// block size, with a fixed nonce and no key management.
func BenchmarkStdGCM(b *testing.B) {
	blk, _ := aes.NewCipher(make([]byte, 32))
	g, _ := cipher.NewGCM(blk)
	pt := make([]byte, benchBlock)
	dst := make([]byte, 0, benchBlock+16)
	nonce := make([]byte, 12)
	ad := make([]byte, 64)
	b.SetBytes(benchBlock)
	b.ReportAllocs()
	for b.Loop() {
		g.Seal(dst, nonce, pt, ad)
	}
}

func BenchmarkMAC(b *testing.B) {
	k := newKey(b, AES256GCM)
	data := make([]byte, 16<<10)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		k.MAC(data)
	}
}

func TestThroughput(t *testing.T) {
	t.Parallel()
	for _, s := range []Suite{AES128CCM, AES256GCM} {
		if bps := Throughput(s, 16<<10, 10*time.Millisecond); bps <= 0 {
			t.Errorf("Throughput(%v) = %v", s, bps)
		}
	}
	if Throughput(Off, 4096, time.Millisecond) != 0 || Throughput(AES256GCM, 0, time.Millisecond) != 0 ||
		Throughput(AES256CCM, 1<<24, time.Millisecond) != 0 {
		t.Error("Throughput accepted invalid input")
	}
}
