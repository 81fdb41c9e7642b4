package props

import (
	"strings"
	"testing"
)

func TestLookupAliases(t *testing.T) {
	t.Parallel()
	for alias, want := range map[string]string{
		"avail": "available", "refer": "referenced", "compress": "compression",
		"recsize": "recordsize", "ratio": "compressratio", "volblock": "volblocksize",
		"rdonly": "readonly", "reserv": "reservation", "lused": "logicalused",
		"lrefer": "logicalreferenced", "usedsnap": "usedbysnapshots", "usedds": "usedbydataset",
		"usedchild": "usedbychildren", "encroot": "encryptionroot", "resumetok": "receive_resume_token",
		"used": "used", "name": "name", "keystatus": "keystatus", "pbkdf2kdf": "pbkdf2kdf",
	} {
		d, ok := Lookup(alias)
		if !ok || d.Name != want {
			t.Errorf("Lookup(%q) = %v, %v; want %q", alias, d, ok, want)
		}
	}
	for _, bad := range []string{"", "foo", "USED", "Used", "avail ", "snapshot_count", "com.foo", "Com.foo:bar"} {
		if d, ok := Lookup(bad); ok {
			t.Errorf("Lookup(%q) = %v, want not found", bad, d.Name)
		}
	}
	d, ok := Lookup("com.example:backup-policy")
	if !ok || !d.Inherit || d.ReadOnly || d.Kind != KindString || d.Types != TypeAll || d.Column != "COM.EXAMPLE:BACKUP-POLICY" {
		t.Errorf("user prop def = %+v, %v", d, ok)
	}
}

