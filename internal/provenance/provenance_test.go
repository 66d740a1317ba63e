package provenance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A sparse file with data in three blocks: the map holds their hashes (checked against the
// bytes), "" for the rest; a change in one block is the one Changed reports and Verify finds;
// the record round-trips and a damaged one is refused, naming the file.
func TestBlockMapAndRecord(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "disk.raw")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(10*BlockSize + 4096) // a short last block
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	writes := map[int64]string{0: "boot", 3*BlockSize + 100: "three", 10 * BlockSize: "tail"}
	for off, s := range writes {
		if _, err := f.WriteAt([]byte(s), off); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	ctx := context.Background()
	m, err := Map(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Blocks) != 11 {
		t.Fatalf("%d blocks", len(m.Blocks))
	}
	data, _ := os.ReadFile(path)
	for i, h := range m.Blocks {
		end := int64(i+1) * BlockSize
		if end > size {
			end = size
		}
		blk := data[int64(i)*BlockSize : end]
		want := ""
		if strings.Trim(string(blk), "\x00") != "" {
			s := sha256.Sum256(blk)
			want = hex.EncodeToString(s[:])
		}
		if h != want {
			t.Errorf("block %d: %q, want %q", i, h, want)
		}
	}
	if m.Blocks[0] == "" || m.Blocks[3] == "" || m.Blocks[10] == "" || m.Blocks[5] != "" {
		t.Errorf("blocks %q", m.Blocks)
	}

	base := *m
	base.Blocks = append([]string(nil), m.Blocks...)
	f, _ = os.OpenFile(path, os.O_WRONLY, 0)
	f.WriteAt([]byte("changed"), 7*BlockSize+5)
	f.Close()
	if err := base.Verify(ctx, path, []int64{0, 3}); err != nil {
		t.Errorf("unchanged blocks: %v", err)
	}
	if err := base.Verify(ctx, path, nil); err == nil || !strings.Contains(err.Error(), "block 7 ") {
		t.Errorf("verify of a changed file: %v", err)
	}
	if err := m.Update(ctx, []int64{7}); err != nil {
		t.Fatal(err)
	}
	if ch, err := m.Changed(&base); err != nil || len(ch) != 1 || ch[0] != 7 {
		t.Errorf("changed %v %v", ch, err)
	}

	r := New("chromogenic-local")
	r.Source = Source{Cloud: "local", Path: "/src.qcow2"}
	r.WorkingCopy = m
	out, err := FileOutput(path, "raw", 0)
	if err != nil {
		t.Fatal(err)
	}
	r.Outputs = append(r.Outputs, out)
	rec := SidecarPath(path)
	if err := r.Write(rec); err != nil {
		t.Fatal(err)
	}
	back, err := Read(rec)
	if err != nil {
		t.Fatal(err)
	}
	if back.WorkingCopy.Blocks[7] != m.Blocks[7] || back.Outputs[0].SHA256 != out.SHA256 || out.Size != size {
		t.Errorf("round trip: %+v", back)
	}

	for name, edit := range map[string]func(string) string{
		"count":   func(s string) string { return strings.Replace(s, `"block_size": 524288`, `"block_size": 1048576`, 1) },
		"version": func(s string) string { return strings.Replace(s, `"version": 1`, `"version": 9`, 1) },
		"hash":    func(s string) string { return strings.Replace(s, m.Blocks[0], "../../etc", 1) },
	} {
		b, _ := os.ReadFile(rec)
		bad := filepath.Join(dir, name+".json")
		os.WriteFile(bad, []byte(edit(string(b))), 0o644)
		if _, err := Read(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: %v", name, err)
		}
	}

	// other_dirty: one list per other disk, each block inside its disk.
	for name, c := range map[string]struct {
		dirty [][]int64
		want  string
	}{
		"fits":      {[][]int64{{0, 7}}, ""},
		"outside":   {[][]int64{{m.Count()}}, "outside disk 2"},
		"negative":  {[][]int64{{-1}}, "outside disk 2"},
		"one more":  {[][]int64{{}, {0}}, "dirty blocks for 2 other disks"},
		"none know": {nil, ""},
	} {
		o := *r
		o.OtherDisks, o.OtherDirty = []*BlockMap{m}, c.dirty
		p := filepath.Join(dir, "other.json")
		if err := o.Write(p); err != nil {
			t.Fatal(err)
		}
		_, err := Read(p)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("other_dirty %s: %v, want %q", name, err, c.want)
		}
	}
}

// A map made of a file carries its stamp: unchanged while nothing writes the file; a write
// (even of the same bytes) and a file replaced under the same name are both seen.
func TestStamp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(path, []byte("some data"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Map(context.Background(), path)
	if err != nil || m.Stamp == nil {
		t.Fatalf("map %+v %v", m, err)
	}
	if err := m.Unchanged(path); err != nil {
		t.Errorf("unchanged file: %v", err)
	}
	f, _ := os.OpenFile(path, os.O_WRONLY, 0)
	f.WriteAt([]byte("s"), 0)
	f.Close()
	if err := m.Unchanged(path); err == nil || !strings.Contains(err.Error(), "written after") {
		t.Errorf("a write of the same byte: %v", err)
	}
	if err := m.SetStamp(); err != nil || m.Unchanged(path) != nil {
		t.Fatalf("restamp: %v", err)
	}
	other := filepath.Join(dir, "other")
	os.WriteFile(other, []byte("some data"), 0o644)
	os.Rename(other, path)
	if err := m.Unchanged(path); err == nil || !strings.Contains(err.Error(), "another file") {
		t.Errorf("a file replaced: %v", err)
	}
	var none BlockMap
	if err := none.Unchanged(path); err == nil {
		t.Error("a map without a stamp is trusted")
	}
}
