package crypto

import "time"

// Throughput measures Seal throughput of suite s on blockSize-byte blocks for
// about d (at least 8 blocks), with a fresh random key, and returns bytes per
// second. It returns 0 if s does not encrypt, blockSize is out of range
// (see MaxBlockSize) or the random source fails. It backs
// `coffer benchmark crypto`.
func Throughput(s Suite, blockSize int, d time.Duration) (bytesPerSec float64) {
	if blockSize <= 0 || blockSize > MaxBlockSize(s) {
		return 0
	}
	k, err := NewDatasetKey(s)
	if err != nil {
		return 0
	}
	defer k.Wipe()
	pt := make([]byte, blockSize)
	dst := make([]byte, 0, blockSize+MACLen)
	ad := make([]byte, 64)
	var n int64
	start := time.Now()
	for {
		// Read the clock every 8 blocks to keep timing overhead small.
		for range 8 {
			if _, _, _, _, err := k.SealTo(dst, PurposeData, pt, ad); err != nil {
				return 0
			}
			n += int64(blockSize)
		}
		if el := time.Since(start); el >= d {
			return float64(n) / el.Seconds()
		}
	}
}
