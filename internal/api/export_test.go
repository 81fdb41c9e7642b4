package api

// Test hooks for the external test package.

// SetAllow replaces the peer access rule of s.
func SetAllow(s *Server, allow func(Caller) bool) { s.allow = allow }

var PeerAllowed = peerAllowed

var ASCIIJSON = asciiJSON
