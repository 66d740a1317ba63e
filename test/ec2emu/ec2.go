package ec2emu

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

const isoMillis = "2006-01-02T15:04:05.000Z"

type ec2Handler func(rc *reqCtx, p params) (any, *apiError)

var ec2Actions map[string]ec2Handler

func init() {
	ec2Actions = map[string]ec2Handler{
		"DescribeInstances":           (*reqCtx).describeInstances,
		"StopInstances":               (*reqCtx).stopInstances,
		"StartInstances":              (*reqCtx).startInstances,
		"DescribeImages":              (*reqCtx).describeImages,
		"CreateImage":                 (*reqCtx).createImage,
		"RegisterImage":               (*reqCtx).registerImage,
		"DeregisterImage":             (*reqCtx).deregisterImage,
		"CopyImage":                   (*reqCtx).copyImage,
		"ModifyImageAttribute":        (*reqCtx).modifyImageAttribute,
		"DescribeImageAttribute":      (*reqCtx).describeImageAttribute,
		"DescribeSnapshots":           (*reqCtx).describeSnapshots,
		"CreateSnapshot":              (*reqCtx).createSnapshot,
		"DeleteSnapshot":              (*reqCtx).deleteSnapshot,
		"CreateVolume":                (*reqCtx).createVolume,
		"AttachVolume":                (*reqCtx).attachVolume,
		"DetachVolume":                (*reqCtx).detachVolume,
		"DescribeVolumes":             (*reqCtx).describeVolumes,
		"DeleteVolume":                (*reqCtx).deleteVolume,
		"CreateTags":                  (*reqCtx).createTags,
		"DeleteTags":                  (*reqCtx).deleteTags,
		"DescribeTags":                (*reqCtx).describeTags,
		"ImportImage":                 (*reqCtx).importImage,
		"ImportSnapshot":              (*reqCtx).importSnapshot,
		"DescribeImportImageTasks":    (*reqCtx).describeImportImageTasks,
		"DescribeImportSnapshotTasks": (*reqCtx).describeImportSnapshotTasks,
		"ImportVolume":                (*reqCtx).importVolume,
		"DescribeConversionTasks":     (*reqCtx).describeConversionTasks,
		"BundleInstance":              (*reqCtx).bundleInstance,
		"DescribeBundleTasks":         (*reqCtx).describeBundleTasks,
		"CancelBundleTask":            (*reqCtx).cancelBundleTask,
		"DescribeRegions":             (*reqCtx).describeRegions,
		"ModifySnapshotAttribute":     (*reqCtx).modifySnapshotAttribute,
		"DescribeSnapshotAttribute":   (*reqCtx).describeSnapshotAttribute,
	}
}

// Parameters Eucalyptus 4.4 (EC2 API 2016-09-15) does not know; its query binding rejects
// unknown parameters.
var eucaUnknownParams = map[string]bool{
	"TagSpecification": true, "BootMode": true, "EnaSupport": true, "ImdsSupport": true,
	"TpmSupport": true, "UefiData": true, "BootModeOverride": true, "SnapshotLocation": true,
	"DeleteAssociatedSnapshots": true, "IncludeDeprecated": true, "IncludeDisabled": true,
	"CopyImageTags": true, "DestinationOutpostArn": true, "SnapshotCopyCompletionDurationMinutes": true,
	"IncludeManagedResources": true, "Operator": true, "LicenseSpecifications": true,
	"UsageOperation": true, "BillingProduct": true, "SkipOsShutdown": true, "Throughput": true,
	"MultiAttachEnabled": true, "OutpostArn": true, "VolumeInitializationRate": true,
	"DestinationAvailabilityZone": true, "DestinationAvailabilityZoneId": true, "OrganizationArn": true,
	"OrganizationalUnitArn": true, "EbsCardIndex": true, "AvailabilityZoneId": true,
}

