package ec2emu

import (
	"regexp"
)

// Share lists: the createVolumePermission of snapshots (ModifySnapshotAttribute,
// DescribeSnapshotAttribute) and the organization ARNs of image launch permissions (the
// accounts and "all" of images are in the image itself; ec2_images.go).

var (
	orgARN = regexp.MustCompile(`^arn:aws[a-z-]*:organizations::\d{12}:organization/o-[a-z0-9]{10,32}$`)
	ouARN  = regexp.MustCompile(`^arn:aws[a-z-]*:organizations::\d{12}:ou/o-[a-z0-9]{10,32}/ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$`)
)

// launchARNs applies the OrganizationArn and OrganizationalUnitArn members of
// LaunchPermission.Add.N / Remove.N to an image.
func (st *state) launchARNs(p params, imageID string) *apiError {
	rg := st.rg()
	for _, mod := range []string{"Add", "Remove"} {
		for _, lp := range p.sub("LaunchPermission").list(mod) {
			for field, re := range map[string]*regexp.Regexp{"OrganizationArn": orgARN, "OrganizationalUnitArn": ouARN} {
				arn := lp.get(field)
				if arn == "" {
					continue
				}
				if !re.MatchString(arn) {
					return errf(400, "InvalidParameterValue", "Value (%s) for parameter %s is invalid.", arn, field)
				}
				if rg.launchARNs[imageID] == nil {
					rg.launchARNs[imageID] = map[string]bool{}
				}
				if mod == "Add" {
					rg.launchARNs[imageID][arn] = true
				} else {
					delete(rg.launchARNs[imageID], arn)
				}
			}
		}
	}
	return nil
}

// launchARNList is the launchPermission items of an image's organization ARNs.
func (st *state) launchARNList(imageID string) []xLaunchPermission {
	var out []xLaunchPermission
	for _, arn := range sortedKeys(st.rg().launchARNs[imageID]) {
		if orgARN.MatchString(arn) {
			out = append(out, xLaunchPermission{OrganizationArn: arn})
		} else {
			out = append(out, xLaunchPermission{OrganizationalUnitArn: arn})
		}
	}
	return out
}

// modifySnapshotAttribute adds or removes createVolumePermission entries (accounts, or the
// group "all"), in the CreateVolumePermission.Add.N form or the older OperationType,
// UserId.N, UserGroup.N form.
func (rc *reqCtx) modifySnapshotAttribute(p params) (any, *apiError) {
	st := rc.s.st
	sn := st.snapshots[p.get("SnapshotId")]
	if sn == nil {
		return nil, errf(400, "InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", p.get("SnapshotId"))
	}
	if a := p.get("Attribute"); a != "" && a != "createVolumePermission" {
		return nil, errf(400, "InvalidParameterValue", "attribute %s is not supported by the emulator", a)
	}
	rg := st.rg()
	apply := func(add bool, users, groups []string) *apiError {
		for _, g := range groups {
			if g != "all" {
				return errf(400, "InvalidParameterValue", "Invalid value '%s' for groupName", g)
			}
		}
		for _, u := range users {
			if !accountID.MatchString(u) {
				return errf(400, "InvalidUserID.Malformed", "User ID '%s' is invalid", u)
			}
		}
		if rg.volumePerms[sn.id] == nil {
			rg.volumePerms[sn.id] = map[string]bool{}
		}
		for _, who := range append(users, groups...) {
			if add {
				rg.volumePerms[sn.id][who] = true
			} else {
				delete(rg.volumePerms[sn.id], who)
			}
		}
		return nil
	}
	if op := p.get("OperationType"); op != "" {
		if op != "add" && op != "remove" {
			return nil, errf(400, "InvalidParameterValue", "Invalid operationType %s", op)
		}
		if ae := apply(op == "add", p.strings("UserId"), p.strings("GroupName")); ae != nil {
			return nil, ae
		}
	}
	for _, mod := range []string{"Add", "Remove"} {
		var users, groups []string
		for _, cp := range p.sub("CreateVolumePermission").list(mod) {
			if u := cp.get("UserId"); u != "" {
				users = append(users, u)
			}
			if g := cp.get("Group"); g != "" {
				groups = append(groups, g)
			}
		}
		if ae := apply(mod == "Add", users, groups); ae != nil {
			return nil, ae
		}
	}
	return nil, nil
}

var accountID = regexp.MustCompile(`^\d{12}$`)

type xVolumePermission struct {
	UserID string `xml:"userId,omitempty"`
	Group  string `xml:"group,omitempty"`
}

// describeSnapshotAttribute answers createVolumePermission (and productCodes, empty).
func (rc *reqCtx) describeSnapshotAttribute(p params) (any, *apiError) {
	st := rc.s.st
	sn := st.snapshots[p.get("SnapshotId")]
	if sn == nil {
		return nil, errf(400, "InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", p.get("SnapshotId"))
	}
	type out struct {
		SnapshotID             string              `xml:"snapshotId"`
		CreateVolumePermission []xVolumePermission `xml:"createVolumePermission>item,omitempty"`
		ProductCodes           *struct{}           `xml:"productCodes,omitempty"`
	}
	o := out{SnapshotID: sn.id}
	switch a := p.get("Attribute"); a {
	case "createVolumePermission":
		perms := st.rg().volumePerms[sn.id]
		if perms["all"] {
			o.CreateVolumePermission = append(o.CreateVolumePermission, xVolumePermission{Group: "all"})
		}
		for _, u := range sortedKeys(perms) {
			if u != "all" {
				o.CreateVolumePermission = append(o.CreateVolumePermission, xVolumePermission{UserID: u})
			}
		}
	case "productCodes":
		o.ProductCodes = &struct{}{}
	default:
		return nil, errf(400, "InvalidParameterValue", "Value (%s) for parameter attribute is invalid.", a)
	}
	return o, nil
}