func TestAllTable(t *testing.T) {
	t.Parallel()
	all := All()
	var names []string
	seen := map[string]bool{}
	for _, d := range all {
		names = append(names, d.Name)
		if seen[d.Name] {
			t.Errorf("duplicate %q", d.Name)
		}
		seen[d.Name] = true
		if d.Column == "" || d.Column != strings.ToUpper(d.Column) {
			t.Errorf("%s: column %q", d.Name, d.Column)
		}
		if d.Types == 0 {
			t.Errorf("%s: no types", d.Name)
		}
		if (d.Kind == KindIndex || d.Kind == KindBool) && len(d.Values) == 0 {
			t.Errorf("%s: enum without values", d.Name)
		}
		if d.ReadOnly && (d.Inherit || d.CreateOnly) {
			t.Errorf("%s: readonly and settable", d.Name)
		}
		if (d.Kind == KindNumber) != (d.Unit != UnitNone) {
			t.Errorf("%s: kind %v unit %v", d.Name, d.Kind, d.Unit)
		}
		// Settable defaults are canonical.
		if !d.ReadOnly && d.Default != "" && d.Name != "pbkdf2iters" {
			got, err := Validate(d.Name, d.Default, d.Types)
			if err != nil || got != d.Default {
				t.Errorf("%s: default %q validates to %q, %v", d.Name, d.Default, got, err)
			}
		}
	}
	if got := strings.Join(names[:7], ","); got != "type,creation,used,available,referenced,compressratio,mounted" {
		t.Errorf("All() starts %s", got)
	}
	if seen["name"] {
		t.Error("All() lists name")
	}
	// All returns a copy.
	all[0] = nil
	if All()[0] == nil {
		t.Error("All() shares its slice")
	}
	for _, want := range []string{"type", "creation", "used", "available", "referenced", "written", "compression",
		"compressratio", "recordsize", "volsize", "volblocksize", "mountpoint", "mounted", "canmount", "readonly",
		"atime", "checksum", "guid", "createtxg", "origin", "receive_resume_token", "encryption", "keyformat",
		"keylocation", "pbkdf2iters", "pbkdf2kdf", "keystatus", "encryptionroot", "usedbysnapshots",
		"usedbydataset", "usedbychildren", "logicalused", "logicalreferenced", "objsetid", "quota", "reservation"} {
		if !seen[want] {
			t.Errorf("missing %s", want)
		}
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	check := func(flag string, get func(*Def) bool, names ...string) {
		for _, n := range names {
			if d, ok := Lookup(n); !ok || !get(d) {
				t.Errorf("%s should be %s", n, flag)
			}
		}
	}
	ro := func(d *Def) bool { return d.ReadOnly }
	inh := func(d *Def) bool { return d.Inherit }
	once := func(d *Def) bool { return d.CreateOnly }
	check("readonly", ro, "type", "creation", "used", "available", "referenced", "written", "compressratio",
		"mounted", "guid", "createtxg", "origin", "receive_resume_token", "keystatus", "encryptionroot",
		"usedbysnapshots", "usedbydataset", "usedbychildren", "logicalused", "logicalreferenced", "objsetid")
	check("inheritable", inh, "compression", "recordsize", "mountpoint", "readonly", "atime", "checksum", "org.x:y")
	check("create-only", once, "encryption", "keyformat", "pbkdf2iters", "pbkdf2kdf", "volblocksize")
	for _, n := range []string{"keylocation", "canmount", "quota", "reservation", "volsize", "encryption"} {
		if d, _ := Lookup(n); d.Inherit {
			t.Errorf("%s should not inherit", n)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	const fs, vol, snap = TypeFilesystem, TypeVolume, TypeSnapshot
	for _, tc := range []struct {
		name, value string
		t           Type
		want, err   string
	}{
		{"recordsize", "128K", fs, "131072", ""},
		{"recsize", "1M", fs, "1048576", ""},
		{"recordsize", "512", fs, "512", ""},
		{"recordsize", "16M", fs, "16777216", ""},
		{"recordsize", "256", fs, "", "'recordsize' must be a power of 2 from 512B to 16M"},
		{"recordsize", "32M", fs, "", "'recordsize' must be a power of 2 from 512B to 16M"},
		{"recordsize", "100K", fs, "", "'recordsize' must be a power of 2 from 512B to 16M"},
		{"recordsize", "0", fs, "", "'recordsize' must be a power of 2 from 512B to 16M"},
		{"recordsize", "big", fs, "", "bad numeric value 'big'"},
		{"recordsize", "1Q", fs, "", "invalid numeric suffix 'Q'"},
		{"recordsize", "128K", vol, "", "'recordsize' does not apply to datasets of this type"},
		{"volblocksize", "8K", vol, "8192", ""},
		{"volblock", "128K", vol, "131072", ""},
		{"volblocksize", "256K", vol, "", "'volblocksize' must be a power of 2 from 512B to 128K"},
		{"volblocksize", "8K", fs, "", "'volblocksize' does not apply to datasets of this type"},
		{"volsize", "1G", vol, "1073741824", ""},
		{"volsize", "1.5G", vol, "1610612736", ""},
		{"volsize", "0", vol, "", "volume size cannot be zero"},
		{"compression", "lz4", fs, "lz4", ""},
		{"compress", "zstd", vol, "zstd", ""},
		{"compression", "on", 0, "on", ""},
		{"compression", "gzip", fs, "", "'compression' must be one of 'on | off | lz4 | zstd'"},
		{"compression", "LZ4", fs, "", "'compression' must be one of 'on | off | lz4 | zstd'"},
		{"readonly", "on", fs, "on", ""},
		{"readonly", "off", vol, "off", ""},
		{"readonly", "yes", fs, "", "'readonly' must be one of 'on | off'"},
		{"rdonly", "true", fs, "", "'readonly' must be one of 'on | off'"},
		{"atime", "off", fs, "off", ""},
		{"atime", "off", vol, "", "'atime' does not apply to datasets of this type"},
		{"checksum", "on", fs, "on", ""},
		{"checksum", "sha256", fs, "", "'checksum' must be one of 'on | off'"},
		{"canmount", "noauto", fs, "noauto", ""},
		{"canmount", "maybe", fs, "", "'canmount' must be one of 'on | off | noauto'"},
		{"mountpoint", "/mnt/data/", fs, "/mnt/data", ""},
		{"mountpoint", "/mnt//a/../b", fs, "/mnt/b", ""},
		{"mountpoint", "/", fs, "/", ""},
		{"mountpoint", "none", fs, "none", ""},
		{"mountpoint", "legacy", fs, "legacy", ""},
		{"mountpoint", "mnt", fs, "", "'mountpoint' must be an absolute path, 'none', or 'legacy'"},
		{"mountpoint", "", fs, "", "'mountpoint' must be an absolute path, 'none', or 'legacy'"},
		{"quota", "none", fs, "0", ""},
		{"quota", "10G", fs, "10737418240", ""},
		{"quota", "-1", fs, "", "bad numeric value '-1'"},
		{"reservation", "none", vol, "0", ""},
		{"encryption", "on", fs, "aes-256-gcm", ""},
		{"encryption", "off", fs, "off", ""},
		{"encryption", "aes-128-ccm", vol, "aes-128-ccm", ""},
		{"encryption", "aes-192-gcm", fs, "aes-192-gcm", ""},
		{"encryption", "aes-512-gcm", fs, "", "'encryption' must be one of 'off | on | aes-128-ccm | aes-192-ccm | aes-256-ccm | aes-128-gcm | aes-192-gcm | aes-256-gcm'"},
		{"keyformat", "passphrase", fs, "passphrase", ""},
		{"keyformat", "raw", vol, "raw", ""},
		{"keyformat", "pem", fs, "", "'keyformat' must be one of 'none | raw | hex | passphrase'"},
		{"keylocation", "prompt", fs, "prompt", ""},
		{"keylocation", "none", fs, "none", ""},
		{"keylocation", "file:///etc/key", fs, "file:///etc/key", ""},
		{"keylocation", "https://kms.example/k", fs, "https://kms.example/k", ""},
		{"keylocation", "http://127.0.0.1:8080/k", fs, "http://127.0.0.1:8080/k", ""},
		{"keylocation", "http://kms.example/k", fs, "", "invalid keylocation 'http://kms.example/k'"},
		{"keylocation", "file://etc/key", fs, "", "invalid keylocation 'file://etc/key'"},
		{"keylocation", "/etc/key", fs, "", "invalid keylocation '/etc/key'"},
		{"keylocation", "prompt", snap, "", "'keylocation' does not apply to datasets of this type"},
		{"pbkdf2iters", "350000", fs, "350000", ""},
		{"pbkdf2iters", "100000", fs, "100000", ""},
		{"pbkdf2iters", "1M", fs, "1048576", ""},
		{"pbkdf2iters", "99999", fs, "", "'pbkdf2iters' must be at least 100000"},
		{"pbkdf2iters", "0", fs, "", "'pbkdf2iters' must be at least 100000"},
		{"pbkdf2iters", "lots", fs, "", "bad numeric value 'lots'"},
		{"pbkdf2kdf", "argon2id", fs, "argon2id", ""},
		{"pbkdf2kdf", "scrypt", fs, "", "'pbkdf2kdf' must be one of 'pbkdf2 | argon2id'"},
		{"used", "1G", fs, "", "'used' is readonly"},
		{"avail", "1G", fs, "", "'available' is readonly"},
		{"keystatus", "available", fs, "", "'keystatus' is readonly"},
		{"encryptionroot", "tank", fs, "", "'encryptionroot' is readonly"},
		{"name", "x", fs, "", "invalid property 'name'"},
		{"foo", "bar", fs, "", "invalid property 'foo'"},
		{"Com.foo:bar", "x", fs, "", "invalid property 'Com.foo:bar'"},
		{"com.foo:bar", "anything at all", snap, "anything at all", ""},
		{"com.foo:bar", "", fs, "", ""},
		{"com.foo:bar", strings.Repeat("v", 8191), fs, strings.Repeat("v", 8191), ""},
		{"com.foo:bar", strings.Repeat("v", 8192), fs, "", "property value is too long"},
	} {
		got, err := Validate(tc.name, tc.value, tc.t)
		if errText(err) != tc.err || got != tc.want {
			t.Errorf("Validate(%q, %.20q, %v) = %.20q, %q; want %.20q, %q", tc.name, tc.value, tc.t, got, errText(err), tc.want, tc.err)
		}
		// Canonical forms are fixed points.
		if err == nil && tc.name != "compression" {
			if again, err := Validate(tc.name, got, tc.t); err != nil || again != got {
				t.Errorf("Validate(%q, %q) not idempotent: %q, %v", tc.name, got, again, err)
			}
		}
	}
}

func TestValidateSet(t *testing.T) {
	t.Parallel()
	for _, n := range []string{"encryption", "keyformat", "pbkdf2iters", "pbkdf2kdf", "volblocksize", "volblock"} {
		d, _ := Lookup(n)
		if _, err := ValidateSet(n, d.Default, TypeAll); errText(err) != "'"+d.Name+"' is readonly" {
			t.Errorf("ValidateSet(%q) = %v", n, err)
		}
	}
	if v, err := ValidateSet("compression", "zstd", TypeFilesystem); err != nil || v != "zstd" {
		t.Errorf("ValidateSet(compression) = %q, %v", v, err)
	}
	if v, err := ValidateSet("keylocation", "file:///k", TypeFilesystem); err != nil || v != "file:///k" {
		t.Errorf("ValidateSet(keylocation) = %q, %v", v, err)
	}
}

func TestIsUserProp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"com.example:foo", true},
		{"a:b", true},
		{":", true},
		{"org.x-y_z:a.b:c", true},
		{"x:" + strings.Repeat("a", 254), true},
		{"x:" + strings.Repeat("a", 255), false},
		{"", false},
		{"foo", false},
		{"Com.example:foo", false},
		{"com.example:Foo", false},
		{"com example:foo", false},
		{"com/example:foo", false},
		{"com@x:foo", false},
	} {
		if got := IsUserProp(tc.in); got != tc.want {
			t.Errorf("IsUserProp(%q) = %v", tc.in, got)
		}
	}
}

