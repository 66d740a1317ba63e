// Package convert is the chromogenic-convert post-processor: it writes the image of any
// artifact that carries a local disk image into one or more formats (raw, qcow2, VMDK, VHD,
// OVA), streaming through the image engine, with checksum files and progress in Packer's UI.
// With a bootable block it first makes the image a stand-alone bootable disk
// (internal/bootable) and writes every format from that.
package convert

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
	"github.com/chromogenic/packer-plugin-chromogenic/common/postprocess"
	"github.com/chromogenic/packer-plugin-chromogenic/common/progress"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/bootable"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/hostfile"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/ova"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// BuilderID identifies artifacts of this post-processor.
const BuilderID = "chromogenic.post-processor.convert"

// PostProcessor is chromogenic-convert.
type PostProcessor struct {
	config Config
}

func (p *PostProcessor) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

func (p *PostProcessor) Configure(raws ...interface{}) error { return p.config.Prepare(raws...) }

type nameData struct {
	BuildName string
	Name      string
}

func (p *PostProcessor) PostProcess(ctx context.Context, ui packersdk.Ui, in packersdk.Artifact) (packersdk.Artifact, bool, bool, error) {
	// A later chain of an interrupted build must not start writing (internal/interrupt).
	ctx, stop, err := postprocess.Start(ctx, "chromogenic-convert")
	if err != nil {
		return nil, false, false, err
	}
	defer stop()
	srcPaths, srcFormat, err := artifact.LocalImages(in)
	if err != nil {
		return nil, false, false, err
	}
	srcPath := srcPaths[0]
	outDir := p.config.OutputDir
	if outDir == "" {
		outDir = filepath.Dir(srcPath)
	}
	if _, err := hostfile.MkdirAll(outDir, hostfile.DirMode(p.config.hostFileMode())); err != nil {
		return nil, false, false, fmt.Errorf("output_directory: %w", err)
	}
	base := strings.TrimSuffix(filepath.Base(srcPath), filepath.Ext(srcPath))
	ictx := p.config.ctx
	ictx.Data = &nameData{BuildName: p.config.PackerBuildName, Name: base}
	name, err := interpolate.Render(p.config.FileName, &ictx)
	if err != nil {
		return nil, false, false, fmt.Errorf("file_name: %w", err)
	}

	srcAbs, _ := filepath.Abs(srcPath)
	// The provenance record starts from the input's (checked against the SHA-256 it gives).
	inRec, inProv, err := artifact.ProvenanceOf(in)
	if err != nil {
		return nil, false, false, err
	}
	rec := provenance.FromFile("chromogenic-convert", inRec, inProv.Path, inProv.SHA256, srcAbs)
	imagePath, imageFormat, ovaFirmware := srcPath, srcFormat, p.config.OVA.Firmware
	if b := p.config.Bootable; b != nil {
		tmp := filepath.Join(outDir, "."+name+".bootable.raw")
		defer os.Remove(tmp)
		res, err := p.makeBootable(ctx, ui, in, srcPaths, srcFormat, tmp)
		if err != nil {
			return nil, false, false, err
		}
		imagePath, imageFormat, ovaFirmware = tmp, "raw", ovaFirmwareFor(b.Firmware)
		rec.Boot = res.Provenance()
	}
	// A builder's working copy and the bootable disk are raw by declaration: their first
	// sector is the guest's, never probed.
	src, err := diskimage.OpenFormat(imagePath, imageFormat)
	if err != nil {
		return nil, false, false, fmt.Errorf("open input image %s: %w", imagePath, err)
	}
	defer src.Close()
	others, err := openOtherDisks(srcPaths[1:], srcFormat)
	if err != nil {
		return nil, false, false, err
	}
	defer closeAll(others)
	if len(others) > 0 {
		ui.Say(fmt.Sprintf("The guest has %d disks: the boot disk %s and %s", len(srcPaths), srcPath, strings.Join(srcPaths[1:], ", ")))
	}

	art := &Artifact{ByFormat: map[string]string{}, DisksByFormat: map[string][]string{}}
	for _, format := range p.config.Formats {
		fm, err := diskimage.Lookup(format)
		if err != nil {
			return nil, false, false, err
		}
		out := filepath.Join(outDir, name+fm.Extension())
		if abs, _ := filepath.Abs(out); abs == srcAbs {
			return nil, false, false, fmt.Errorf("output %s would overwrite the input image; set file_name or output_directory", out)
		}
		ui.Say(fmt.Sprintf("Converting %s (%s) to %s: %s", imagePath, src.Format(), format, out))
		osRelease, _ := in.State(artifact.OSRelease).(string)
		if err := p.convertOne(ctx, ui, src, out, format, osRelease, ovaFirmware, others); err != nil {
			art.Destroy()
			return nil, false, false, err
		}
		art.ByFormat[format] = out
		outs := []string{out}
		if format != "ova" { // an appliance holds every disk; other formats have a file per disk
			for i, o := range others {
				disk := filepath.Join(outDir, fmt.Sprintf("%s-disk%d%s", name, i+2, fm.Extension()))
				if abs, _ := filepath.Abs(disk); isInput(abs, srcPaths) {
					art.Destroy()
					os.Remove(out)
					return nil, false, false, fmt.Errorf("output %s would overwrite an input image; set file_name or output_directory", disk)
				}
				ui.Say(fmt.Sprintf("Converting disk %d, %s, to %s: %s", i+2, srcPaths[i+1], format, disk))
				if err := p.convertOne(ctx, ui, o, disk, format, osRelease, ovaFirmware, nil); err != nil {
					art.Destroy()
					for _, f := range outs {
						os.Remove(f)
					}
					return nil, false, false, err
				}
				outs = append(outs, disk)
			}
		}
		for i, f := range outs {
			art.Paths = append(art.Paths, f)
			o, err := provenance.FileOutput(f, format, i)
			if err != nil {
				art.Destroy()
				return nil, false, false, err
			}
			rec.Outputs = append(rec.Outputs, o)
			for _, ct := range p.config.ChecksumTypes {
				sumFile, err := writeChecksum(f, strings.ToLower(ct), p.config.hostFileMode(), o.SHA256)
				if err != nil {
					art.Destroy()
					return nil, false, false, err
				}
				art.Paths = append(art.Paths, sumFile)
			}
		}
		art.DisksByFormat[format] = outs
	}
	art.Formats = p.config.Formats
	recPath := provenance.SidecarPath(art.ByFormat[art.Formats[0]])
	art.Paths = append(art.Paths, recPath)
	if art.Provenance, err = artifact.WriteProvenance(rec, recPath, p.config.hostFileMode()); err != nil {
		art.Destroy()
		return nil, false, false, err
	}
	ui.Say("Provenance record written: " + recPath)
	art.ChecksumTypes = p.config.ChecksumTypes
	art.Input, art.SourceImage = in.Id(), artifact.HCPSourceOf(in)
	if gd := in.State("generated_data"); gd != nil {
		art.GeneratedData = gd
	}
	// The input (a builder's working copy) is deleted unless the template sets Packer's own
	// keep_input_artifact.
	return art, false, false, nil
}

