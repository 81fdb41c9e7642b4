package dsl

import (
	"errors"
	"fmt"
)

// Error codes; the same strings as the API's.
const (
	CodeNotFound   = "not_found"
	CodeExists     = "exists"
	CodeInvalid    = "invalid"
	CodeKey        = "key"
	CodeBusy       = "busy"
	CodePermission = "permission"
	CodeIO         = "io"
	CodeUsage      = "usage"
)

// Error is a user-facing error: Msg is a complete zfs-style line.
type Error struct {
	Code string
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func errf(code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of a dsl error, or "" for other errors.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
