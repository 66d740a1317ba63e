package openstackcommon

import (
	"reflect"
	"strings"
	"testing"
)

func joinErrs(errs []error) string {
	var s []string
	for _, e := range errs {
		s = append(s, e.Error())
	}
	return strings.Join(s, "; ")
}

// TestImageConfigAliases: each deprecated name sets its canonical option and is reported;
// the canonical names report nothing; both names of one option are an error naming both.
func TestImageConfigAliases(t *testing.T) {
	old := ImageConfig{DiskFormatAlias: "raw", VisibilityAlias: "shared", MembersAlias: []string{"p1"},
		TagsAlias: []string{"t"}, PropertiesAlias: map[string]string{"os_distro": "debian"}, MinDiskAlias: 3, MinRAMAlias: 512}
	canon := ImageConfig{ImageDiskFormat: "raw", ImageVisibility: "shared", ImageMembers: []string{"p1"},
		ImageTags: []string{"t"}, Metadata: map[string]string{"os_distro": "debian"}, ImageMinDisk: 3, ImageMinRAM: 512}
	if errs := old.Prepare(); errs != nil {
		t.Fatalf("old names: %s", joinErrs(errs))
	}
	if errs := canon.Prepare(); errs != nil {
		t.Fatalf("new names: %s", joinErrs(errs))
	}
	pick := func(c ImageConfig) []any {
		return []any{c.ImageDiskFormat, c.ImageVisibility, c.ImageMembers, c.ImageTags, c.Metadata, c.ImageMinDisk, c.ImageMinRAM}
	}
	if !reflect.DeepEqual(pick(old), pick(canon)) {
		t.Errorf("old names give %v, new names %v", pick(old), pick(canon))
	}
	if d := canon.Deprecated(); len(d) != 0 {
		t.Errorf("new names reported deprecated: %v", d)
	}
	d := strings.Join(old.Deprecated(), "\n")
	for _, pair := range [][2]string{{"disk_format", "image_disk_format"}, {"visibility", "image_visibility"}, {"members", "image_members"},
		{"tags", "image_tags"}, {"properties", "metadata"}, {"min_disk", "image_min_disk"}, {"min_ram", "image_min_ram"}} {
		if !strings.Contains(d, pair[0]+" is deprecated: use "+pair[1]) {
			t.Errorf("no deprecation of %s (for %s) in %q", pair[0], pair[1], d)
		}
	}

	both := ImageConfig{ImageVisibility: "public", VisibilityAlias: "private", Metadata: map[string]string{}, PropertiesAlias: map[string]string{"a": "b"}}
	msg := joinErrs(both.Prepare())
	for _, want := range []string{"image_visibility and visibility", "metadata and properties"} {
		if !strings.Contains(msg, want) {
			t.Errorf("both names set: error %q lacks %q", msg, want)
		}
	}
	if both.ImageVisibility != "public" {
		t.Errorf("the alias overrode the canonical name: %q", both.ImageVisibility)
	}
}

func TestImageConfigValidation(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  ImageConfig
		want string // "" = valid
	}{
		{"defaults", ImageConfig{}, ""},
		{"bad disk format", ImageConfig{ImageDiskFormat: "iso"}, `image_disk_format "iso"`},
		{"bad disk format by alias", ImageConfig{DiskFormatAlias: "iso"}, `image_disk_format "iso"`},
		{"bad visibility", ImageConfig{ImageVisibility: "everyone"}, `image_visibility "everyone"`},
		{"members need shared", ImageConfig{ImageMembers: []string{"p"}}, `image_members needs image_visibility = "shared"`},
		{"empty member", ImageConfig{ImageVisibility: "shared", ImageMembers: []string{""}}, "image_members[0] is empty"},
		{"member twice", ImageConfig{ImageVisibility: "shared", ImageMembers: []string{"a", "a"}}, `image_members lists "a" twice`},
		{"member with two slashes", ImageConfig{ImageVisibility: "shared", ImageMembers: []string{"a/b/c"}}, `image_members[0] "a/b/c"`},
		{"domain/name member", ImageConfig{ImageVisibility: "shared", ImageMembers: []string{"Default/web"}}, ""},
		{"empty tag", ImageConfig{ImageTags: []string{""}}, "image_tags[0] is empty"},
		{"empty metadata key", ImageConfig{Metadata: map[string]string{"": "x"}}, `metadata key ""`},
		{"negative min_disk", ImageConfig{ImageMinDisk: -1}, "image_min_disk must not be negative"},
		{"negative min_ram by alias", ImageConfig{MinRAMAlias: -1}, "image_min_ram must not be negative"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			msg := joinErrs(cfg.Prepare())
			switch {
			case c.want == "" && msg != "":
				t.Fatalf("unexpected error: %s", msg)
			case c.want != "" && !strings.Contains(msg, c.want):
				t.Fatalf("error %q, want one containing %q", msg, c.want)
			case c.want == "" && cfg.ImageVisibility == "":
				t.Fatal("image_visibility not defaulted")
			}
		})
	}
}

func TestImageConfigMinimums(t *testing.T) {
	const gib = 1 << 30
	for _, c := range []struct {
		name        string
		set, source int
		size        int64
		want        int
		wantErr     string
	}{
		{"none", 0, 0, 5 * gib, 0, ""},
		{"source kept", 0, 10, 5 * gib, 10, ""},
		{"source raised to the virtual size", 0, 2, 5*gib + 1, 6, ""},
		{"set wins", 20, 10, 5 * gib, 20, ""},
		{"set below the virtual size", 4, 0, 5 * gib, 0, "image_min_disk = 4 is below the new image's virtual size"},
		{"unknown size", 3, 0, 0, 3, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := ImageConfig{ImageMinDisk: c.set}
			got, err := cfg.MinDisk(c.source, c.size)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("MinDisk = %d, %v; want error %q", got, err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("MinDisk = %d, %v; want %d", got, err, c.want)
			}
		})
	}
	if got := (&ImageConfig{}).MinRAM(256); got != 256 {
		t.Errorf("MinRAM kept %d, want the source's 256", got)
	}
	if got := (&ImageConfig{ImageMinRAM: 1024}).MinRAM(256); got != 1024 {
		t.Errorf("MinRAM = %d, want the set 1024", got)
	}
}