// convertOne writes out with diskimage.WriteFile: through a temporary name, renamed when
// complete and synced, so an interrupted conversion never leaves a file that looks finished.
// others are the other disks of a guest on several disks, for an OVA (which holds them all).
func (p *PostProcessor) convertOne(ctx context.Context, ui packersdk.Ui, src diskimage.Image, out, format, osRelease, firmware string, others []diskimage.Image) error {
	total := src.Size()
	if format == "ova" {
		for _, o := range others {
			total += o.Size()
		}
	}
	bar := progress.New(ui, filepath.Base(out), total)
	opts := p.config.writeOptions(format)
	opts.ExtentName = filepath.Base(out)
	opts.Progress = bar.Update
	ovaOpts := p.ovaOptions(out, osRelease, firmware)
	ovaOpts.ExtraDisks = others
	opts.FormatOptions = map[string]any{"ova": ovaOpts}
	err := diskimage.WriteFile(ctx, src, out, format, p.config.hostFileMode(), opts)
	bar.Close()
	if err != nil {
		return fmt.Errorf("convert to %s: %w", format, err)
	}
	return nil
}

// makeBootable writes the stand-alone bootable disk of the boot disk srcPaths[0] to dst; the
// guest's other disks (srcPaths[1:]) are read so that its fstab names what is on them by
// UUID. The external kernel and ramdisk come from the configuration, else from the
// artifact's kernel_path and ramdisk_path.
func (p *PostProcessor) makeBootable(ctx context.Context, ui packersdk.Ui, in packersdk.Artifact, srcPaths []string, srcFormat, dst string) (*bootable.Result, error) {
	srcPath := srcPaths[0]
	b := p.config.Bootable
	kernel, ramdisk := b.Kernel, b.Ramdisk
	if kernel == "" {
		kernel, _ = in.State(bootable.StateKernelPath).(string)
		if ramdisk == "" {
			ramdisk, _ = in.State(bootable.StateRamdiskPath).(string)
		}
	}
	// The root the builder mounted, when its template chose it (root_partition, root_volume,
	// root_subvolume). The block's partition or volume replaces both of the state's: the two
	// name the root one way or the other.
	rootPartition, rootVolume, rootSubvolume := b.RootPartition, b.RootVolume, b.RootSubvolume
	if rootPartition == 0 && rootVolume == "" {
		var err error
		if rootPartition, err = bootable.StateRootPartitionValue(in.State(bootable.StateRootPartition)); err != nil {
			return nil, err
		}
		rootVolume, _ = in.State(bootable.StateRootVolume).(string)
	}
	if rootSubvolume == "" {
		rootSubvolume, _ = in.State(bootable.StateRootSubvolume).(string)
	}
	if err := bootable.ValidateRoot("root_volume (bootable.root_volume or the artifact's state)", rootVolume,
		"root_subvolume (bootable.root_subvolume or the artifact's state)", rootSubvolume); err != nil {
		return nil, err
	}
	if err := bootable.ValidateRootPartition("root_partition (bootable.root_partition or the artifact's state)", rootPartition,
		"root_volume", rootVolume); err != nil {
		return nil, err
	}
	var extra int64
	if b.ExtraSize != "" {
		var err error
		if extra, err = bootable.ParseSize(b.ExtraSize); err != nil {
			return nil, fmt.Errorf("bootable.extra_size: %w", err)
		}
	}
	msg := fmt.Sprintf("Making %s a stand-alone bootable disk (firmware %s)", srcPath, b.Firmware)
	if kernel != "" {
		msg += ", external kernel " + kernel
	}
	if rootPartition != 0 {
		msg += fmt.Sprintf(", root partition %d", rootPartition)
	}
	if rootVolume != "" {
		msg += ", root volume " + rootVolume
	}
	if rootSubvolume != "" {
		msg += ", root subvolume " + rootSubvolume
	}
	ui.Say(msg)
	res, err := bootable.Make(ctx, srcPath, dst, bootable.Options{SourceFormat: srcFormat, OtherDisks: srcPaths[1:], Firmware: b.Firmware, LVM: b.LVM, Kernel: kernel, Ramdisk: ramdisk,
		Bootloader: b.Bootloader, ExtraSize: extra, RootPartition: rootPartition, RootVolume: rootVolume, RootSubvolume: rootSubvolume, WorkDir: filepath.Dir(dst), TrustGuest: p.config.Sandbox != nil && !*p.config.Sandbox,
		Logf: func(f string, a ...any) { ui.Message(fmt.Sprintf(f, a...)) }})
	if err != nil {
		return nil, err
	}
	ui.Say(fmt.Sprintf("Bootable disk ready: %s table, kernel %s, %s; root UUID %s", res.PartitionType, res.KernelVersion,
		strings.Join(res.Bootloaders, " + "), res.RootUUID))
	return res, nil
}

