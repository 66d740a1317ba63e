package guestfs

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Distro families reported in OSInfo.Family.
const (
	FamilyDebian  = "debian"  // Debian, Ubuntu, Mint, Devuan...
	FamilyRHEL    = "rhel"    // RHEL, CentOS, Rocky, Alma, Oracle, Fedora, Amazon Linux...
	FamilySUSE    = "suse"    // SLES, openSUSE
	FamilyArch    = "arch"    // Arch, Manjaro
	FamilyAlpine  = "alpine"  // Alpine
	FamilyGentoo  = "gentoo"  // Gentoo
	FamilyUnknown = "unknown" // a Linux tree of an unknown distribution
)

// OSInfo is what Inspect learns about the guest in a tree. Every field is read from guest
// files through the Root; no guest binary is run.
type OSInfo struct {
	// Linux is false when the tree does not look like a Linux root filesystem at all (no
	// /etc, or neither a release file nor /etc/passwd).
	Linux bool `json:"linux"`
	// Family groups distributions that share tools and file layout (Family* constants).
	Family string `json:"family"`
	// ID is the os-release ID (debian, ubuntu, centos, rhel, rocky, fedora, sles, ...), or
	// the equivalent guessed from an older release file.
	ID     string   `json:"id"`
	IDLike []string `json:"id_like,omitempty"`
	// Name and PrettyName come from os-release (or the older release file's text).
	Name       string `json:"name,omitempty"`
	PrettyName string `json:"pretty_name,omitempty"`
	// Version is VERSION_ID ("12", "8.9", "22.04"); Major and Minor are its numeric parts
	// (0 when unknown).
	Version  string `json:"version,omitempty"`
	Major    int    `json:"major"`
	Minor    int    `json:"minor"`
	Codename string `json:"codename,omitempty"`
	// ReleaseFile is the guest file the identity was read from.
	ReleaseFile string `json:"release_file,omitempty"`

	// Accounts holds the UID/GID ranges of ordinary (non-system) users and groups.
	Accounts AccountRanges `json:"accounts"`

	// Kernels are the kernels installed in /boot, newest version first.
	Kernels []Kernel `json:"kernels,omitempty"`
	// InitramfsTool is "update-initramfs", "dracut", "mkinitrd" or "" (none found).
	InitramfsTool string `json:"initramfs_tool,omitempty"`
	// InitSystem is "systemd", "upstart", "openrc", "sysvinit" or "".
	InitSystem string `json:"init_system,omitempty"`
	// Bootloader is "grub2", "grub-legacy", "extlinux", "systemd-boot" or "", and
	// BootloaderConfig the guest path of its configuration file.
	Bootloader       string `json:"bootloader,omitempty"`
	BootloaderConfig string `json:"bootloader_config,omitempty"`
	// PackageManager is "apt", "dnf", "yum", "zypper", "pacman", "apk" or "".
	PackageManager string `json:"package_manager,omitempty"`
	// SELinux is true when /etc/selinux/config enables SELinux (enforcing or permissive).
	SELinux bool `json:"selinux"`
	// CloudInit is true when cloud-init is installed (its configuration or program exists).
	CloudInit bool `json:"cloud_init"`
	// Xen lists evidence that the guest was set up for Xen (empty when none).
	Xen []string `json:"xen,omitempty"`
}

// AccountRanges are the UID and GID ranges of ordinary accounts (login.defs UID_MIN..UID_MAX,
// GID_MIN..GID_MAX). Source is the guest file they came from, or "default" when login.defs is
// missing or silent (then the family's usual values are used).
type AccountRanges struct {
	UIDMin int    `json:"uid_min"`
	UIDMax int    `json:"uid_max"`
	GIDMin int    `json:"gid_min"`
	GIDMax int    `json:"gid_max"`
	Source string `json:"source"`
}

// Kernel is one installed kernel.
type Kernel struct {
	Version string `json:"version"`
	// Image and Initramfs are guest paths ("" when no initramfs was found for it).
	Image     string `json:"image"`
	Initramfs string `json:"initramfs,omitempty"`
	// Modules is true when /lib/modules/<version> exists.
	Modules bool `json:"modules"`
	// Xen is true for a Xen-only (paravirtual dom-U) kernel flavour such as 2.6.18-*xen.
	Xen bool `json:"xen"`
	// Virtio is true when virtio_blk is built in or present as a module for this kernel.
	Virtio bool `json:"virtio"`
}

