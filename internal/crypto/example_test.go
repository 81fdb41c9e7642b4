package crypto_test

import (
	"fmt"

	"coffer/internal/crypto"
)

// The life of a dataset key: create, wrap under a passphrase-derived key,
// unwrap (load-key), seal and open a block bound to its context.
func Example() {
	// create -o encryption=on -o keyformat=passphrase
	suite, _ := crypto.ParseSuite("on")
	params, _ := crypto.NewKDFParams(crypto.KDFPBKDF2, 0) // stored in clear
	wk, _ := crypto.DeriveWrappingKey([]byte("correct horse battery staple"), params)
	key, _ := crypto.NewDatasetKey(suite)
	wrapped, _ := crypto.Wrap(wk, key, nil)
	stored, _ := wrapped.MarshalBinary() // stored in clear, sent by raw send
	wk.Wipe()
	key.Wipe()

	// load-key
	var w crypto.WrappedKey
	_ = w.UnmarshalBinary(stored)
	wk, _ = crypto.DeriveWrappingKey([]byte("correct horse battery staple"), params)
	key, err := crypto.Unwrap(wk, w, nil)
	wk.Wipe()
	if err != nil {
		fmt.Println(err) // crypto.ErrWrongKey for a wrong passphrase
		return
	}
	defer key.Wipe()

	// write and read one block; ad binds it to its place
	ad := fmt.Appendf(nil, "guid=%x obj=7 blk=0 birth=42 v1", key.GUID())
	ct, iv, salt, mac, _ := key.Seal(crypto.PurposeData, []byte("hello"), ad)
	pt, err := key.Open(crypto.PurposeData, ct, iv, salt, mac, ad)
	fmt.Println(string(pt), err, crypto.Secret("hunter22"))
	_, err = key.Open(crypto.PurposeData, ct, iv, salt, mac, []byte("moved"))
	fmt.Println(err)
	// Output:
	// hello <nil> [redacted]
	// authentication failed
}
