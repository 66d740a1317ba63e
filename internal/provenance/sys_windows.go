package provenance

import "os"

const noFollow = 0

// dataRanges is the whole file: holes are not asked for here.
func dataRanges(f *os.File, size int64) [][2]int64 { return [][2]int64{{0, size}} }