// IsRHEL reports whether the guest belongs to the Red Hat family (RHEL, CentOS, Fedora...).
func (o *OSInfo) IsRHEL() bool { return o != nil && o.Family == FamilyRHEL }

// IsDebian reports whether the guest belongs to the Debian family (Debian, Ubuntu...).
func (o *OSInfo) IsDebian() bool { return o != nil && o.Family == FamilyDebian }

// RPMBased reports whether the guest uses rpm (Red Hat and SUSE families).
func (o *OSInfo) RPMBased() bool {
	return o != nil && (o.Family == FamilyRHEL || o.Family == FamilySUSE)
}

// maxInspectRead bounds what Inspect reads of any one guest file (a hostile tree may hold a
// huge sparse /etc/os-release).
const maxInspectRead = 1 << 20

// readSmall reads at most maxInspectRead bytes of regular file p (following symlinks in-root).
func (r *Root) readSmall(p string) ([]byte, error) {
	f, err := r.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: p, Err: errors.New("is a directory")}
	}
	var buf bytes.Buffer
	_, err = buf.ReadFrom(io.LimitReader(f, maxInspectRead))
	return buf.Bytes(), err
}

func (r *Root) exists(p string) bool {
	_, err := r.Stat(p)
	return err == nil
}

func (r *Root) isFile(p string) bool {
	fi, err := r.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func (r *Root) isDir(p string) bool {
	fi, err := r.Stat(p)
	return err == nil && fi.IsDir()
}

// Inspect examines the guest tree and returns what it found. Unreadable or hostile files are
// ignored (the corresponding fields stay empty); only ErrUnsupported and a closed Root are
// returned as errors.
func Inspect(r *Root) (*OSInfo, error) {
	if _, err := r.Lstat("/"); err != nil {
		return nil, err
	}
	o := &OSInfo{Family: FamilyUnknown}
	r.inspectRelease(o)
	hasPasswd := r.isFile("/etc/passwd")
	o.Linux = r.isDir("/etc") && (o.ReleaseFile != "" || hasPasswd)
	if o.Family == FamilyUnknown {
		o.Family = familyOf(o.ID, o.IDLike)
	}
	o.Accounts = r.inspectAccounts(o.Family, o.ID, o.Major)
	o.Kernels = r.inspectKernels()
	o.InitramfsTool = r.inspectInitramfsTool(o.Family)
	o.InitSystem = r.inspectInit()
	o.Bootloader, o.BootloaderConfig = r.inspectBootloader()
	o.PackageManager = r.inspectPackageManager(o.Family)
	o.SELinux = r.inspectSELinux()
	o.CloudInit = r.exists("/etc/cloud/cloud.cfg") || r.exists("/usr/bin/cloud-init")
	o.Xen = r.inspectXen(o.Kernels)
	return o, nil
}

// ParseOSRelease parses os-release(5) text into a map (quotes and escapes removed).
func ParseOSRelease(data []byte) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), maxInspectRead)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			q := v[0]
			v = v[1 : len(v)-1]
			if q == '"' {
				var b strings.Builder
				for i := 0; i < len(v); i++ {
					if v[i] == '\\' && i+1 < len(v) {
						i++
					}
					b.WriteByte(v[i])
				}
				v = b.String()
			}
		}
		m[k] = v
	}
	return m
}

