// Package daemon is the coffer daemon: it keeps the imported pools open,
// remembers them across restarts (a cache file in the state directory, like
// zpool.cache), and implements the API on top of the dataset layer.
//
// A restart imports every cached pool with every encrypted dataset locked.
package daemon
