// Package openstackimport is the chromogenic-openstack-import post-processor: it pushes the
// disk image of any artifact that carries a local image into a Glance of any cloud, region
// and project, converting it to the target disk format on the fly and streaming it: no
// temporary copy for the formats that stream (raw, qcow2 uncompressed, VMDK stream, fixed
// VHD).
package openstackimport

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// BuilderID identifies artifacts of this post-processor.
const BuilderID = "chromogenic.post-processor.openstack-import"

// PostProcessor is chromogenic-openstack-import.
type PostProcessor struct {
	config Config
}

func (p *PostProcessor) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

func (p *PostProcessor) Configure(raws ...interface{}) error { return p.config.Prepare(raws...) }

func (p *PostProcessor) PostProcess(ctx context.Context, ui packersdk.Ui, in packersdk.Artifact) (packersdk.Artifact, bool, bool, error) {
	c := &p.config
	srcPath, err := bcommon.LocalImage(in)
	if err != nil {
		return nil, false, false, err
	}
	src, err := diskimage.Open(srcPath)
	if err != nil {
		return nil, false, false, fmt.Errorf("open %s: %w", srcPath, err)
	}
	defer src.Close()

	ui.Say("Connecting to the target OpenStack...")
	clients, err := cloud.Connect(ctx, c.Auth())
	if err != nil {
		return nil, false, false, err
	}
	w, err := diskimage.LookupWriter(c.DiskFormat)
	if err != nil {
		return nil, false, false, fmt.Errorf("disk_format: %w", err)
	}
	opts := diskimage.WriteOptions{}
	var data io.Reader
	if src.Format() == c.DiskFormat && c.DiskFormat != "raw" {
		// Already in the target format: upload the file as it is.
		f, err := os.Open(srcPath)
		if err != nil {
			return nil, false, false, err
		}
		defer f.Close()
		data = f
	} else if w.NeedsSeek(opts) {
		tmp := filepath.Join(filepath.Dir(srcPath), filepath.Base(srcPath)+".upload."+c.DiskFormat)
		defer os.Remove(tmp)
		ui.Say(fmt.Sprintf("Writing %s for upload (this format cannot stream)...", tmp))
		if err := diskimage.Convert(ctx, src, tmp, c.DiskFormat, opts); err != nil {
			return nil, false, false, err
		}
		f, err := os.Open(tmp)
		if err != nil {
			return nil, false, false, err
		}
		defer f.Close()
		data = f
	} else {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(w.Write(ctx, pw, src, opts)) }()
		defer pr.Close()
		data = pr
	}
	tracked := ui.TrackProgress("upload "+c.ImageName, 0, src.Size(), io.NopCloser(data))
	defer tracked.Close()

	ui.Say(fmt.Sprintf("Uploading %s as image %q (%s, %s)...", srcPath, c.ImageName, c.DiskFormat, c.Visibility))
	wctx, cancel := context.WithTimeout(ctx, c.StateTimeout)
	defer cancel()
	start := time.Now()
	img, err := cloud.Upload(wctx, clients.Image, cloud.NewImage{
		Name: c.ImageName, DiskFormat: c.DiskFormat, Visibility: c.Visibility, Tags: c.Tags,
		MinDisk: c.MinDisk, MinRAM: c.MinRAM, Properties: c.Properties, Members: c.Members,
	}, tracked, func(st string) {
		ui.Message(fmt.Sprintf("Image %s: %s (%s)", c.ImageName, st, time.Since(start).Round(time.Second)))
	})
	if err != nil {
		return nil, false, false, err
	}
	ui.Say(fmt.Sprintf("Image %s (%s) is active", img.Name, img.ID))
	return &Artifact{ImageID: img.ID, ImageName: img.Name, Region: c.Region, clients: clients,
		generated: in.State("generated_data")}, true, false, nil
}

// Artifact is the image created in the target cloud.
type Artifact struct {
	ImageID, ImageName, Region string
	clients                    *cloud.Clients
	generated                  interface{}
}

func (a *Artifact) BuilderId() string { return BuilderID }
func (a *Artifact) Files() []string   { return nil }
func (a *Artifact) Id() string        { return a.ImageID }
func (a *Artifact) String() string {
	return fmt.Sprintf("OpenStack image %s (%s)", a.ImageName, a.ImageID)
}
func (a *Artifact) State(name string) interface{} {
	if name == "generated_data" {
		return a.generated
	}
	return nil
}

// Destroy deletes the image.
func (a *Artifact) Destroy() error {
	if a.clients == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return cloud.DeleteImage(ctx, a.clients.Image, a.ImageID)
}
