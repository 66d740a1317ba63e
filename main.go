// Command packer-plugin-chromogenic is the Packer plugin binary: it registers the chromogenic
// builders, provisioner, post-processors and datasources with Packer.
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/packer-plugin-sdk/plugin"

	ec2builder "github.com/chromogenic/packer-plugin-chromogenic/builder/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/builder/local"
	"github.com/chromogenic/packer-plugin-chromogenic/builder/openstack"
	ec2image "github.com/chromogenic/packer-plugin-chromogenic/datasource/ec2-image"
	openstackimage "github.com/chromogenic/packer-plugin-chromogenic/datasource/openstack-image"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/interrupt"
	"github.com/chromogenic/packer-plugin-chromogenic/post-processor/convert"
	ec2import "github.com/chromogenic/packer-plugin-chromogenic/post-processor/ec2-import"
	openstackimport "github.com/chromogenic/packer-plugin-chromogenic/post-processor/openstack-import"
	"github.com/chromogenic/packer-plugin-chromogenic/provisioner/clean"
	"github.com/chromogenic/packer-plugin-chromogenic/version"
)

func main() {
	// Hidden entry: the chromogenic-clean provisioner's live mode uploads this binary to the
	// guest and runs its cleaning engine there (never passed by Packer).
	if len(os.Args) > 1 && os.Args[1] == clean.GuestCommand {
		os.Exit(clean.GuestMain(os.Args[2:], os.Stdout, os.Stderr))
	}
	// Packer goes on with later post-processor chains after Ctrl-C with a context that may
	// never end (internal/interrupt): the post-processors also watch the signal themselves.
	interrupt.Watch()
	pps := plugin.NewSet()
	pps.RegisterBuilder("local", new(local.Builder))
	pps.RegisterBuilder("openstack", new(openstack.Builder))
	pps.RegisterBuilder("ec2", new(ec2builder.Builder))
	pps.RegisterProvisioner("clean", new(clean.Provisioner))
	pps.RegisterPostProcessor("convert", new(convert.PostProcessor))
	pps.RegisterPostProcessor("openstack-import", new(openstackimport.PostProcessor))
	pps.RegisterPostProcessor("ec2-import", new(ec2import.PostProcessor))
	pps.RegisterDatasource("openstack-image", new(openstackimage.Datasource))
	pps.RegisterDatasource("ec2-image", new(ec2image.Datasource))
	pps.SetVersion(version.PluginVersion)
	if err := pps.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err.Error())
		os.Exit(1)
	}
}
