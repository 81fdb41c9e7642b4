package daemon

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"coffer/internal/api"
	"coffer/internal/dsl"
	"coffer/internal/props"
)

var _ api.LockBackend = (*Daemon)(nil)

// Lock unmounts the file systems of an encryption root and unloads its key
// (TrueNAS "Lock"). Busy file systems refuse unless Force, which ends
// their open handles.
func (d *Daemon) Lock(ctx context.Context, c api.Caller, req api.LockReq) error {
	dp, err := d.poolOf(req.Name)
	if err != nil {
		return err
	}
	roots, err := dp.KeyRoots(req.Name, false, false, "")
	if err != nil {
		return apiErr(err)
	}
	if roots[0].KeyStatus != "available" {
		return api.Invalid("cannot lock '%s': already locked", req.Name)
	}
	if err := d.unmountUnder(req.Name, req.Force); err != nil {
		if !req.Force {
			return api.Busy("cannot lock '%s': a file system is busy (use -f to force)", req.Name)
		}
		return err
	}
	_, err = dp.UnloadKey(req.Name, false, false)
	d.log.Info("lock", "dataset", req.Name, "uid", c.UID, "force", req.Force, "ok", err == nil)
	d.auditLog(c, "lock", req.Name, err)
	return apiErr(err)
}

// Unlock loads the key of an encryption root (and with Recursive of the
// roots below it that take the same key) and mounts the file systems.
func (d *Daemon) Unlock(ctx context.Context, c api.Caller, req api.UnlockReq) (api.UnlockResp, error) {
	resp := api.UnlockResp{Unlocked: []string{}}
	// One audit write (and fsync) for the whole call, however many roots.
	var audit []auditRecord
	dp, err := d.poolOf(req.Name)
	defer func() {
		if len(resp.Unlocked) > 0 {
			// Once for the whole tree, not once per root.
			d.rememberKeys(dp, req.Name)
			d.resumeRekeys(dp)
		}
		d.auditWrite(audit...)
	}()
	if err != nil {
		return resp, err
	}
	roots, err := dp.KeyRoots(req.Name, req.Recursive, false, "")
	if err != nil {
		return resp, apiErr(err)
	}
	if len(roots) == 0 || roots[0].Dataset != req.Name {
		return resp, api.Invalid("cannot unlock '%s': not an encryption root", req.Name)
	}
	for i, r := range roots {
		if r.KeyStatus == "available" {
			if i == 0 && !req.Recursive {
				return resp, api.Invalid("cannot unlock '%s': already unlocked", req.Name)
			}
			continue
		}
		var material []byte
		location := ""
		if r.KeyLocation == "prompt" {
			material = req.Key
		}
		if h, ok := req.Manifest[r.Dataset]; ok {
			// A key export: hex of the 32-byte key, for raw and hex roots.
			location = "prompt"
			material = []byte(h)
			if r.KeyFormat == "raw" {
				if material, err = hex.DecodeString(h); err != nil {
					return resp, api.Invalid("cannot unlock '%s': manifest key of '%s' is not hex", req.Name, r.Dataset)
				}
			}
		} else if len(req.Manifest) > 0 {
			if i == 0 {
				return resp, api.Invalid("cannot unlock '%s': the manifest has no key for it", req.Name)
			}
			resp.Skipped = append(resp.Skipped, r.Dataset)
			continue
		}
		err := dp.LoadKey(r.Dataset, false, location, material)
		audit = append(audit, newAuditRecord(c, "unlock", r.Dataset, err))
		switch {
		case err == nil:
			resp.Unlocked = append(resp.Unlocked, r.Dataset)
		case i == 0:
			d.log.Info("unlock", "dataset", req.Name, "uid", c.UID, "ok", false)
			return resp, apiErr(err)
		default:
			// A child root with another key stays locked (TrueNAS unlock -r).
			resp.Skipped = append(resp.Skipped, r.Dataset)
		}
	}
	if req.Force {
		moved, err := d.moveAsideNonEmpty(dp, req.Name)
		resp.Moved = moved
		if err != nil {
			return resp, err
		}
	}
	d.log.Info("unlock", "dataset", req.Name, "uid", c.UID, "unlocked", resp.Unlocked, "skipped", resp.Skipped)
	if err := d.mountAll(req.Name); err != nil {
		return resp, api.Errorf(api.CodeIO, "cannot unlock '%s': keys loaded, but mounting failed: %v", req.Name, firstLine(err))
	}
	return resp, nil
}

// moveAsideNonEmpty renames non-empty, unmounted mount directories below
// name to DIR.coffer-moved-<time> so that the file systems can mount there
// (TrueNAS unlock -f).
func (d *Daemon) moveAsideNonEmpty(dp *dsl.Pool, name string) ([]string, error) {
	rows, err := dp.List(dsl.ListOpts{Names: []string{name}, Recursive: true, Types: props.TypeFilesystem, Props: []string{"mountpoint", "canmount"}})
	if err != nil {
		return nil, apiErr(err)
	}
	var moved []string
	for _, r := range rows {
		mp := r.Props["mountpoint"].Stored
		if d.isMounted(r.Name) || !filepath.IsAbs(mp) || r.Props["canmount"].Stored != "on" {
			continue
		}
		ents, err := os.ReadDir(mp)
		if err != nil || len(ents) == 0 {
			continue
		}
		dst := fmt.Sprintf("%s.coffer-moved-%s", mp, time.Now().UTC().Format("20060102T150405"))
		if err := os.Rename(mp, dst); err != nil {
			return moved, api.Errorf(api.CodeIO, "cannot unlock '%s': cannot move '%s' aside: %v", name, mp, err)
		}
		moved = append(moved, dst)
		d.log.Warn("moved a non-empty mount directory aside", "dataset", r.Name, "from", mp, "to", dst)
	}
	return moved, nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
