package clean

import (
	"context"
	"os"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

// BenchmarkCleanDebian cleans a freshly extracted and seeded Debian 12 tree with the default
// ops (the extraction is not timed). Run with -benchtime=3x: each iteration extracts 600 MB.
func BenchmarkCleanDebian(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	for _, sel := range []string{"defaults", "chromogenic"} {
		b.Run(sel, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := b.TempDir()
				tree := testimages.DebianTree(b, dir)
				seedDebian(b, tree)
				r, err := guestfs.OpenRoot(tree)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				rep, err := Run(context.Background(), r, Options{Operations: []string{sel}})
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(rep.Totals.Removed+rep.Totals.Truncated+rep.Totals.Edited), "changes/op")
				r.Close()
				os.RemoveAll(dir) // host test directory
				b.StartTimer()
			}
		})
	}
}