func (s *Server) serveEC2(rc *reqCtx) {
	if rc.r.Method != http.MethodPost && rc.r.Method != http.MethodGet {
		rc.fail(errf(405, "InvalidAction", "method %s not allowed", rc.r.Method))
		return
	}
	body, ae := rc.readSmallBody()
	if ae != nil {
		rc.fail(ae)
		return
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if h := rc.r.Header.Get("X-Amz-Content-Sha256"); h != "" {
		if h != payloadHash {
			rc.fail(errf(400, "AuthFailure", "x-amz-content-sha256 does not match the body"))
			return
		}
	}
	si, err := s.verifySigV4(rc.r, payloadHash, false)
	if err != nil {
		rc.authFail(err)
		return
	}
	rc.sig = si
	p, ok := queryParams(rc, body)
	if !ok {
		return
	}
	rc.action = p.get("Action")
	if rc.action == "" {
		rc.fail(errf(400, "MissingAction", "The request must contain the parameter Action"))
		return
	}
	if p.get("Version") == "" {
		rc.fail(errf(400, "MissingParameter", "The request must contain the parameter Version"))
		return
	}
	if s.opts.Dialect == Eucalyptus {
		for k := range p.v {
			first, _, _ := strings.Cut(k, ".")
			if eucaUnknownParams[first] {
				rc.fail(errf(400, "UnknownParameter", "The parameter %s is not recognized", k))
				return
			}
		}
	}
	if rc.applyFault() {
		return
	}
	if ae := s.tagPolicy(rc.action, p); ae != nil { // ec2_encryption.go
		rc.fail(ae)
		return
	}
	h, ok := ec2Actions[rc.action]
	if !ok {
		rc.fail(errf(400, "InvalidAction", "The action %s is not valid for this web service.", rc.action))
		return
	}
	if dry, _ := p.boolean("DryRun"); dry {
		rc.fail(errf(412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set."))
		return
	}
	s.mu.Lock()
	s.st.tick()
	leave := rc.enterRegion()
	out, ae := h(rc, p)
	leave()
	s.mu.Unlock()
	if rc.applyAfterFault() {
		return
	}
	if ae != nil {
		rc.fail(ae)
		return
	}
	rc.ec2Reply(out)
}

// ec2Reply renders <ActionResponse xmlns><requestId/>...fields of out...</ActionResponse>.
func (rc *reqCtx) ec2Reply(out any) {
	var inner []byte
	if out != nil {
		var buf bytes.Buffer
		enc := xml.NewEncoder(&buf)
		if err := enc.EncodeElement(out, xml.StartElement{Name: xml.Name{Local: "x"}}); err != nil {
			rc.fail(errf(500, "InternalError", "marshal: %v", err))
			return
		}
		b := buf.Bytes()
		b = bytes.TrimPrefix(b, []byte("<x>"))
		b = bytes.TrimSuffix(b, []byte("</x>"))
		inner = b
	}
	type envelope struct {
		XMLName   xml.Name
		Xmlns     string `xml:"xmlns,attr"`
		RequestID string `xml:"requestId"`
		Inner     []byte `xml:",innerxml"`
	}
	rc.writeXML(200, envelope{XMLName: xml.Name{Local: rc.action + "Response"}, Xmlns: ec2Namespace, RequestID: rc.requestID, Inner: inner})
}

// ---- helpers ----

func (st *state) tagList(id string) []xTag {
	m := st.tags[id]
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]xTag, 0, len(keys))
	for _, k := range keys {
		out = append(out, xTag{Key: k, Value: m[k]})
	}
	return out
}

// tagSpecs returns the tags of TagSpecification.N for one resource type.
func tagSpecs(p params, resourceType string) map[string]string {
	out := map[string]string{}
	for _, ts := range p.list("TagSpecification") {
		if ts.get("ResourceType") != resourceType {
			continue
		}
		for _, t := range ts.list("Tag") {
			out[t.get("Key")] = t.get("Value")
		}
	}
	return out
}

func validTagSpecTypes(p params, allowed ...string) *apiError {
	for _, ts := range p.list("TagSpecification") {
		rt := ts.get("ResourceType")
		ok := false
		for _, a := range allowed {
			ok = ok || rt == a
		}
		if !ok {
			return errf(400, "InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", rt)
		}
	}
	return nil
}

// page applies MaxResults/NextToken to a sorted id list.
func page(p params, ids []string, minMax int) ([]string, string, *apiError) {
	start := 0
	if tok := p.get("NextToken"); tok != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "emu-"))
		if err != nil || n < 0 || n > len(ids) {
			return nil, "", errf(400, "InvalidPaginationToken", "The token '%s' is invalid.", tok)
		}
		start = n
	}
	max := int(p.int64("MaxResults"))
	if max == 0 || !p.has("MaxResults") {
		return ids[start:], "", nil
	}
	if max < minMax || max > 1000 {
		return nil, "", errf(400, "InvalidParameterValue", "Value (%d) for parameter maxResults is invalid. Expecting a value between %d and 1000.", max, minMax)
	}
	end := start + max
	if end >= len(ids) {
		return ids[start:], "", nil
	}
	return ids[start:end], "emu-" + strconv.Itoa(end), nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func stateCode(name string) int32 {
	switch name {
	case "pending":
		return 0
	case "running":
		return 16
	case "shutting-down":
		return 32
	case "terminated":
		return 48
	case "stopping":
		return 64
	case "stopped":
		return 80
	}
	return 0
}