func TestDisplay(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, stored   string
		human, exactly string
	}{
		{"used", "1536", "1.50K", "1536"},
		{"used", "0", "0B", "0"},
		{"referenced", "131072", "128K", "131072"},
		{"quota", "0", "none", "0"},
		{"quota", "1073741824", "1G", "1073741824"},
		{"compressratio", "1.5", "1.50x", "1.50"},
		{"compressratio", "2.379", "2.37x", "2.37"},
		{"guid", "12345678901234567890", "12345678901234567890", "12345678901234567890"},
		{"pbkdf2iters", "350000", "350000", "350000"},
		{"creation", "1795341840", FormatTime(1795341840), "1795341840"},
		{"origin", "", "-", "-"},
		{"mountpoint", "/tank", "/tank", "/tank"},
		{"compression", "lz4", "lz4", "lz4"},
		{"keystatus", "none", "-", "-"},
		{"keystatus", "unavailable", "unavailable", "unavailable"},
		{"used", "garbage", "garbage", "garbage"},
	} {
		d, _ := Lookup(tc.name)
		if got := d.Display(tc.stored, false); got != tc.human {
			t.Errorf("%s.Display(%q) = %q, want %q", tc.name, tc.stored, got, tc.human)
		}
		if got := d.Display(tc.stored, true); got != tc.exactly {
			t.Errorf("%s.Display(%q, exact) = %q, want %q", tc.name, tc.stored, got, tc.exactly)
		}
	}
}

