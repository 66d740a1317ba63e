package ova

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"strings"
)

// OSRelease is what the descriptor needs from a guest's /etc/os-release.
type OSRelease struct {
	ID        string   // "debian", "ubuntu", "rhel"...
	IDLike    []string // ID_LIKE, most similar first
	VersionID string   // "12", "22.04"
	Name      string   // PRETTY_NAME (or NAME): the OperatingSystemSection description
}

// ParseOSRelease parses os-release(5) content: KEY=value lines, values optionally quoted.
func ParseOSRelease(r io.Reader) (OSRelease, error) {
	var o OSRelease
	var name string
	sc := bufio.NewScanner(io.LimitReader(r, 64<<10))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil && (strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "`")) {
			v = uq
		} else {
			v = strings.Trim(v, `"'`)
		}
		switch k {
		case "ID":
			o.ID = strings.ToLower(v)
		case "ID_LIKE":
			o.IDLike = strings.Fields(strings.ToLower(v))
		case "VERSION_ID":
			o.VersionID = v
		case "PRETTY_NAME":
			o.Name = v
		case "NAME":
			name = v
		}
	}
	if o.Name == "" {
		o.Name = name
	}
	return o, sc.Err()
}

// ReadOSRelease reads an os-release file (e.g. <root>/etc/os-release).
func ReadOSRelease(path string) (OSRelease, error) {
	f, err := os.Open(path)
	if err != nil {
		return OSRelease{}, err
	}
	defer f.Close()
	return ParseOSRelease(f)
}

// guestOS is how one guest is named by CIM (OVF OperatingSystemSection ovf:id),
// VirtualBox (vbox:OSType) and VMware (vmw:osType). All 64-bit x86.
type guestOS struct {
	CIM         int
	VBox        string
	VMware      string
	Description string
}

// guestTypes maps an os-release ID to its names. VMware ids are ones ESXi 6.5+ knows.
var guestTypes = map[string]func(major int) guestOS{
	"debian": func(v int) guestOS {
		vm := "debian10_64Guest"
		if v > 0 && v < 10 {
			vm = "debian" + strconv.Itoa(max(v, 6)) + "_64Guest"
		}
		return guestOS{96, "Debian_64", vm, "Debian"}
	},
	"ubuntu": func(int) guestOS { return guestOS{94, "Ubuntu_64", "ubuntu64Guest", "Ubuntu"} },
	"rhel": func(v int) guestOS {
		return guestOS{80, "RedHat_64", "rhel" + strconv.Itoa(min(max(v, 6), 8)) + "_64Guest", "Red Hat Enterprise Linux"}
	},
	"centos": func(v int) guestOS {
		return guestOS{107, "RedHat_64", "centos" + strconv.Itoa(min(max(v, 6), 8)) + "_64Guest", "CentOS"}
	},
	"fedora": func(int) guestOS { return guestOS{101, "Fedora_64", "fedora64Guest", "Fedora"} },
	"ol":     func(int) guestOS { return guestOS{109, "Oracle_64", "oracleLinux64Guest", "Oracle Linux"} },
	"sles":   func(int) guestOS { return guestOS{85, "OpenSUSE_64", "sles12_64Guest", "SUSE Linux Enterprise"} },
	"opensuse": func(int) guestOS {
		return guestOS{85, "OpenSUSE_64", "opensuse64Guest", "openSUSE"}
	},
	"arch": func(int) guestOS { return guestOS{101, "ArchLinux_64", "other3xLinux64Guest", "Arch Linux"} },
}

func init() {
	// Rebuilds and derivatives that os-release names differently.
	for _, id := range []string{"rocky", "almalinux"} {
		guestTypes[id] = guestTypes["centos"]
	}
	guestTypes["opensuse-leap"] = guestTypes["opensuse"]
	guestTypes["opensuse-tumbleweed"] = guestTypes["opensuse"]
}

// genericLinux is used when the guest is unknown.
var genericLinux = guestOS{101, "Linux26_64", "other3xLinux64Guest", "Linux 64-bit"}

// lookupGuest maps os-release content to the descriptor's OS names: by ID, then by each
// ID_LIKE entry, else generic 64-bit Linux. The description is PRETTY_NAME when known.
func lookupGuest(o OSRelease) guestOS {
	major, _ := strconv.Atoi(strings.SplitN(o.VersionID, ".", 2)[0])
	g := genericLinux
	found := false
	for _, id := range append([]string{o.ID}, o.IDLike...) {
		if f, ok := guestTypes[id]; ok {
			if id != o.ID {
				major = 0 // a derivative's version number is not its parent's
			}
			g, found = f(major), true
			break
		}
	}
	if !found && o.ID == "" {
		return g
	}
	if o.Name != "" {
		g.Description = o.Name
	}
	return g
}
