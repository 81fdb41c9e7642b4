package cli

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

// The users of the API (docs/design/access.md). Only admins manage them.

func newUserCommand(a *app) *cobra.Command {
	u := &cobra.Command{
		Use:   "user COMMAND",
		Short: "Manage the users of the daemon's API and their roles (admin only)",
		Long: `Users other than root and the daemon's own user: each has a role (admin,
keyadmin, operator, viewer), an API token for the HTTP API and, with --uid,
a local account that may call on the Unix socket.

  admin     everything, managing users included
  keyadmin  key operations (load-key, unload-key, change-key, lock, unlock,
            key export, keystore) and everything read-only
  operator  everything except key operations and users
  viewer    read-only: list, get, pool list/status, keystore status`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	u.AddCommand(newUserAddCommand(a), newUserListCommand(a), newUserRemoveCommand(a), newUserSetRoleCommand(a))
	return u
}

type userAddOptions struct {
	role string // --role
	uid  int    // --uid; -1: none
}

func newUserAddCommand(a *app) *cobra.Command {
	opts := userAddOptions{uid: -1}
	cmd := &cobra.Command{
		Use:   "add NAME --role ROLE [--uid N]",
		Short: "Add a user and print its new API token (shown once)",
		Long: `Add a user with a role. The new API token is printed once on stdout: the
daemon keeps only its SHA-256. With --uid, the local user with that uid may
also call on the Unix socket, with this role.`,
		Example: `  coffer user add alice --role keyadmin > alice.token
  coffer user add backup --role operator --uid 1001
  coffer --url https://nas:8443 --token-file alice.token unlock tank/secret`,
		Args: exactArgs(1, "user name"),
		RunE: runE(func(ctx context.Context, args []string) error {
			if opts.role == "" {
				return usagef("missing --role (admin, keyadmin, operator, viewer)")
			}
			if _, err := api.ParseRole(opts.role); err != nil {
				return usagef("cannot add user '%s': %v", args[0], err)
			}
			if opts.uid < -1 {
				return usagef("cannot add user '%s': bad --uid %d", args[0], opts.uid)
			}
			var resp api.UserAddResp
			if err := a.call(ctx, api.MUserAdd, api.UserAddReq{Name: args[0], Role: opts.role, UID: opts.uid}, &resp); err != nil {
				return err
			}
			_, err := fmt.Fprintln(a.env.Stdout, resp.Token)
			return err
		}),
	}
	f := cmd.Flags()
	f.StringVar(&opts.role, "role", "", "admin, keyadmin, operator or viewer")
	f.IntVar(&opts.uid, "uid", -1, "local uid that may call on the Unix socket as this user")
	return cmd
}

type userListOptions struct {
	scripted bool // -H
	json     bool // -j
}

// userListJSON is the -j document of `user list`.
type userListJSON struct {
	OutputVersion outputVersion  `json:"output_version"`
	Users         []api.UserInfo `json:"users"`
}

func newUserListCommand(a *app) *cobra.Command {
	var opts userListOptions
	cmd := &cobra.Command{
		Use:   "list [-H] [-j]",
		Short: "List the users: name, role, uid (never tokens)",
		Example: `  coffer user list
  coffer user list -H
  coffer user list -j`,
		Args: maxArgs(0),
		RunE: runE(func(ctx context.Context, args []string) error {
			var resp api.UserListResp
			if err := a.call(ctx, api.MUserList, struct{}{}, &resp); err != nil {
				return err
			}
			p := printer{w: a.env.Stdout, scripted: opts.scripted}
			if opts.json {
				return p.json(userListJSON{OutputVersion: newOutputVersion("coffer user list"), Users: resp.Users})
			}
			var rows [][]string
			for _, u := range resp.Users {
				uid := "-"
				if u.UID >= 0 {
					uid = strconv.Itoa(u.UID)
				}
				rows = append(rows, []string{u.Name, u.Role, uid})
			}
			if len(rows) == 0 && !opts.scripted {
				fmt.Fprintln(a.env.Stderr, "no users")
				return nil
			}
			p.table([]string{"NAME", "ROLE", "UID"}, rows)
			return nil
		}),
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.scripted, "scripted", "H", false, "no header, tab-separated")
	f.BoolVarP(&opts.json, "json", "j", false, "JSON output")
	return cmd
}

func newUserRemoveCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "remove NAME",
		Short:   "Remove a user; its token stops working at once",
		Example: `  coffer user remove alice`,
		Args:    exactArgs(1, "user name"),
		RunE: runE(func(ctx context.Context, args []string) error {
			return a.call(ctx, api.MUserRemove, api.UserNameReq{Name: args[0]}, nil)
		}),
	}
}

func newUserSetRoleCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "set-role NAME ROLE",
		Short: "Change a user's role",
		Example: `  coffer user set-role alice viewer
  coffer user set-role backup operator`,
		Args: exactArgs(2, "user name and role"),
		RunE: runE(func(ctx context.Context, args []string) error {
			if _, err := api.ParseRole(args[1]); err != nil {
				return usagef("cannot set role of '%s': %v", args[0], err)
			}
			return a.call(ctx, api.MUserSetRole, api.UserSetRoleReq{Name: args[0], Role: args[1]}, nil)
		}),
	}
}