func TestMountpoints(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src, srcValue, ds, want string
	}{
		{"tank", "/tank", "tank/a/b", "/tank/a/b"},
		{"tank/a", "/srv/data", "tank/a/b/c", "/srv/data/b/c"},
		{"tank/a", "/srv/data", "tank/a", "/srv/data"},
		{"tank", "/", "tank/a", "/a"},
		{"tank", "none", "tank/a", "none"},
		{"tank", "legacy", "tank/a", "legacy"},
		{"tank", "", "tank/a", "/tank/a"},
	} {
		if got := InheritMountpoint(tc.src, tc.srcValue, tc.ds); got != tc.want {
			t.Errorf("InheritMountpoint(%q, %q, %q) = %q, want %q", tc.src, tc.srcValue, tc.ds, got, tc.want)
		}
	}
	if got := DefaultMountpoint("tank/a"); got != "/tank/a" {
		t.Errorf("DefaultMountpoint = %q", got)
	}
}

func TestTypeString(t *testing.T) {
	t.Parallel()
	if TypeFilesystem.String() != "filesystem" || TypeVolume.String() != "volume" || TypeSnapshot.String() != "snapshot" ||
		TypeDataset.String() != "filesystem,volume" || TypeAll != 7 {
		t.Error("Type strings")
	}
}