func (r *Root) inspectRelease(o *OSInfo) {
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		b, err := r.readSmall(p)
		if err != nil {
			continue
		}
		m := ParseOSRelease(b)
		if m["ID"] == "" && m["NAME"] == "" {
			continue
		}
		o.ReleaseFile = p
		o.ID = strings.ToLower(m["ID"])
		o.IDLike = strings.Fields(strings.ToLower(m["ID_LIKE"]))
		o.Name, o.PrettyName = m["NAME"], m["PRETTY_NAME"]
		o.Version = m["VERSION_ID"]
		o.Codename = m["VERSION_CODENAME"]
		if o.Codename == "" {
			o.Codename = m["UBUNTU_CODENAME"]
		}
		if o.ID == "debian" && o.Version == "" {
			// Debian testing/sid: os-release has no VERSION_ID; debian_version may say more.
			if b, err := r.readSmall("/etc/debian_version"); err == nil {
				o.Version = debianVersion(b)
			}
		}
		o.Major, o.Minor = splitVersion(o.Version)
		return
	}
	// Older release files, most specific first (Ubuntu also has debian_version).
	if b, err := r.readSmall("/etc/lsb-release"); err == nil {
		m := ParseOSRelease(b)
		if id := strings.ToLower(m["DISTRIB_ID"]); id != "" {
			o.ReleaseFile = "/etc/lsb-release"
			o.ID = id
			o.Name = m["DISTRIB_ID"]
			o.PrettyName = m["DISTRIB_DESCRIPTION"]
			o.Version = m["DISTRIB_RELEASE"]
			o.Codename = m["DISTRIB_CODENAME"]
			o.Major, o.Minor = splitVersion(o.Version)
			return
		}
	}
	for _, p := range []string{"/etc/centos-release", "/etc/redhat-release", "/etc/fedora-release", "/etc/system-release"} {
		b, err := r.readSmall(p)
		if err != nil {
			continue
		}
		text := firstLine(b)
		if text == "" {
			continue
		}
		o.ReleaseFile = p
		o.ID = redhatID(text)
		o.Family = FamilyRHEL
		o.Name, o.PrettyName = text, text
		o.Version = releaseNumber(text)
		o.Major, o.Minor = splitVersion(o.Version)
		return
	}
	if b, err := r.readSmall("/etc/SuSE-release"); err == nil && firstLine(b) != "" {
		o.ReleaseFile = "/etc/SuSE-release"
		o.Family = FamilySUSE
		text := firstLine(b)
		o.Name, o.PrettyName = text, text
		o.ID = "sles"
		if strings.Contains(strings.ToLower(text), "opensuse") {
			o.ID = "opensuse"
		}
		m := ParseOSRelease(b)
		o.Version = strings.TrimSpace(m["VERSION"])
		if pl := strings.TrimSpace(m["PATCHLEVEL"]); pl != "" && !strings.Contains(o.Version, ".") {
			o.Version += "." + pl
		}
		if o.Version == "" {
			o.Version = releaseNumber(text)
		}
		o.Major, o.Minor = splitVersion(o.Version)
		return
	}
	if b, err := r.readSmall("/etc/debian_version"); err == nil && firstLine(b) != "" {
		o.ReleaseFile = "/etc/debian_version"
		o.ID = "debian"
		o.Family = FamilyDebian
		o.Name = "Debian GNU/Linux"
		o.Version = debianVersion(b)
		o.PrettyName = strings.TrimSpace(o.Name + " " + o.Version)
		o.Major, o.Minor = splitVersion(o.Version)
		return
	}
	for _, p := range []string{"/etc/arch-release", "/etc/alpine-release", "/etc/gentoo-release"} {
		if !r.exists(p) {
			continue
		}
		o.ReleaseFile = p
		o.ID = strings.TrimSuffix(path.Base(p), "-release")
		if b, err := r.readSmall(p); err == nil {
			o.Version = releaseNumber(firstLine(b))
			o.Major, o.Minor = splitVersion(o.Version)
		}
		return
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(s)
}

var numberRE = regexp.MustCompile(`[0-9]+(\.[0-9]+)*`)

// releaseNumber finds the first version number in a release line such as
// "CentOS Linux release 7.9.2009 (Core)".
func releaseNumber(s string) string { return numberRE.FindString(s) }

// debianVersion returns the version in /etc/debian_version ("12.5", or "" for "trixie/sid").
func debianVersion(b []byte) string {
	s := firstLine(b)
	if v := numberRE.FindString(s); v != "" && strings.HasPrefix(s, v) {
		return v
	}
	return ""
}

func redhatID(text string) string {
	t := strings.ToLower(text)
	switch {
	case strings.Contains(t, "centos"):
		return "centos"
	case strings.Contains(t, "fedora"):
		return "fedora"
	case strings.Contains(t, "rocky"):
		return "rocky"
	case strings.Contains(t, "alma"):
		return "almalinux"
	case strings.Contains(t, "oracle"):
		return "ol"
	case strings.Contains(t, "scientific"):
		return "scientific"
	case strings.Contains(t, "amazon"):
		return "amzn"
	default:
		return "rhel"
	}
}

