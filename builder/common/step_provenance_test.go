package common

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"golang.org/x/sys/unix"

	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

// provenanceState is a build whose working copies (sparse, data in a few blocks) are in dir.
func provenanceState(t *testing.T, dir string, disks int) (*multistep.BasicStateBag, []string) {
	t.Helper()
	var images []string
	for i := 0; i < disks; i++ {
		p := filepath.Join(dir, []string{"w.raw", "w-disk2.raw"}[i])
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		f.Truncate(8 * provenance.BlockSize)
		f.WriteAt([]byte("guest data "+p), 3*provenance.BlockSize+7)
		f.Close()
		images = append(images, p)
	}
	state := new(multistep.BasicStateBag)
	state.Put("ui", &packersdk.BasicUi{Writer: &bytes.Buffer{}, ErrorWriter: &bytes.Buffer{}})
	state.Put(StateWorkingImage, images[0])
	if disks > 1 {
		state.Put(StateWorkingImages, images)
	}
	return state, images
}

// The step maps every disk, folds the clean note in (and removes it), writes the record beside
// the boot disk with the build's file mode, and the artifact carries it: state, HCP labels,
// Files; Destroy removes the working copies and the record and nothing else in the folder.
func TestStepProvenance(t *testing.T) {
	dir := t.TempDir()
	state, images := provenanceState(t, dir, 2)
	state.Put(StateFileMode, os.FileMode(0o640))
	report := []byte(`{"report": 1}`)
	sum := sha256.Sum256(report)
	note := provenance.CleanNotePath(images[0])
	for _, ops := range [][]string{{"machine-id", "bash-history"}, {"machine-id", "target:kvm"}} {
		if err := provenance.AppendCleanNote(note, provenance.CleanRun{Operations: ops, ReportSHA256: hex.EncodeToString(sum[:])}); err != nil {
			t.Fatal(err)
		}
	}
	keep := filepath.Join(dir, "users-file")
	os.WriteFile(keep, []byte("x"), 0o644)

	step := &StepProvenance{Producer: "chromogenic-test",
		Source: func(multistep.StateBag) provenance.Source {
			return provenance.Source{Cloud: "local", Path: "/src.qcow2"}
		},
		Outputs: func(multistep.StateBag) []provenance.Output {
			return []provenance.Output{{Cloud: "openstack", Kind: "image", ID: "abc"}}
		},
	}
	if a := step.Run(context.Background(), state); a != multistep.ActionContinue {
		t.Fatalf("step: %v", state.Get("error"))
	}
	step.Cleanup(state)
	rec := provenance.SidecarPath(images[0])
	r, err := provenance.Read(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WorkingCopy.Verify(context.Background(), images[0], nil); err != nil {
		t.Error(err)
	}
	if len(r.OtherDisks) != 1 || r.OtherDisks[0].Verify(context.Background(), images[1], nil) != nil {
		t.Errorf("other disks %+v", r.OtherDisks)
	}
	if r.WorkingCopy.Blocks[3] == "" || r.WorkingCopy.Blocks[0] != "" {
		t.Errorf("blocks %q", r.WorkingCopy.Blocks)
	}
	if r.Clean == nil || strings.Join(r.Clean.Operations, " ") != "machine-id bash-history target:kvm" ||
		r.Clean.ReportSHA256 != hex.EncodeToString(sum[:]) || len(r.Clean.Runs) != 2 {
		t.Errorf("clean %+v", r.Clean)
	}
	if r.Source.Path != "/src.qcow2" || r.Producer != "chromogenic-test" || len(r.Outputs) != 1 || r.Outputs[0].ID != "abc" {
		t.Errorf("record %+v", r)
	}
	if _, err := os.Stat(note); !os.IsNotExist(err) {
		t.Errorf("clean note left: %v", err)
	}
	if fi, _ := os.Stat(rec); fi == nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("record mode %v", fi)
	}

	if err := AddProvenanceOutputs(state, provenance.Output{Cloud: "aws", Kind: "snapshot", ID: "snap-1"}); err != nil {
		t.Fatal(err)
	}
	a := artifact.New("chromogenic.test", images[0], state)
	a.AddDisks(images[1])
	fileSum, _, _ := provenance.FileSHA256(rec)
	if a.State(artifact.StateProvenance) != rec || a.State(artifact.StateProvenanceSHA256) != fileSum {
		t.Errorf("artifact state %v %v, want %s %s", a.State(artifact.StateProvenance), a.State(artifact.StateProvenanceSHA256), rec, fileSum)
	}
	if s, _ := a.State(artifact.StateProvenanceInfo).(string); !strings.Contains(s, "snap-1") {
		t.Errorf("summary %q", s)
	}
	back, p, err := artifact.ProvenanceOf(a)
	if err != nil || len(back.Outputs) != 2 || p.Path != rec {
		t.Errorf("ProvenanceOf: %v %+v", err, back)
	}
	imgs, err := artifact.HCPImagesOf(a)
	if err != nil || len(imgs) != 1 || imgs[0].Labels[artifact.LabelProvenance] != rec || imgs[0].Labels[artifact.LabelProvenanceSHA256] != fileSum {
		t.Errorf("HCP %v %+v", err, imgs)
	}
	if err := a.Destroy(); err != nil {
		t.Fatal(err)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 1 || left[0].Name() != "users-file" {
		t.Errorf("after Destroy: %v", left)
	}

	// A changed record file is refused by whoever reads it through the artifact.
	state, images = provenanceState(t, t.TempDir(), 1)
	if (&StepProvenance{Producer: "x"}).Run(context.Background(), state) != multistep.ActionContinue {
		t.Fatal(state.Get("error"))
	}
	a = artifact.New("chromogenic.test", images[0], state)
	os.WriteFile(provenance.SidecarPath(images[0]), []byte(`{"version": 1}`), 0o600)
	if _, _, err := artifact.ProvenanceOf(a); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("changed record: %v", err)
	}
}