func validName(name string) *apiError {
	if len(name) < 3 || len(name) > 128 {
		return errf(400, "InvalidAMIName.Malformed", "AMI names must be between 3 and 128 characters long")
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("()[] ./-'@_", c)) {
			return errf(400, "InvalidAMIName.Malformed", "AMI names may only contain letters, numbers, spaces and ()[] ./-'@_")
		}
	}
	return nil
}

func (st *state) nameTaken(owner, name string) bool {
	for _, im := range st.images {
		if im.ownerID == owner && im.name == name && im.state != "deregistered" {
			return true
		}
	}
	return false
}

// ---- instances ----

func (st *state) xInstance(in *instance) xInstance {
	x := xInstance{
		InstanceID: in.id, ImageID: in.imageID,
		InstanceState:  xInstanceState{Code: stateCode(in.state), Name: in.state},
		PrivateDNSName: "ip-" + strings.ReplaceAll(in.privateIP, ".", "-") + ".ec2.internal",
		InstanceType:   in.instanceType, LaunchTime: in.launch.Format(isoMillis),
		Placement:        xPlacement{AvailabilityZone: in.az, Tenancy: "default"},
		Monitoring:       xMonitoring{State: "disabled"},
		PrivateIPAddress: in.privateIP, Architecture: in.arch, RootDeviceType: "ebs",
		RootDeviceName: in.rootDevice, VirtualizationType: "hvm", TagSet: st.tagList(in.id),
		Hypervisor: "xen", EnaSupport: in.ena, BootMode: in.bootMode, CurrentInstanceBootMd: in.bootMode,
		PlatformDetails: "Linux/UNIX", UsageOperation: "RunInstances", UsageOperationUpdate: in.launch.Format(isoMillis),
		SubnetID: "subnet-0emu0000000000001", VpcID: "vpc-0emu00000000000001", IPAddress: publicIP(in.privateIP),
		SourceDestCheck: true, GroupSet: []xGroup{{GroupID: "sg-0emu0000000000001", GroupName: "default"}},
		MetadataOptions: xMetadata{State: "applied", HTTPTokens: "required", HTTPPutResponseHopLimit: 2,
			HTTPEndpoint: "enabled", HTTPProtocolIpv6: "disabled", InstanceMetadataTags: "disabled"},
	}
	for _, vid := range sortedKeys(st.volumes) {
		v := st.volumes[vid]
		if v.attInstance != in.id {
			continue
		}
		x.BlockDeviceMapping = append(x.BlockDeviceMapping, xInstanceBDM{DeviceName: v.attDevice, Ebs: xInstanceEbs{
			VolumeID: v.id, Status: "attached", AttachTime: v.attTime.Format(isoMillis), DeleteOnTermination: v.deleteOnTermination,
		}})
	}
	if in.rootDisk != "" {
		x.RootDeviceType = "instance-store"
	}
	return x
}

