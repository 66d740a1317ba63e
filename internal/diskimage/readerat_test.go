package diskimage

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// onlyReaderAt hides everything of a file but ReadAt (as a remote image read through HTTP
// ranges would), and records Close.
type onlyReaderAt struct {
	r      io.ReaderAt
	closed bool
}

func (o *onlyReaderAt) ReadAt(b []byte, off int64) (int, error) { return o.r.ReadAt(b, off) }
func (o *onlyReaderAt) Close() error                            { o.closed = true; return nil }

// TestOpenReaderAt reads every reader variant (and raw and qcow2) through a bare io.ReaderAt
// and compares the result with qemu-img's conversion of the same file to raw.
func TestOpenReaderAt(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	src := makeRaw(t, dir, "src.raw", testSize, standardSegs(testSize), 13)
	variants := append(slices.Clone(readerVariants),
		struct {
			name, format string
			args         []string
			want         string
		}{"qcow2", "qcow2", nil, "qcow2"},
		struct {
			name, format string
			args         []string
			want         string
		}{"raw", "raw", nil, "raw"})
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel() // qemu-img and file I/O: the variants wait on the disk, not the CPU
			in := filepath.Join(dir, v.name+".img")
			run(t, "qemu-img", append(append([]string{"convert", "-f", "raw", "-O", v.format}, v.args...), src, in)...)
			oracle := filepath.Join(dir, v.name+".oracle")
			run(t, "qemu-img", "convert", "-f", v.format, "-O", "raw", in, oracle)
			f, err := os.Open(in)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			ra := &onlyReaderAt{r: f}
			img, err := OpenReaderAt(ra, st.Size(), v.want, ra)
			if err != nil {
				t.Fatal(err)
			}
			if img.Format() != v.want {
				t.Errorf("format %s, want %s", img.Format(), v.want)
			}
			out := filepath.Join(dir, v.name+".raw")
			o, err := os.Create(out)
			if err != nil {
				t.Fatal(err)
			}
			if err := WriteRaw(context.Background(), o, img, nil); err != nil {
				t.Fatal(err)
			}
			o.Close()
			sameContent(t, oracle, out)
			checkSparse(t, out, nonZeroBlocks(t, oracle), 256<<10)
			if err := img.Close(); err != nil || !ra.closed {
				t.Errorf("Close: %v, closer called: %v", err, ra.closed)
			}
		})
	}
	if _, err := OpenReaderAt(&onlyReaderAt{}, 0, "qed", nil); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("qed through OpenReaderAt: %v, want ErrUnknownFormat", err)
	}
}
