// Package ec2common holds the Packer pieces the EC2 faces share (chromogenic-ec2,
// chromogenic-ec2-import, chromogenic-ec2-image), as packer-plugin-amazon's builder/common
// does: the access configuration (credentials, region, endpoints), the registration options,
// the `eucalyptus` block with its keys, how a new EMI boots (HVM, or paravirtual with an
// eki/eri) and the eucarc defaults of a Eucalyptus template, the artifact of a registered
// AMI, and UIReport,
// which shows the EC2 adapter's reports (internal/cloud/ec2.Report) on Packer's UI.
//
// It trusts the template as validated by the Prepare methods and the key files they load
// (the keys are checked against their certificates), and, for templates with a `eucalyptus`
// block only, the eucarc variables of the environment Packer runs in, checked as the fields
// they fill; everything cloud-side goes through
// internal/cloud/ec2. It imports no face: builders, post-processors and data sources import it.
package ec2common