func splitVersion(v string) (major, minor int) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) > 0 {
		major, _ = strconv.Atoi(parts[0])
	}
	if len(parts) > 1 {
		minor, _ = strconv.Atoi(parts[1])
	}
	return major, minor
}

var familyIDs = map[string]string{
	"debian": FamilyDebian, "ubuntu": FamilyDebian, "linuxmint": FamilyDebian, "devuan": FamilyDebian,
	"raspbian": FamilyDebian, "kali": FamilyDebian, "pop": FamilyDebian, "elementary": FamilyDebian,
	"rhel": FamilyRHEL, "centos": FamilyRHEL, "fedora": FamilyRHEL, "rocky": FamilyRHEL,
	"almalinux": FamilyRHEL, "ol": FamilyRHEL, "amzn": FamilyRHEL, "scientific": FamilyRHEL,
	"cloudlinux": FamilyRHEL, "eurolinux": FamilyRHEL, "circle": FamilyRHEL, "navy": FamilyRHEL,
	"sles": FamilySUSE, "sled": FamilySUSE, "opensuse": FamilySUSE, "opensuse-leap": FamilySUSE,
	"opensuse-tumbleweed": FamilySUSE, "suse": FamilySUSE,
	"arch": FamilyArch, "manjaro": FamilyArch, "endeavouros": FamilyArch,
	"alpine": FamilyAlpine, "gentoo": FamilyGentoo,
}

func familyOf(id string, like []string) string {
	if f, ok := familyIDs[id]; ok {
		return f
	}
	for _, l := range like {
		if f, ok := familyIDs[l]; ok {
			return f
		}
	}
	return FamilyUnknown
}

// DefaultAccountRanges returns the usual ordinary-account ranges of a family and major
// version when login.defs does not say (RHEL/CentOS/Fedora before RHEL 7 / Fedora 16 used 500).
func DefaultAccountRanges(family, id string, major int) AccountRanges {
	a := AccountRanges{UIDMin: 1000, UIDMax: 60000, GIDMin: 1000, GIDMax: 60000, Source: "default"}
	if family == FamilyRHEL && major > 0 {
		old := (id == "fedora" && major < 16) || (id != "fedora" && id != "amzn" && major < 7)
		if old {
			a.UIDMin, a.GIDMin = 500, 500
		}
	}
	return a
}

// ParseLoginDefs returns the numeric settings of login.defs(5) text.
func ParseLoginDefs(data []byte) map[string]int {
	m := map[string]int{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if n, err := strconv.Atoi(f[1]); err == nil {
			m[f[0]] = n
		}
	}
	return m
}

func (r *Root) inspectAccounts(family, id string, major int) AccountRanges {
	a := DefaultAccountRanges(family, id, major)
	b, err := r.readSmall("/etc/login.defs")
	if err != nil {
		return a
	}
	m := ParseLoginDefs(b)
	set := func(dst *int, key string) bool {
		if v, ok := m[key]; ok && v >= 0 {
			*dst = v
			return true
		}
		return false
	}
	any := set(&a.UIDMin, "UID_MIN")
	any = set(&a.UIDMax, "UID_MAX") || any
	any = set(&a.GIDMin, "GID_MIN") || any
	any = set(&a.GIDMax, "GID_MAX") || any
	if any {
		a.Source = "/etc/login.defs"
	}
	if a.UIDMax < a.UIDMin || a.GIDMax < a.GIDMin {
		// Nonsense in login.defs: do not let it widen the range to system accounts.
		d := DefaultAccountRanges(family, id, major)
		d.Source = "default (invalid /etc/login.defs)"
		return d
	}
	return a
}

var xenKernelRE = regexp.MustCompile(`xen[uU]?$|-xen-`)

