package ec2

import (
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact/hcptest"
	ec2common "github.com/chromogenic/packer-plugin-chromogenic/common/ec2"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
)

// TestArtifactHCP: an instance capture records the instance and the AMI it was launched from
// (not the intermediate AMI in source_image); an AMI capture records that AMI; a Eucalyptus
// config makes the provider eucalyptus.
func TestArtifactHCP(t *testing.T) {
	work := filepath.Join(t.TempDir(), "w.raw")
	for _, c := range []struct {
		name           string
		instance       *types.Instance
		euca           bool
		src, inst, pro string
	}{
		{"instance", &types.Instance{InstanceId: aws.String("i-1"), ImageId: aws.String("ami-launch")}, false, "ami-launch", "i-1", "aws"},
		{"ami-euca", nil, true, "ami-intermediate", "", "eucalyptus"},
	} {
		t.Run(c.name, func(t *testing.T) {
			state := new(multistep.BasicStateBag)
			cfg := &Config{}
			if c.euca {
				cfg.Eucalyptus = &ec2common.EucalyptusConfig{}
			}
			state.Put("config", cfg)
			state.Put("clients", &cloud.Clients{Region: "r1"})
			state.Put("ami", "ami-new")
			state.Put("snapshot_id", "snap-1")
			state.Put("source_image", &types.Image{ImageId: aws.String("ami-intermediate")})
			if c.instance != nil {
				state.Put("instance", c.instance)
			}
			state.Put(bcommon.StateWorkingImage, work)
			imgs := hcptest.Images(t, newArtifact(state))
			if len(imgs) != 2 {
				t.Fatalf("%d images: %+v", len(imgs), imgs)
			}
			g, l := imgs[0], imgs[1]
			if g.ImageID != "ami-new" || g.ProviderName != c.pro || g.ProviderRegion != "r1" || g.SourceImageID != c.src ||
				g.Labels["source_instance"] != c.inst || g.Labels["snapshot_id"] != "snap-1" {
				t.Errorf("AMI image %+v", g)
			}
			if l.ImageID != work || l.ProviderName != "local" || l.SourceImageID != c.src {
				t.Errorf("working copy image %+v", l)
			}
		})
	}
}
