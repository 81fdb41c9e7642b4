package crypto

import (
	"bytes"
	"crypto/aes"
	"encoding/hex"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

type ccmVector struct {
	name                   string
	key, nonce, ad, pt, ct string // ct includes the tag
	tagSize                int
}

// RFC 3610 section 8, packet vectors #1 to #24 (AES-128, 13-byte nonce, M=8
// for #1-#12 and #13-#18, M=10 for #7-#12 and #19-#24). "ad" is the
// cleartext header of the packet, "ct" the encrypted payload followed by the
// authentication value.
var rfc3610Vectors = []ccmVector{
	{"#1", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000003020100a0a1a2a3a4a5", "0001020304050607", "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e", "588c979a61c663d2f066d0c2c0f989806d5f6b61dac384" + "17e8d12cfdf926e0", 8},
	{"#2", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000004030201a0a1a2a3a4a5", "0001020304050607", "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "72c91a36e135f8cf291ca894085c87e3cc15c439c9e43a3b" + "a091d56e10400916", 8},
	{"#3", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000005040302a0a1a2a3a4a5", "0001020304050607", "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20", "51b1e5f44a197d1da46b0f8e2d282ae871e838bb64da859657" + "4adaa76fbd9fb0c5", 8},
	{"#4", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000006050403a0a1a2a3a4a5", "000102030405060708090a0b", "0c0d0e0f101112131415161718191a1b1c1d1e", "a28c6865939a9a79faaa5c4c2a9d4a91cdac8c" + "96c861b9c9e61ef1", 8},
	{"#5", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000007060504a0a1a2a3a4a5", "000102030405060708090a0b", "0c0d0e0f101112131415161718191a1b1c1d1e1f", "dcf1fb7b5d9e23fb9d4e131253658ad86ebdca3e" + "51e83f077d9c2d93", 8},
	{"#6", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000008070605a0a1a2a3a4a5", "000102030405060708090a0b", "0c0d0e0f101112131415161718191a1b1c1d1e1f20", "6fc1b011f006568b5171a42d953d469b2570a4bd87" + "405a0443ac91cb94", 8},
	{"#7", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000009080706a0a1a2a3a4a5", "0001020304050607", "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e", "0135d1b2c95f41d5d1d4fec185d166b8094e999dfed96c" + "048c56602c97acbb7490", 10},
	{"#8", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "0000000a090807a0a1a2a3a4a5", "0001020304050607", "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "7b75399ac0831dd2f0bbd75879a2fd8f6cae6b6cd9b7db24" + "c17b4433f434963f34b4", 10},
	{"#9", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "0000000b0a0908a0a1a2a3a4a5", "0001020304050607", "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20", "82531a60cc24945a4b8279181ab5c84df21ce7f9b73f42e197" + "ea9c07e56b5eb17e5f4e", 10},
	{"#10", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "0000000c0b0a09a0a1a2a3a4a5", "000102030405060708090a0b", "0c0d0e0f101112131415161718191a1b1c1d1e", "07342594157785152b074098330abb141b947b" + "566aa9406b4d999988dd", 10},
	{"#11", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "0000000d0c0b0aa0a1a2a3a4a5", "000102030405060708090a0b", "0c0d0e0f101112131415161718191a1b1c1d1e1f", "676bb20380b0e301e8ab79590a396da78b834934" + "f53aa2e9107a8b6c022c", 10},
	{"#12", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "0000000e0d0c0ba0a1a2a3a4a5", "000102030405060708090a0b", "0c0d0e0f101112131415161718191a1b1c1d1e1f20", "c0ffa0d6f05bdb67f24d43a4338d2aa4bed7b20e43" + "cd1aa31662e7ad65d6db", 10},
	{"#13", "d7828d13b2b0bdc325a76236df93cc6b", "00412b4ea9cdbe3c9696766cfa", "0be1a88bace018b1", "08e8cf97d820ea258460e96ad9cf5289054d895ceac47c", "4cb97f86a2a4689a877947ab8091ef5386a6ffbdd080f8" + "e78cf7cb0cddd7b3", 8},
	{"#14", "d7828d13b2b0bdc325a76236df93cc6b", "0033568ef7b2633c9696766cfa", "63018f76dc8a1bcb", "9020ea6f91bdd85afa0039ba4baff9bfb79c7028949cd0ec", "4ccb1e7ca981befaa0726c55d378061298c85c92814abc33" + "c52ee81d7d77c08a", 8},
	{"#15", "d7828d13b2b0bdc325a76236df93cc6b", "00103fe41336713c9696766cfa", "aa6cfa36cae86b40", "b916e0eacc1c00d7dcec68ec0b3bbb1a02de8a2d1aa346132e", "b1d23a2220ddc0ac900d9aa03c61fcf4a559a4417767089708" + "a776796edb723506", 8},
	{"#16", "d7828d13b2b0bdc325a76236df93cc6b", "00764c63b8058e3c9696766cfa", "d0d0735c531e1becf049c244", "12daac5630efa5396f770ce1a66b21f7b2101c", "14d253c3967b70609b7cbb7c49916028324526" + "9a6f49975bcadeaf", 8},
	{"#17", "d7828d13b2b0bdc325a76236df93cc6b", "00f8b678094e3b3c9696766cfa", "77b60f011c03e1525899bcae", "e88b6a46c78d63e52eb8c546efb5de6f75e9cc0d", "5545ff1a085ee2efbf52b2e04bee1e2336c73e3f" + "762c0c7744fe7e3c", 8},
	{"#18", "d7828d13b2b0bdc325a76236df93cc6b", "00d560912d3f703c9696766cfa", "cd9044d2b71fdb8120ea60c0", "6435acbafb11a82e2f071d7ca4a5ebd93a803ba87f", "009769ecabdf48625594c59251e6035722675e04c8" + "47099e5ae0704551", 8},
	{"#19", "d7828d13b2b0bdc325a76236df93cc6b", "0042fff8f1951c3c9696766cfa", "d85bc7e69f944fb8", "8a19b950bcf71a018e5e6701c91787659809d67dbedd18", "bc218daa947427b6db386a99ac1aef23ade0b52939cb6a" + "637cf9bec2408897c6ba", 10},
	{"#20", "d7828d13b2b0bdc325a76236df93cc6b", "00920f40e56cdc3c9696766cfa", "74a0ebc9069f5b37", "1761433c37c5a35fc1f39f406302eb907c6163be38c98437", "5810e6fd25874022e80361a478e3e9cf484ab04f447efff6" + "f0a477cc2fc9bf548944", 10},
	{"#21", "d7828d13b2b0bdc325a76236df93cc6b", "0027ca0c7120bc3c9696766cfa", "44a3aa3aae6475ca", "a434a8e58500c6e41530538862d686ea9e81301b5ae4226bfa", "f2beed7bc5098e83feb5b31608f8e29c38819a89c8e776f154" + "4d4151a4ed3a8b87b9ce", 10},
	{"#22", "d7828d13b2b0bdc325a76236df93cc6b", "005b8ccbcd9af83c9696766cfa", "ec46bb63b02520c33c49fd70", "b96b49e21d621741632875db7f6c9243d2d7c2", "31d750a09da3ed7fddd49a2032aabf17ec8ebf" + "7d22c8088c666be5c197", 10},
	{"#23", "d7828d13b2b0bdc325a76236df93cc6b", "003ebe94044b9a3c9696766cfa", "47a65ac78b3d594227e85e71", "e2fcfbb880442c731bf95167c8ffd7895e337076", "e882f1dbd38ce3eda7c23f04dd65071eb41342ac" + "df7e00dccec7ae52987d", 10},
	{"#24", "d7828d13b2b0bdc325a76236df93cc6b", "008d493b30ae8b3c9696766cfa", "6e37a6ef546d955d34ab6059", "abf21c0b02feb88f856df4a37381bce3cc128517d4", "f32905b88a641b04b9c9ffb58cc390900f3da12ab1" + "6dce9e82efa16da62059", 10},
}

// NIST SP 800-38C Appendix C, examples C.1 to C.4 (C.4 has 2^16 bytes of AD,
// which exercises the 0xff 0xfe AD length encoding).
var nistCCMVectors = []ccmVector{
	{"C.1", "404142434445464748494a4b4c4d4e4f", "10111213141516", "0001020304050607", "20212223", "7162015b4dac255d", 4},
	{"C.2", "404142434445464748494a4b4c4d4e4f", "1011121314151617", "000102030405060708090a0b0c0d0e0f", "202122232425262728292a2b2c2d2e2f", "d2a1f0e051ea5f62081a7792073d593d1fc64fbfaccd", 6},
	{"C.3", "404142434445464748494a4b4c4d4e4f", "101112131415161718191a1b", "000102030405060708090a0b0c0d0e0f10111213", "202122232425262728292a2b2c2d2e2f3031323334353637", "e3b201a9f5b71a7a9b1ceaeccd97e70b6176aad9a4428aa5484392fbc1b09951", 8},
	{"C.4", "404142434445464748494a4b4c4d4e4f", "101112131415161718191a1b1c", "", "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f", "69915dad1e84c6376a68c2967e4dab615ae0fd1faec44cc484828529463ccf72b4ac6bec93e8598e7f0dadbcea5b", 14},
}

func nistC4AD() []byte {
	ad := make([]byte, 65536)
	for i := range ad {
		ad[i] = byte(i)
	}
	return ad
}

func TestCCMKnownAnswers(t *testing.T) {
	t.Parallel()
	all := append(append([]ccmVector(nil), rfc3610Vectors...), nistCCMVectors...)
	for _, v := range all {
		t.Run(v.name, func(t *testing.T) {
			b, err := aes.NewCipher(unhex(t, v.key))
			if err != nil {
				t.Fatal(err)
			}
			nonce := unhex(t, v.nonce)
			a, err := NewCCM(b, len(nonce), v.tagSize)
			if err != nil {
				t.Fatal(err)
			}
			ad := unhex(t, v.ad)
			if v.name == "C.4" {
				ad = nistC4AD()
			}
			pt, want := unhex(t, v.pt), unhex(t, v.ct)
			got := a.Seal(nil, nonce, pt, ad)
			if !bytes.Equal(got, want) {
				t.Fatalf("Seal = %x, want %x", got, want)
			}
			back, err := a.Open(nil, nonce, want, ad)
			if err != nil || !bytes.Equal(back, pt) {
				t.Fatalf("Open = %x, %v; want %x", back, err, pt)
			}
			// In place, appending to a prefix.
			buf := append([]byte("prefix"), pt...)
			sealed := a.Seal(buf[:6], nonce, buf[6:], ad)
			if !bytes.Equal(sealed[6:], want) || string(sealed[:6]) != "prefix" {
				t.Fatalf("in-place Seal = %x", sealed)
			}
			opened, err := a.Open(sealed[6:6], nonce, sealed[6:], ad)
			if err != nil || !bytes.Equal(opened, pt) {
				t.Fatalf("in-place Open = %x, %v", opened, err)
			}
			// Every single-bit flip of ciphertext, tag, AD or nonce fails.
			for i := range len(want) * 8 {
				c := bytes.Clone(want)
				c[i/8] ^= 1 << (i % 8)
				if _, err := a.Open(nil, nonce, c, ad); err == nil {
					t.Fatalf("flipped ciphertext bit %d accepted", i)
				}
			}
			for i := range min(len(ad), 64) {
				d := bytes.Clone(ad)
				d[i] ^= 0x80
				if _, err := a.Open(nil, nonce, want, d); err == nil {
					t.Fatalf("flipped AD byte %d accepted", i)
				}
			}
			if _, err := a.Open(nil, nonce, want, append(bytes.Clone(ad), 0)); err == nil {
				t.Fatal("extended AD accepted")
			}
			for i := range nonce {
				n := bytes.Clone(nonce)
				n[i] ^= 1
				if _, err := a.Open(nil, n, want, ad); err == nil {
					t.Fatalf("flipped nonce byte %d accepted", i)
				}
			}
			for n := range len(want) {
				if _, err := a.Open(nil, nonce, want[:n], ad); err == nil {
					t.Fatalf("truncated ciphertext (%d bytes) accepted", n)
				}
			}
		})
	}
}

func TestCCMParams(t *testing.T) {
	t.Parallel()
	b, _ := aes.NewCipher(make([]byte, 16))
	for n := 0; n <= 16; n++ {
		for m := 0; m <= 18; m++ {
			_, err := NewCCM(b, n, m)
			ok := n >= 7 && n <= 13 && m >= 4 && m <= 16 && m%2 == 0
			if (err == nil) != ok {
				t.Errorf("NewCCM(nonce %d, tag %d): err = %v, want ok=%v", n, m, err, ok)
			}
		}
	}
}

// TestCCMRoundTrip covers every length around block boundaries, every valid
// nonce and tag size, and AD lengths around the 2-byte/6-byte encoding switch.
func TestCCMRoundTrip(t *testing.T) {
	t.Parallel()
	for _, kl := range []int{16, 24, 32} {
		b, _ := aes.NewCipher(bytes.Repeat([]byte{byte(kl)}, kl))
		for ns := 7; ns <= 13; ns++ {
			for ts := 4; ts <= 16; ts += 2 {
				a, err := NewCCM(b, ns, ts)
				if err != nil {
					t.Fatal(err)
				}
				nonce := bytes.Repeat([]byte{byte(ns)}, ns)
				for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 100, 4096 + 5} {
					pt := bytes.Repeat([]byte{0xa5}, n)
					for _, adl := range []int{0, 1, 16, 0xfeff, 0xff00, 0x10001} {
						ad := bytes.Repeat([]byte{0x5a}, adl)
						c := a.Seal(nil, nonce, pt, ad)
						if len(c) != n+ts || a.Overhead() != ts || a.NonceSize() != ns {
							t.Fatalf("sizes wrong")
						}
						p, err := a.Open(nil, nonce, c, ad)
						if err != nil || !bytes.Equal(p, pt) {
							t.Fatalf("k%d n%d t%d len%d ad%d: round trip failed: %v", kl, ns, ts, n, adl, err)
						}
						if len(c) > 0 {
							c[len(c)-1] ^= 1
							if _, err := a.Open(nil, nonce, c, ad); err == nil {
								t.Fatal("tampered tag accepted")
							}
						}
					}
				}
			}
		}
	}
}

func TestCCMOpenFailureZeroesOutput(t *testing.T) {
	t.Parallel()
	b, _ := aes.NewCipher(make([]byte, 16))
	a, _ := NewCCM(b, 12, 16)
	nonce := make([]byte, 12)
	c := a.Seal(nil, nonce, []byte("secret plaintext, 32 bytes long!"), nil)
	c[0] ^= 1
	out := make([]byte, 0, 64)
	if _, err := a.Open(out, nonce, c, nil); err == nil {
		t.Fatal("accepted")
	}
	if !allZero(out[:32]) {
		t.Fatalf("plaintext left in dst after failure: %x", out[:32])
	}
	if _, err := a.Open(nil, nonce[:11], c, nil); err == nil {
		t.Fatal("short nonce accepted")
	}
}

func TestCCMLengthLimit(t *testing.T) {
	t.Parallel()
	b, _ := aes.NewCipher(make([]byte, 16))
	a, _ := NewCCM(b, 13, 16) // L=2: at most 65535 bytes
	nonce := make([]byte, 13)
	a.Seal(nil, nonce, make([]byte, 65535), nil)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Seal of 65536 bytes with L=2 did not panic")
			}
		}()
		a.Seal(nil, nonce, make([]byte, 65536), nil)
	}()
	if _, err := a.Open(nil, nonce, make([]byte, 65536+16), nil); err == nil {
		t.Error("Open of an over-long message succeeded")
	}
}
