//go:build !linux

package diskimage

import "os"

func adviseSequential(*os.File)             {}
func adviseWillNeed(*os.File, int64, int64) {}