// A clean note that is not a plain small file of well-formed runs fails the step, naming
// the note; a failed build removes the record and the note.
func TestStepProvenanceBadNote(t *testing.T) {
	for name, plant := range map[string]func(note string){
		"symlink": func(note string) { os.Symlink("/etc/passwd", note) },
		"big":     func(note string) { os.WriteFile(note, bytes.Repeat([]byte(" "), 2<<20), 0o600) },
		"op": func(note string) {
			os.WriteFile(note, []byte(`[{"operations":["../x"],"report_sha256":"`+strings.Repeat("a", 64)+`"}]`), 0o600)
		},
		"digest": func(note string) { os.WriteFile(note, []byte(`[{"operations":["a"],"report_sha256":"zz"}]`), 0o600) },
		"fifo":   func(note string) { mkfifo(t, note) },
	} {
		t.Run(name, func(t *testing.T) {
			state, images := provenanceState(t, t.TempDir(), 1)
			note := provenance.CleanNotePath(images[0])
			plant(note)
			step := &StepProvenance{Producer: "x"}
			if step.Run(context.Background(), state) != multistep.ActionHalt {
				t.Fatal("a bad clean note was accepted")
			}
			if err, _ := state.Get("error").(error); err == nil || !strings.Contains(err.Error(), note) {
				t.Errorf("error %v does not name %s", err, note)
			}
			step.Cleanup(state)
			if _, err := os.Lstat(note); !os.IsNotExist(err) {
				t.Errorf("note left after the failed build")
			}
			if _, err := os.Stat(provenance.SidecarPath(images[0])); !os.IsNotExist(err) {
				t.Errorf("record left after the failed build")
			}
		})
	}
}

func mkfifo(t *testing.T, p string) {
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkStepProvenanceSample is the step's cost on the sample image (2 GiB virtual, about
// 660 MiB of data), on a sparse copy: with its pages cached ("warm") and evicted before each
// run ("cold", posix_fadvise DONTNEED on the copy alone):
//
//	go test -run '^$' -bench StepProvenanceSample -benchtime 3x ./builder/common/
func BenchmarkStepProvenanceSample(b *testing.B) {
	dir := b.TempDir()
	img := filepath.Join(dir, "sample.raw")
	if out, err := exec.Command("cp", "--sparse=always", testimages.Sample(b), img).CombinedOutput(); err != nil {
		b.Fatalf("cp: %v %s", err, out)
	}
	for _, cold := range []bool{false, true} {
		b.Run(map[bool]string{false: "warm", true: "cold"}[cold], func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if cold {
					b.StopTimer()
					f, _ := os.Open(img)
					f.Sync()
					unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
					f.Close()
					b.StartTimer()
				}
				state := new(multistep.BasicStateBag)
				state.Put("ui", &packersdk.BasicUi{Writer: &bytes.Buffer{}, ErrorWriter: &bytes.Buffer{}})
				state.Put(StateWorkingImage, img)
				if (&StepProvenance{Producer: "bench"}).Run(context.Background(), state) != multistep.ActionContinue {
					b.Fatal(state.Get("error"))
				}
			}
		})
	}
}

// With the map the capture made as it wrote the working copy (StateCaptureMap), the record
// lists the blocks changed since (Dirty): here the one a provisioner wrote; the working
// copy's map path is absolute.
func TestStepProvenanceDirty(t *testing.T) {
	dir := t.TempDir()
	state, images := provenanceState(t, dir, 1)
	captured, err := provenance.Map(context.Background(), images[0])
	if err != nil {
		t.Fatal(err)
	}
	state.Put(StateCaptureMap, captured)
	f, _ := os.OpenFile(images[0], os.O_WRONLY, 0)
	f.WriteAt([]byte("provisioned"), 6*provenance.BlockSize+1)
	f.Close()
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	os.Chdir(dir)
	state.Put(StateWorkingImage, filepath.Base(images[0]))
	if a := (&StepProvenance{Producer: "chromogenic-test"}).Run(context.Background(), state); a != multistep.ActionContinue {
		t.Fatalf("step: %v", state.Get("error"))
	}
	r, err := provenance.Read(provenance.SidecarPath(images[0]))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Dirty) != 1 || r.Dirty[0] != 6 || r.WorkingCopy.Path != images[0] {
		t.Errorf("dirty %v (want [6]), working copy %s (want %s)", r.Dirty, r.WorkingCopy.Path, images[0])
	}
}
