package ec2

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Disk is one EBS block-device mapping of an image: a disk a capture of every disk
// (disks = "all") brings home and a publication maps again at the same device name.
type Disk struct {
	Device              string // /dev/xvda, /dev/sdf...
	SnapshotID          string
	VolumeSizeGiB       int64
	VolumeType          string
	DeleteOnTermination *bool
	Iops, Throughput    int32 // 0: the volume type's default
	Root                bool
}

// ImageDisks lists the EBS disks of an image in the order the guest's kernel names them:
// the root device first, then the others by device name (sdb < sdc < ... < sdz < sdaa; the
// sd, xvd, hd and vd spellings of one letter sort together). Mappings that are no EBS
// snapshot are skipped, each with a line in skipped saying why: instance-store (ephemeral)
// volumes, NoDevice suppressions, and EBS mappings without a snapshot (an empty volume
// made at launch). An image without a root snapshot is an error.
func ImageDisks(im *types.Image) (disks []Disk, skipped []string, err error) {
	root := aws.ToString(im.RootDeviceName)
	for _, b := range im.BlockDeviceMappings {
		dev := aws.ToString(b.DeviceName)
		switch {
		case b.NoDevice != nil:
			skipped = append(skipped, fmt.Sprintf("%s: NoDevice (suppressed mapping)", dev))
		case aws.ToString(b.VirtualName) != "" || b.Ebs == nil:
			skipped = append(skipped, fmt.Sprintf("%s: instance store %s (ephemeral, not captured)", dev, aws.ToString(b.VirtualName)))
		case aws.ToString(b.Ebs.SnapshotId) == "":
			skipped = append(skipped, fmt.Sprintf("%s: EBS volume without a snapshot (made empty at launch)", dev))
		default:
			d := Disk{Device: dev, SnapshotID: aws.ToString(b.Ebs.SnapshotId), VolumeSizeGiB: int64(aws.ToInt32(b.Ebs.VolumeSize)),
				VolumeType: string(b.Ebs.VolumeType), DeleteOnTermination: b.Ebs.DeleteOnTermination, Root: dev == root,
				Iops: aws.ToInt32(b.Ebs.Iops), Throughput: aws.ToInt32(b.Ebs.Throughput)}
			disks = append(disks, d)
		}
	}
	SortDisks(disks)
	if len(disks) == 0 || !disks[0].Root {
		_, _, err := RootSnapshot(im)
		if err == nil {
			err = fmt.Errorf("image %s: no EBS disk at its root device %s", aws.ToString(im.ImageId), root)
		}
		return nil, skipped, err
	}
	return disks, skipped, nil
}

// SortDisks orders disks as ImageDisks does: the root first, then by DeviceOrder.
func SortDisks(disks []Disk) {
	sort.SliceStable(disks, func(i, j int) bool {
		if disks[i].Root != disks[j].Root {
			return disks[i].Root
		}
		return DeviceLess(disks[i].Device, disks[j].Device)
	})
}

// deviceKey splits a device name into the kernel's order: the disk letters (shorter first,
// then alphabetical: sdz before sdaa) and the partition number; the spelling prefix (sd,
// xvd, hd, vd) and /dev/ do not count.
func deviceKey(dev string) (letters string, part int, rest string) {
	name := strings.TrimPrefix(dev, "/dev/")
	for _, p := range []string{"xvd", "sd", "hd", "vd"} {
		if strings.HasPrefix(name, p) {
			name = name[len(p):]
			break
		}
	}
	i := 0
	for i < len(name) && name[i] >= 'a' && name[i] <= 'z' {
		i++
	}
	letters = name[:i]
	if n, err := strconv.Atoi(name[i:]); err == nil {
		return letters, n, ""
	}
	return letters, 0, name[i:]
}

// DeviceLess tells whether device a comes before b in the kernel's order.
func DeviceLess(a, b string) bool {
	la, pa, ra := deviceKey(a)
	lb, pb, rb := deviceKey(b)
	switch {
	case len(la) != len(lb):
		return len(la) < len(lb)
	case la != lb:
		return la < lb
	case pa != pb:
		return pa < pb
	case ra != rb:
		return ra < rb
	}
	return a < b
}

// OtherDeviceNames names n more disks after the root device, in its spelling: /dev/xvda →
// /dev/xvdb, /dev/xvdc...; /dev/sda1 → /dev/sdb, /dev/sdc... (the letters after the root's).
func OtherDeviceNames(root string, n int) []string {
	if root == "" {
		root = "/dev/xvda"
	}
	name := strings.TrimPrefix(root, "/dev/")
	prefix := "xvd"
	for _, p := range []string{"xvd", "sd", "hd", "vd"} {
		if strings.HasPrefix(name, p) {
			prefix = p
			break
		}
	}
	letters, _, _ := deviceKey(root)
	idx := letterIndex(letters)
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, "/dev/"+prefix+indexLetters(idx+i))
	}
	return out
}

// letterIndex is the kernel's disk index of letters: a=0 ... z=25, aa=26...
func letterIndex(letters string) int {
	if letters == "" {
		return 0
	}
	n := 0
	for _, c := range letters {
		n = n*26 + int(c-'a') + 1
	}
	return n - 1
}

func indexLetters(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('a'+(i-1)%26)) + s
	}
	return s
}
