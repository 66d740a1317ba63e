package transfer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// rawImage writes a 3 MiB raw disk with data in its first and last MiB.
func rawImage(t *testing.T) (string, []byte) {
	t.Helper()
	data := make([]byte, 3<<20)
	copy(data, randomData(1<<20))
	copy(data[2<<20:], randomData(1<<20))
	p := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, data
}

// decode reads encoded bytes of format back as raw.
func decode(t *testing.T, b []byte, format string) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "out."+format)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	img, err := diskimage.OpenFormat(p, format)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	out := filepath.Join(t.TempDir(), "back.raw")
	if err := WriteRaw(context.Background(), out, 0o600, img, nil); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestEncode: the three ways (stream, spool, as-is) give the image's content; a spool is
// removed by Close; Finish runs before EOF and its error fails the read.
func TestEncode(t *testing.T) {
	path, data := rawImage(t)
	img, err := diskimage.OpenFormat(path, "raw")
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	for _, tc := range []struct {
		format string
		wo     diskimage.WriteOptions
		how    string
	}{
		{"qcow2", diskimage.WriteOptions{}, "stream"},
		{"qcow2", diskimage.WriteOptions{Compression: "zlib"}, "spool"},
		{"vhd", diskimage.WriteOptions{}, "spool"},
	} {
		spoolDir := t.TempDir()
		finished := false
		s, err := Encode(context.Background(), Source{Image: img}, Options{Format: tc.format, Write: tc.wo, SpoolDir: spoolDir,
			Finish: func() error { finished = true; return nil }})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(s)
		if err != nil {
			t.Fatalf("%s: %v", tc.how, err)
		}
		if s.How != tc.how || !finished {
			t.Errorf("%s %+v: went %s, finished %v", tc.format, tc.wo, s.How, finished)
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		if left, _ := os.ReadDir(spoolDir); len(left) != 0 {
			t.Errorf("%s: spool left behind", tc.how)
		}
		if !bytes.Equal(decode(t, b, tc.format), data) {
			t.Errorf("%s %+v: content differs", tc.format, tc.wo)
		}
	}

	// As it is: the bytes of the file, never re-encoded; not for raw.
	opened := 0
	src := Source{Image: img, AsIsFormat: "raw", AsIs: func() (io.ReadCloser, error) { opened++; return os.Open(path) }}
	bad := errors.New("hash mismatch")
	s, err := Encode(context.Background(), src, Options{Format: "raw", Finish: func() error { return bad }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(s); !errors.Is(err, bad) || s.How != "stream" || opened != 0 {
		t.Errorf("raw: %v, went %s, as-is opened %d times", err, s.How, opened)
	}
	s.Close()
}

// TestEncodeAsIs: an image already in the target format is sent as its bytes.
func TestEncodeAsIs(t *testing.T) {
	path, _ := rawImage(t)
	raw, err := diskimage.OpenFormat(path, "raw")
	if err != nil {
		t.Fatal(err)
	}
	q := filepath.Join(t.TempDir(), "disk.qcow2")
	if err := diskimage.Convert(context.Background(), raw, q, "qcow2", diskimage.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	img, err := diskimage.OpenFormat(q, "qcow2")
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	said := ""
	s, err := Encode(context.Background(), Source{Image: img, AsIsFormat: "qcow2", AsIs: func() (io.ReadCloser, error) { return os.Open(q) }},
		Options{Format: "qcow2", Say: func(m string) { said = m }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := io.ReadAll(s)
	want, _ := os.ReadFile(q)
	if err != nil || s.How != "as-is" || !bytes.Equal(got, want) || !strings.Contains(said, "as it is") {
		t.Errorf("went %s (%q), %v, same bytes %v", s.How, said, err, bytes.Equal(got, want))
	}
}

// TestWriteStream refuses the formats that must seek, and writes the others in order.
func TestWriteStream(t *testing.T) {
	path, data := rawImage(t)
	img, err := diskimage.OpenFormat(path, "raw")
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	var buf bytes.Buffer
	if err := WriteStream(context.Background(), &buf, img, "vhd", diskimage.WriteOptions{}); !errors.Is(err, ErrNeedsSeek) {
		t.Errorf("dynamic vhd to a stream: %v", err)
	}
	if err := WriteStream(context.Background(), &buf, img, "raw", diskimage.WriteOptions{}); err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Errorf("raw to a stream: %v", err)
	}
}

// TestSpoolSparse: the content comes through, zero blocks are holes, the mode is exact.
func TestSpoolSparse(t *testing.T) {
	_, data := rawImage(t)
	p := filepath.Join(t.TempDir(), "spool")
	if err := SpoolSparse(context.Background(), p, 0o640, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("content differs: %v", err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	if blocks := st.Sys().(*syscall.Stat_t).Blocks * 512; blocks > 2<<20+64<<10 {
		t.Errorf("%d bytes allocated for 2 MiB of data: the zero MiB is not a hole", blocks)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := SpoolSparse(ctx, p, 0o600, bytes.NewReader(data)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// fakeRanged is a RangedFile over bytes.
type fakeRanged struct {
	*bytes.Reader
	verr error
}

func (f *fakeRanged) Close() error            { return nil }
func (f *fakeRanged) Verify() (string, error) { return "sha512", f.verr }
func (f *fakeRanged) Stats() RangeStats       { return RangeStats{Requests: 3, Fetched: 2 << 20} }

// TestRanged: the image reads through the ReaderAt; Verify reports and fails on a mismatch.
func TestRanged(t *testing.T) {
	_, data := rawImage(t)
	f := &fakeRanged{Reader: bytes.NewReader(data)}
	r, err := OpenRanged(f, "raw")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := filepath.Join(t.TempDir(), "out")
	if err := WriteRaw(context.Background(), out, 0o600, r, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Error("content differs")
	}
	report, err := r.Verify()
	if err != nil || !strings.Contains(report, "Read 2 MiB of the 3 MiB file in 3 range requests") || !strings.Contains(report, "sha512 of the whole file verified") {
		t.Errorf("%q, %v", report, err)
	}
	f.verr = errors.New("mismatch")
	if _, err := r.Verify(); err == nil {
		t.Error("a failed verification passed")
	}
}
