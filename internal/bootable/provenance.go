package bootable

import (
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// Provenance is the provenance record's boot settings of the disk Make wrote (what
// chromogenic-convert's bootable block and the CLI's convert --bootable record).
func (r *Result) Provenance() *provenance.Boot {
	return &provenance.Boot{Firmware: r.Firmware, Bootloader: strings.Join(r.Bootloaders, "+"),
		Kernel: r.Kernel, Cmdline: r.Cmdline}
}