func (rc *reqCtx) describeInstances(p params) (any, *apiError) {
	st := rc.s.st
	match, ae := describe(p, st.instances, "InstanceId", func(id string) *apiError {
		return errf(400, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
	}, nil, func(in *instance, name string) ([]string, bool) {
		switch name {
		case "instance-id":
			return []string{in.id}, true
		case "instance-state-name":
			return []string{in.state}, true
		case "instance-state-code":
			return []string{strconv.Itoa(int(stateCode(in.state)))}, true
		case "image-id":
			return []string{in.imageID}, true
		case "instance-type":
			return []string{in.instanceType}, true
		case "availability-zone":
			return []string{in.az}, true
		case "private-ip-address":
			return []string{in.privateIP}, true
		case "architecture":
			return []string{in.arch}, true
		}
		return nil, false
	}, st.tags)
	if ae != nil {
		return nil, ae
	}
	pg, next, ae := page(p, match, 5)
	if ae != nil {
		return nil, ae
	}
	out := struct {
		Reservations []xReservation `xml:"reservationSet>item"`
		NextToken    string         `xml:"nextToken,omitempty"`
	}{NextToken: next}
	for _, id := range pg {
		out.Reservations = append(out.Reservations, xReservation{
			ReservationID: "r-" + strings.TrimPrefix(id, "i-"), OwnerID: rc.s.AccountID,
			InstancesSet: []xInstance{st.xInstance(st.instances[id])},
		})
	}
	return out, nil
}

type xStateChange struct {
	InstanceID    string         `xml:"instanceId"`
	CurrentState  xInstanceState `xml:"currentState"`
	PreviousState xInstanceState `xml:"previousState"`
}

func (rc *reqCtx) setInstanceState(p params, to, reported string) (any, *apiError) {
	st := rc.s.st
	var out struct {
		Items []xStateChange `xml:"instancesSet>item"`
	}
	for _, id := range p.strings("InstanceId") {
		in := st.instances[id]
		if in == nil {
			return nil, errf(400, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
		}
		prev := in.state
		in.state = to
		out.Items = append(out.Items, xStateChange{InstanceID: id,
			CurrentState:  xInstanceState{Code: stateCode(reported), Name: reported},
			PreviousState: xInstanceState{Code: stateCode(prev), Name: prev}})
	}
	return out, nil
}

func (rc *reqCtx) stopInstances(p params) (any, *apiError) {
	return rc.setInstanceState(p, "stopped", "stopping")
}

func (rc *reqCtx) startInstances(p params) (any, *apiError) {
	return rc.setInstanceState(p, "running", "pending")
}

// publicIP derives a documentation-range public address from the private one.
func publicIP(private string) string {
	parts := strings.Split(private, ".")
	return "203.0.113." + parts[len(parts)-1]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// queryParams reads a query API request's parameters: the URL query, and for POST the form
// body too. A malformed body is answered (MalformedQueryString) and ok is false.
func queryParams(rc *reqCtx, body []byte) (p params, ok bool) {
	vals := rc.r.URL.Query()
	if rc.r.Method == http.MethodPost {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			rc.fail(errf(400, "MalformedQueryString", "%v", err))
			return params{}, false
		}
		for k, v := range form {
			vals[k] = append(vals[k], v...)
		}
	}
	return params{v: vals}, true
}
