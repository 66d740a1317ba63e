package clean

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	engine "github.com/chromogenic/packer-plugin-chromogenic/internal/clean"
)

// hostileGuest is a communicator to a live guest that does what an attacker controlling it
// would: it answers uname as a good guest, accepts the engine and its configuration (kept for
// the test), reports success, and then serves report, a report of its choice (an endless
// one, or one with terminal escapes in its paths).
type hostileGuest struct {
	mu      sync.Mutex
	config  []byte
	report  func(w io.Writer) error
	written int64
}

func (g *hostileGuest) Start(_ context.Context, c *packersdk.RemoteCmd) error {
	if strings.HasPrefix(c.Command, "uname") && c.Stdout != nil {
		io.WriteString(c.Stdout, "Linux "+unameArch[runtime.GOARCH][0]+"\n")
	}
	c.SetExited(0)
	return nil
}

func (g *hostileGuest) Upload(dst string, r io.Reader, _ *os.FileInfo) error {
	b, err := io.ReadAll(r)
	if strings.HasSuffix(dst, "/config.json") {
		g.mu.Lock()
		g.config = b
		g.mu.Unlock()
	}
	return err
}

func (g *hostileGuest) UploadDir(string, string, []string) error   { return nil }
func (g *hostileGuest) DownloadDir(string, string, []string) error { return nil }

func (g *hostileGuest) Download(_ string, w io.Writer) error {
	cw := &countWriter{w: w}
	err := g.report(cw)
	g.written = cw.n
	return err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func liveProvisioner(t *testing.T) (*Provisioner, *bytes.Buffer, packersdk.Ui) {
	t.Helper()
	var p Provisioner
	if err := p.Prepare(map[string]interface{}{"mode": "live", "report_file": t.TempDir() + "/report.json"}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	return &p, &out, &packersdk.BasicUi{Reader: strings.NewReader(""), Writer: &out, ErrorWriter: &out}
}

// TestLiveReportBounded: a guest that answers the report download with 1 GiB is cut off at
// maxReportSize with an error naming the report; the provisioner's memory stays bounded (it
// would hold the whole GiB without the bound).
func TestLiveReportBounded(t *testing.T) {
	p, out, ui := liveProvisioner(t)
	g := &hostileGuest{report: func(w io.Writer) error {
		_, err := io.Copy(w, io.LimitReader(zeros{}, 1<<30))
		return err
	}}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := p.Provision(context.Background(), ui, g, map[string]interface{}{})
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "report") || !strings.Contains(err.Error(), "larger than 64 MiB") {
		t.Fatalf("Provision = %v; want the report refused as larger than 64 MiB\n%s", err, out)
	}
	if g.written > maxReportSize {
		t.Errorf("the guest wrote %d bytes into the report buffer (bound %d)", g.written, maxReportSize)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 512<<20 {
		t.Errorf("Provision allocated %d MiB for the report", alloc>>20)
	}
	// A communicator that ignores the writer's error is stopped by the size check.
	b, err := downloadReport(&writerIgnoring{}, "/r.json", 1<<20)
	if err == nil || b != nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("downloadReport through a communicator ignoring errors = %d bytes, %v", len(b), err)
	}
}

// TestLiveHostIdentityKeyed: the configuration uploaded to the guest carries the Packer
// host's identity only as keyed hashes: neither this machine's machine-id nor its boot id is
// in it, and the engine on the guest still recognises this machine from it.
func TestLiveHostIdentityKeyed(t *testing.T) {
	me := engine.LocalIdentity()
	if me.MachineID == "" && me.BootID == "" {
		t.Skip("no machine-id nor boot id on this machine")
	}
	p, out, ui := liveProvisioner(t)
	g := &hostileGuest{report: func(w io.Writer) error { return nil }}
	if err := p.Provision(context.Background(), ui, g, map[string]interface{}{}); err == nil {
		t.Fatalf("an empty report was accepted\n%s", out)
	}
	cfg := string(g.config)
	if cfg == "" {
		t.Fatal("no configuration uploaded")
	}
	for _, id := range []string{me.MachineID, me.BootID} {
		if id != "" && strings.Contains(cfg, id) {
			t.Errorf("uploaded configuration holds the host id %s:\n%s", id, cfg)
		}
	}
	var gc guestConfig
	if err := json.Unmarshal(g.config, &gc); err != nil {
		t.Fatal(err)
	}
	h := gc.Options.Live.PackerHost
	if h == nil || len(h.Key) != 64 {
		t.Fatalf("packer_host = %+v, want a keyed identity", h)
	}
	if same, _ := h.SameRoot(me); !same {
		t.Errorf("keyed identity does not match this machine")
	}
}

// TestLiveReportEscaped: a guest report whose paths and op names carry terminal escapes and
// forged lines is printed escaped.
func TestLiveReportEscaped(t *testing.T) {
	p, out, ui := liveProvisioner(t)
	rep := engine.Report{Root: "/", Ops: []engine.OpReport{{
		Name: "tmp-files\x1b[2J", Status: engine.StatusDone,
		Changes: []engine.Change{{Action: engine.Removed, Path: "/tmp/a\x1b]2;pwned\x07\n==> FORGED packer line", Reason: "r\x1b[31m"}},
	}}}
	js, _ := json.Marshal(rep)
	g := &hostileGuest{report: func(w io.Writer) error { _, err := w.Write(js); return err }}
	if err := p.Provision(context.Background(), ui, g, map[string]interface{}{}); err != nil {
		t.Fatalf("Provision: %v\n%s", err, out)
	}
	s := out.String()
	if strings.ContainsAny(s, "\x1b\x07") || strings.Contains(s, "\n==> FORGED") {
		t.Errorf("guest report printed raw:\n%q", s)
	}
	if !strings.Contains(s, `/tmp/a\x1b]2;pwned\x07\n==> FORGED packer line`) {
		t.Errorf("escaped path missing:\n%s", s)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// writerIgnoring is a communicator whose Download goes on writing after its writer failed.
type writerIgnoring struct{ hostileGuest }

func (*writerIgnoring) Download(_ string, w io.Writer) error {
	buf := make([]byte, 64<<10)
	for i := 0; i < 64; i++ {
		w.Write(buf)
	}
	return nil
}