func (r *Root) inspectKernels() []Kernel {
	ents, err := r.ReadDir("/boot")
	if err != nil {
		return nil
	}
	names := map[string]bool{}
	for _, e := range ents {
		names[e.Name()] = true
	}
	var ks []Kernel
	for _, e := range ents {
		n := e.Name()
		var v string
		switch {
		case strings.HasPrefix(n, "vmlinuz-"):
			v = strings.TrimPrefix(n, "vmlinuz-")
		case strings.HasPrefix(n, "vmlinux-") && !strings.HasSuffix(n, ".gz"):
			v = strings.TrimPrefix(n, "vmlinux-")
		default:
			continue
		}
		if v == "" || strings.Contains(v, "rescue") {
			continue
		}
		k := Kernel{Version: v, Image: "/boot/" + n}
		for _, c := range []string{"initrd.img-" + v, "initramfs-" + v + ".img", "initrd-" + v + ".img", "initrd-" + v, "initramfs-" + v} {
			if names[c] {
				k.Initramfs = "/boot/" + c
				break
			}
		}
		mod := "/lib/modules/" + v
		k.Modules = r.isDir(mod)
		k.Xen = xenKernelRE.MatchString(v)
		if k.Modules {
			k.Virtio = r.hasModule(mod, "virtio_blk")
		}
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return compareVersions(ks[i].Version, ks[j].Version) > 0 })
	return ks
}

// hasModule reports whether module name is built in or installed for the kernel whose module
// directory is mod (looked up in modules.builtin, modules.dep, then the usual path).
func (r *Root) hasModule(mod, name string) bool {
	alt := strings.ReplaceAll(name, "_", "-")
	for _, idx := range []string{"modules.builtin", "modules.dep"} {
		b, err := r.readSmall(mod + "/" + idx)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			f, _, _ := strings.Cut(line, ":")
			base := path.Base(f)
			for _, ext := range []string{".ko", ".ko.xz", ".ko.gz", ".ko.zst"} {
				if base == name+ext || base == alt+ext {
					return true
				}
			}
		}
	}
	m, _ := r.Glob(mod + "/kernel/drivers/block/" + name + ".ko*")
	return len(m) > 0
}

var versionPartRE = regexp.MustCompile(`[0-9]+|[^0-9]+`)

// compareVersions compares kernel version strings numerically where both have digits.
func compareVersions(a, b string) int {
	split := func(s string) []string { return versionPartRE.FindAllString(s, -1) }
	x, y := split(a), split(b)
	for i := 0; i < len(x) && i < len(y); i++ {
		nx, ex := strconv.Atoi(x[i])
		ny, ey := strconv.Atoi(y[i])
		if ex == nil && ey == nil {
			if nx != ny {
				if nx < ny {
					return -1
				}
				return 1
			}
			continue
		}
		if c := strings.Compare(x[i], y[i]); c != 0 {
			return c
		}
	}
	return len(x) - len(y)
}

func (r *Root) inspectInitramfsTool(family string) string {
	has := func(names ...string) bool {
		for _, n := range names {
			for _, d := range []string{"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"} {
				if r.isFile(d + n) {
					return true
				}
			}
		}
		return false
	}
	switch {
	case has("update-initramfs") && (family == FamilyDebian || !has("dracut")):
		return "update-initramfs"
	case has("dracut"):
		return "dracut"
	case has("mkinitrd"):
		return "mkinitrd"
	case has("mkinitcpio"):
		return "mkinitcpio"
	}
	return ""
}

func (r *Root) inspectInit() string {
	if tg, err := r.Readlink("/sbin/init"); err == nil && strings.Contains(tg, "systemd") {
		return "systemd"
	}
	if tg, err := r.Readlink("/usr/sbin/init"); err == nil && strings.Contains(tg, "systemd") {
		return "systemd"
	}
	switch {
	case r.isFile("/sbin/upstart") || (r.isFile("/sbin/initctl") && r.isDir("/etc/init")):
		return "upstart"
	case r.isFile("/sbin/openrc") || r.isFile("/usr/sbin/openrc") || r.isFile("/sbin/openrc-run"):
		return "openrc"
	case r.isFile("/lib/systemd/systemd") || r.isFile("/usr/lib/systemd/systemd"):
		return "systemd"
	case r.isFile("/etc/inittab") || r.isFile("/sbin/init"):
		return "sysvinit"
	}
	return ""
}

