package migration

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// accOnly skips unless PACKER_ACC=1, as the HashiCorp plugins gate acceptance tests.
func accOnly(t *testing.T) {
	t.Helper()
	testtier.Acceptance(t, "packer builds against the EC2 emulator and the all-in-one OpenStack cloud")
}

// migEmulator starts the EC2/EBS/S3 emulator and gives packer (through its environment) the
// emulator's credentials and nothing of the developer's own AWS settings.
func migEmulator(t *testing.T, opts ...ec2emu.Options) *ec2emu.Server {
	t.Helper()
	srv := ec2emu.Start(t, opts...)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretAccessKey)
	for _, k := range []string{"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return srv
}

// migSample is a private sparse copy of the sample Debian disk.
func migSample(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sample.raw")
	packertest.CopySparse(t, testimages.Sample(t), p)
	return p
}

// exampleTemplate reads a template of example/.
func exampleTemplate(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testimages.RepoRoot(), "example", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// buildExample runs `packer build` on an example template with vars and fails the test if
// the build fails.
func buildExample(t *testing.T, env *packertest.Env, dir, name string, timeout time.Duration, vars map[string]string) *packertest.Result {
	t.Helper()
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var args []string
	for _, k := range keys {
		args = append(args, "-var", k+"="+vars[k])
	}
	start := time.Now()
	res := env.Build(t, dir, exampleTemplate(t, name), timeout, args...)
	if res.Err != nil {
		t.Fatalf("packer build %s: %v\n%s", name, res.Err, res.Output)
	}
	t.Logf("packer build %s took %s", name, time.Since(start).Round(time.Second))
	return res
}

// workingCopy is the one raw working copy a build left in out.
func workingCopy(t *testing.T, out string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(out, "*.raw"))
	if len(m) != 1 {
		t.Fatalf("want one working copy in %s, found %v", out, m)
	}
	return m[0]
}

// qemuCompare fails the test unless the two images hold the same guest-visible data.
func qemuCompare(t *testing.T, a, fa, b, fb string) {
	t.Helper()
	if o, err := exec.Command("qemu-img", "compare", "-f", fa, "-F", fb, a, b).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img compare %s %s: %v\n%s", a, b, err, o)
	}
}

func ec2Client(srv *ec2emu.Server) *sdkec2.Client {
	return sdkec2.NewFromConfig(srv.AWSConfig(), func(o *sdkec2.Options) { o.BaseEndpoint = aws.String(srv.EC2Endpoint) })
}

// amiByName is the one AMI of the account named name, or nil.
func amiByName(t *testing.T, srv *ec2emu.Server, name string) *types.Image {
	t.Helper()
	out, err := ec2Client(srv).DescribeImages(t.Context(), &sdkec2.DescribeImagesInput{Owners: []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{name}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Images) != 1 {
		return nil
	}
	return &out.Images[0]
}

// readSnapshotEBS reads a snapshot back through the EBS direct API as a client would, with
// the SDK's ebs client alone (not the plugin's transfer code): ListSnapshotBlocks pages,
// GetSnapshotBlock per block with its SHA-256 checked, each block written at its offset of a
// sparse file of the volume's size.
func readSnapshotEBS(t *testing.T, srv *ec2emu.Server, snapshotID, path string) (blocks int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	c := ebs.NewFromConfig(srv.AWSConfig(), func(o *ebs.Options) { o.BaseEndpoint = aws.String(srv.EBSEndpoint) })
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var next *string
	sized := false
	buf := make([]byte, ec2emu.BlockSize)
	for {
		page, err := c.ListSnapshotBlocks(ctx, &ebs.ListSnapshotBlocksInput{SnapshotId: aws.String(snapshotID), NextToken: next, MaxResults: aws.Int32(1000)})
		if err != nil {
			t.Fatalf("ListSnapshotBlocks %s: %v", snapshotID, err)
		}
		bs := int64(aws.ToInt32(page.BlockSize))
		if !sized {
			if err := f.Truncate(aws.ToInt64(page.VolumeSize) << 30); err != nil {
				t.Fatal(err)
			}
			sized = true
		}
		for _, b := range page.Blocks {
			out, err := c.GetSnapshotBlock(ctx, &ebs.GetSnapshotBlockInput{SnapshotId: aws.String(snapshotID),
				BlockIndex: b.BlockIndex, BlockToken: b.BlockToken})
			if err != nil {
				t.Fatalf("GetSnapshotBlock %s #%d: %v", snapshotID, aws.ToInt32(b.BlockIndex), err)
			}
			n, err := io.ReadFull(out.BlockData, buf[:aws.ToInt32(out.DataLength)])
			out.BlockData.Close()
			if err != nil {
				t.Fatalf("block #%d: %v", aws.ToInt32(b.BlockIndex), err)
			}
			sum := sha256.Sum256(buf[:n])
			if got := base64.StdEncoding.EncodeToString(sum[:]); got != aws.ToString(out.Checksum) {
				t.Fatalf("block #%d: SHA-256 %s, the API said %s", aws.ToInt32(b.BlockIndex), got, aws.ToString(out.Checksum))
			}
			if _, err := f.WriteAt(buf[:n], int64(aws.ToInt32(b.BlockIndex))*bs); err != nil {
				t.Fatal(err)
			}
			blocks++
		}
		if aws.ToString(page.NextToken) == "" {
			break
		}
		next = page.NextToken
	}
	return blocks
}

// sameGuestFiles fails unless each guest path reads the same from the images want and got.
func sameGuestFiles(t *testing.T, want, got string, paths ...string) {
	t.Helper()
	w := packertest.GuestFiles(t, want, paths...)
	g := packertest.GuestFiles(t, got, paths...)
	for _, p := range paths {
		if _, ok := w[p]; !ok {
			t.Errorf("%s missing from %s", p, want)
			continue
		}
		if string(w[p]) != string(g[p]) {
			t.Errorf("%s differs: %s has %s, %s has %s", p, want, short(w[p]), got, short(g[p]))
		}
	}
}

func short(b []byte) string {
	if len(b) > 80 {
		return strconv.Quote(string(b[:80])) + "..."
	}
	return strconv.Quote(string(b))
}

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}