// ovaOptions are the options of an OVF 1.0 appliance written to out (the ova writer's, in
// WriteOptions.FormatOptions); the guest OS type comes from its os-release.
func (p *PostProcessor) ovaOptions(out, osRelease, firmware string) ova.Options {
	o := p.config.OVA
	name := o.Name
	if name == "" {
		base := filepath.Base(out)
		name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	opts := ova.Options{Name: name, CPUs: o.CPUs, MemoryMiB: o.Memory, Firmware: firmware,
		Controller: o.Controller, Hash: o.Hash, Profile: o.Profile, HardwareVersion: o.HardwareVersion,
		Workers: p.config.Workers}
	if osRelease != "" {
		if rel, err := ova.ParseOSRelease(strings.NewReader(osRelease)); err == nil {
			opts.OS = &rel
		}
	}
	return opts
}

func newHash(kind string) hash.Hash {
	switch kind {
	case "sha512":
		return sha512.New()
	case "sha1":
		return sha1.New()
	case "md5":
		return md5.New()
	}
	return sha256.New()
}

// writeChecksum writes path.<kind> in the `sha256sum` format and returns its path; sha256 is
// the file's SHA-256 when already known (not read again).
func writeChecksum(path, kind string, perm os.FileMode, sha256 string) (string, error) {
	sum := sha256
	if kind != "sha256" || sum == "" {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		h := newHash(kind)
		if _, err := io.Copy(h, f); err != nil {
			return "", fmt.Errorf("checksum %s: %w", path, err)
		}
		sum = hex.EncodeToString(h.Sum(nil))
	}
	sumFile := path + "." + kind
	line := fmt.Sprintf("%s  %s\n", sum, filepath.Base(path))
	if err := hostfile.WriteFile(sumFile, []byte(line), perm); err != nil {
		return "", err
	}
	return sumFile, nil
}

// Artifact lists the files chromogenic-convert wrote.
type Artifact struct {
	Paths         []string
	Formats       []string
	ByFormat      map[string]string
	GeneratedData interface{}
	// For the HCP Packer metadata: the checksum files written, the input artifact's ID and
	// the source image its own metadata records.
	ChecksumTypes      []string
	Input, SourceImage string

	// Provenance is the record written beside the first format's file (also in Paths).
	Provenance artifact.Provenance

	// DisksByFormat lists, per format, the file of every disk of a guest on several disks,
	// boot disk first (<name><ext>, <name>-disk2<ext>...; an OVA is one file holding them
	// all). The image_paths state is the first format's list.
	DisksByFormat map[string][]string
}

func (a *Artifact) BuilderId() string { return BuilderID }
func (a *Artifact) Files() []string   { return a.Paths }
func (a *Artifact) Id() string        { return strings.Join(a.Formats, ",") }
func (a *Artifact) String() string {
	var s []string
	for _, f := range a.Formats {
		s = append(s, fmt.Sprintf("%s: %s", f, a.ByFormat[f]))
	}
	return "Converted disk images: " + strings.Join(s, ", ")
}

// State answers image_path / image_format with the first format written, so a following
// post-processor (an import) picks it up, and generated_data of the build.
func (a *Artifact) State(name string) interface{} {
	switch name {
	case artifact.ImagePath:
		if len(a.Formats) > 0 {
			return a.ByFormat[a.Formats[0]]
		}
	case artifact.ImageFormat:
		if len(a.Formats) > 0 {
			return a.Formats[0]
		}
	case "generated_data":
		return a.GeneratedData
	case "files_by_format":
		return a.ByFormat
	case artifact.ImagePaths:
		if len(a.Formats) > 0 && len(a.DisksByFormat[a.Formats[0]]) > 1 {
			return a.DisksByFormat[a.Formats[0]]
		}
	case registryimage.ArtifactStateURI:
		return a.hcpImages()
	case artifact.StateProvenance:
		return a.Provenance.Path
	case artifact.StateProvenanceSHA256:
		return a.Provenance.SHA256
	case artifact.StateProvenanceInfo:
		return a.Provenance.Summary
	}
	return nil
}

// hcpImages is the HCP Packer metadata: one local file per format written, with the
// checksum of the first checksum file that names it.
func (a *Artifact) hcpImages() []*registryimage.Image {
	var imgs []*registryimage.Image
	for _, f := range a.Formats {
		sum := ""
		for _, ct := range a.ChecksumTypes {
			if sum = artifact.ChecksumFile(a.ByFormat[f], strings.ToLower(ct)); sum != "" {
				break
			}
		}
		imgs = append(imgs, artifact.HCPLocalImage(BuilderID, a.ByFormat[f], f, sum, a.SourceImage,
			a.Provenance.Labels(map[string]string{artifact.LabelInput: a.Input})))
	}
	return imgs
}

func (a *Artifact) Destroy() error {
	var errs []error
	for _, p := range a.Paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