func (r *Root) inspectBootloader() (string, string) {
	for _, p := range []string{"/boot/grub2/grub.cfg", "/boot/grub/grub.cfg"} {
		if r.isFile(p) {
			return "grub2", p
		}
	}
	if m, _ := r.Glob("/boot/efi/EFI/*/grub.cfg"); len(m) > 0 {
		return "grub2", m[0]
	}
	for _, p := range []string{"/boot/grub/menu.lst", "/boot/grub/grub.conf", "/etc/grub.conf"} {
		if r.isFile(p) {
			return "grub-legacy", p
		}
	}
	for _, p := range []string{"/boot/extlinux/extlinux.conf", "/boot/extlinux.conf", "/extlinux.conf", "/boot/syslinux/extlinux.conf", "/boot/syslinux/syslinux.cfg"} {
		if r.isFile(p) {
			return "extlinux", p
		}
	}
	if r.isFile("/boot/loader/loader.conf") || r.isFile("/boot/efi/loader/loader.conf") {
		return "systemd-boot", "/boot/loader/loader.conf"
	}
	if r.isDir("/boot/grub2") || r.isDir("/boot/grub") {
		return "grub2", ""
	}
	return "", ""
}

func (r *Root) inspectPackageManager(family string) string {
	switch {
	case r.isFile("/usr/bin/apt-get") || r.isFile("/usr/bin/dpkg"):
		return "apt"
	case r.isFile("/usr/bin/dnf") || r.isFile("/usr/bin/dnf-3") || r.isFile("/usr/bin/dnf5"):
		return "dnf"
	case r.isFile("/usr/bin/yum"):
		return "yum"
	case r.isFile("/usr/bin/zypper"):
		return "zypper"
	case r.isFile("/usr/bin/pacman"):
		return "pacman"
	case r.isFile("/sbin/apk"):
		return "apk"
	}
	switch family {
	case FamilyDebian:
		return "apt"
	case FamilyRHEL:
		return "yum"
	case FamilySUSE:
		return "zypper"
	}
	return ""
}

func (r *Root) inspectSELinux() bool {
	b, err := r.readSmall("/etc/selinux/config")
	if err != nil {
		return false
	}
	m := ParseOSRelease(b)
	v := strings.ToLower(m["SELINUX"])
	return v == "enforcing" || v == "permissive"
}

var (
	xenConsoleRE = regexp.MustCompile(`(?m)^[^#\n]*\b(xvc0|hvc0)\b`)
	xenFstabRE   = regexp.MustCompile(`(?m)^\s*/dev/xvd[a-z]`)
	xenModRE     = regexp.MustCompile(`(?m)^\s*alias\s+\S+\s+(xenblk|xennet|xen-blkfront|xen-netfront)\b`)
)

func (r *Root) inspectXen(ks []Kernel) []string {
	var ev []string
	if b, err := r.readSmall("/etc/inittab"); err == nil && xenConsoleRE.Match(b) {
		ev = append(ev, "/etc/inittab: getty on a Xen console (xvc0/hvc0)")
	}
	for _, p := range []string{"/etc/init/hvc0.conf", "/etc/init/xvc0.conf",
		"/etc/systemd/system/getty.target.wants/serial-getty@hvc0.service",
		"/etc/systemd/system/getty.target.wants/getty@hvc0.service"} {
		if _, err := r.Lstat(p); err == nil {
			ev = append(ev, p+": getty on a Xen console")
		}
	}
	if b, err := r.readSmall("/etc/fstab"); err == nil && xenFstabRE.Match(b) {
		ev = append(ev, "/etc/fstab: /dev/xvd* devices")
	}
	mods := []string{"/etc/modprobe.conf"}
	if m, _ := r.Glob("/etc/modprobe.d/*.conf"); len(m) > 0 {
		mods = append(mods, m...)
	}
	for _, p := range mods {
		if b, err := r.readSmall(p); err == nil && xenModRE.Match(b) {
			ev = append(ev, p+": Xen block/net driver aliases")
		}
	}
	for _, k := range ks {
		if k.Xen {
			ev = append(ev, k.Image+": Xen kernel flavour")
		}
	}
	if b, err := r.readSmall("/etc/sysconfig/kernel"); err == nil && bytes.Contains(b, []byte("xen")) {
		ev = append(ev, "/etc/sysconfig/kernel: Xen modules or default kernel")
	}
	return ev
}
