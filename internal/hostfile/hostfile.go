// Package hostfile creates the files and directories the plugin leaves on the host (working
// copies, converted outputs, reports, kernels and ramdisks, mount points) with modes that keep
// them private: files 0600 and directories 0700 unless the user asks for a wider mode with a
// `file_mode` option (for example "0640" for group access).
//
// A guest image can hold secrets (keys, password hashes, tokens) and setuid programs, so what
// is derived from it is not for other host users. The mode is applied with fchmod after the
// open, so neither the process umask nor a file that already existed changes it.
//
// It trusts its callers (template values); it never looks inside guest data.
package hostfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// DefaultFileMode is the mode of every host file the plugin creates unless told otherwise.
const DefaultFileMode os.FileMode = 0o600

// ParseMode parses a `file_mode` option: an octal string such as "0600" or "0640". The mode
// must give the owner read and write and have no execute, setuid, setgid or sticky bits.
// field names the option in the error. An empty string is DefaultFileMode.
func ParseMode(field, s string) (os.FileMode, error) {
	if s == "" {
		return DefaultFileMode, nil
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not an octal file mode such as \"0600\" or \"0640\"", field, s)
	}
	m := os.FileMode(v)
	if v&^0o666 != 0 {
		return 0, fmt.Errorf("%s: %q has execute, setuid, setgid or sticky bits; only read and write bits (at most 0666) are allowed", field, s)
	}
	if m&0o600 != 0o600 {
		return 0, fmt.Errorf("%s: %q must let the owner read and write (0600 at least)", field, s)
	}
	return m, nil
}

// DirMode is the directory mode that goes with the file mode m: each read bit adds the
// search bit of the same class, so 0600 gives 0700, 0640 gives 0750 and 0644 gives 0755.
func DirMode(m os.FileMode) os.FileMode {
	m &= 0o666
	return m | (m&0o444)>>2
}

// Create creates (or truncates) the file path with exactly mode perm, for reading and
// writing. The final component must not be a symlink.
func Create(path string, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC|oNoFollow, perm)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// WriteFile is os.WriteFile with exactly mode perm (see Create).
func WriteFile(path string, data []byte, perm os.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// MkdirAll creates dir and its missing parents with mode perm (exactly, whatever the umask).
// Directories that already existed are left as they are. It reports whether dir itself was
// created.
func MkdirAll(dir string, perm os.FileMode) (bool, error) {
	dir = filepath.Clean(dir)
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return false, fmt.Errorf("%s exists and is not a directory", dir)
		}
		return false, nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if _, err := MkdirAll(parent, perm); err != nil {
			return false, err
		}
	}
	if err := os.Mkdir(dir, perm); err != nil {
		if os.IsExist(err) {
			return false, nil
		}
		return false, err
	}
	return true, os.Chmod(dir, perm)
}
