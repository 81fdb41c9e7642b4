package cli

import (
	"fmt"
	"regexp"

	"github.com/spf13/cobra"
)

// usageError is a bad command line: printed with the usage lines, exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

var (
	reUnknownShort = regexp.MustCompile(`^unknown shorthand flag: '(.)' in`)
	reUnknownLong  = regexp.MustCompile(`^unknown flag: (--\S+)`)
	reNeedsArg     = regexp.MustCompile(`^flag needs an argument: '(.)' in`)
	reNeedsArgLong = regexp.MustCompile(`^flag needs an argument: (--\S+)`)
	reBadValue     = regexp.MustCompile(`^invalid argument "(.*)" for "(?:-(.), )?(--\S+)" flag`)
)

// flagError turns pflag's messages into zfs's.
func flagError(_ *cobra.Command, err error) error {
	msg := err.Error()
	if m := reUnknownShort.FindStringSubmatch(msg); m != nil {
		return usagef("invalid option '%s'", m[1])
	}
	if m := reUnknownLong.FindStringSubmatch(msg); m != nil {
		return usagef("invalid option '%s'", m[1])
	}
	if m := reNeedsArg.FindStringSubmatch(msg); m != nil {
		return usagef("missing argument for '%s' option", m[1])
	}
	if m := reNeedsArgLong.FindStringSubmatch(msg); m != nil {
		return usagef("missing argument for '%s' option", m[1])
	}
	if m := reBadValue.FindStringSubmatch(msg); m != nil {
		opt := m[3]
		if m[2] != "" {
			opt = m[2]
		}
		return usagef("invalid value '%s' for '%s' option", m[1], opt)
	}
	return usagef("%s", msg)
}

// Argument count checks; what names the missing argument ("dataset").
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < n {
			return usagef("missing %s argument", what)
		}
		if len(args) > n {
			return usagef("too many arguments")
		}
		return nil
	}
}

func minArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < n {
			return usagef("missing %s argument", what)
		}
		return nil
	}
}

func maxArgs(n int) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) > n {
			return usagef("too many arguments")
		}
		return nil
	}
}

func rangeArgs(lo, hi int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < lo {
			return usagef("missing %s argument", what)
		}
		if len(args) > hi {
			return usagef("too many arguments")
		}
		return nil
	}
}