func TestKeyProviderLocations(t *testing.T) {
	for _, tc := range []struct {
		loc, prov string
		ok        bool
	}{
		{"tpm2:", "tpm2", true},
		{"tpm2:?pcrs=7", "tpm2", true},
		{"tpm2:?pcrs=0,7,11", "tpm2", true},
		{"tpm2:?pcrs=24", "tpm2", false},
		{"tpm2:?pcrs=", "tpm2", false},
		{"tpm2:?pin=1", "tpm2", false},
		{"tpm2:7", "tpm2", false},
		{"kmip://kms:5696?ca=/a&cert=/b&key=/c", "kmip", true},
		{"kmip://kms:5696?ca=/a&cert=/b&key=/c&name=L", "kmip", true},
		{"kmip://kms?ca=/a&cert=/b&key=/c", "kmip", false},
		{"kmip://kms:5696?ca=a&cert=/b&key=/c", "kmip", false},
		{"kmip://u:p@kms:5696?ca=/a&cert=/b&key=/c", "kmip", false},
		{"kmip://kms:5696?cred=site-a", "kmip", true},
		{"kmip://kms:5696?cred=site_a.1&name=L", "kmip", true},
		{"kmip://kms:5696?cred=", "kmip", false},
		{"kmip://kms:5696?cred=-a", "kmip", false},
		{"kmip://kms:5696?cred=a/b", "kmip", false},
		{"kmip://kms:5696?cred=" + strings.Repeat("a", 65), "kmip", false},
		{"kmip://kms:5696?cred=a&cred=b", "kmip", false},
		{"kmip://kms:5696?cred=a&ca=/a", "kmip", false},
		{"kmip://kms:5696?cred=a&ca=/a&cert=/b&key=/c", "kmip", false},
		{"kmip://kms?cred=a", "kmip", false},
		{"kmip://kms:5696?ca=/a&cert=/b", "kmip", false},
		{"pkcs11:token=t;object=o?module-path=/m.so&pin-source=file:///p", "pkcs11", true},
		{"pkcs11:token=t;object=o?module-path=/m.so&pin-value=1234", "pkcs11", false},
		{"pkcs11:", "pkcs11", false},
		{"prompt", "", true},
		{"tpm2", "", false},
	} {
		if p := KeyProvider(tc.loc); p != tc.prov {
			t.Errorf("KeyProvider(%q) = %q", tc.loc, p)
		}
		err := ValidKeyLocation(tc.loc)
		if (err == nil) != tc.ok {
			t.Errorf("ValidKeyLocation(%q) = %v", tc.loc, err)
		}
		if tc.prov != "" && ValidFetchLocation(tc.loc) == nil {
			t.Errorf("ValidFetchLocation accepts provider %q", tc.loc)
		}
	}
}

func TestKMIPCredential(t *testing.T) {
	for loc, want := range map[string]string{
		"kmip://kms:5696?cred=site-a&name=L":   "site-a",
		"kmip://kms:5696?ca=/a&cert=/b&key=/c": "",
		"tpm2:?cred=x":                         "",
		"prompt":                               "",
	} {
		if got := KMIPCredential(loc); got != want {
			t.Errorf("KMIPCredential(%q) = %q, want %q", loc, got, want)
		}
	}
}
