package diskimage

// lseek whence values for sparse files (Linux).
const (
	seekData = 3
	seekHole = 4
)
