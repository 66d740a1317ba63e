package ec2emu

// XML shapes of EC2 Query responses. Element names follow the EC2 WSDL (2016-11-15) as the
// SDK's deserializers read them; lists are <xxxSet><item>.

const ec2Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

type xTag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type xTagDesc struct {
	ResourceID   string `xml:"resourceId"`
	ResourceType string `xml:"resourceType"`
	Key          string `xml:"key"`
	Value        string `xml:"value"`
}

type xEbs struct {
	SnapshotID          string `xml:"snapshotId,omitempty"`
	VolumeSize          int64  `xml:"volumeSize,omitempty"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
	VolumeType          string `xml:"volumeType,omitempty"`
	Encrypted           bool   `xml:"encrypted"`
	Iops                int64  `xml:"iops,omitempty"`
	Throughput          int64  `xml:"throughput,omitempty"`
}

type xBDM struct {
	DeviceName  string  `xml:"deviceName"`
	VirtualName string  `xml:"virtualName,omitempty"`
	Ebs         *xEbs   `xml:"ebs,omitempty"`
	NoDevice    *string `xml:"noDevice,omitempty"`
}

type xStateReason struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type xImage struct {
	ImageID            string        `xml:"imageId"`
	ImageLocation      string        `xml:"imageLocation"`
	ImageState         string        `xml:"imageState"`
	ImageOwnerID       string        `xml:"imageOwnerId"`
	CreationDate       string        `xml:"creationDate"`
	IsPublic           bool          `xml:"isPublic"`
	Architecture       string        `xml:"architecture"`
	ImageType          string        `xml:"imageType"`
	KernelID           string        `xml:"kernelId,omitempty"`
	RamdiskID          string        `xml:"ramdiskId,omitempty"`
	ImageOwnerAlias    string        `xml:"imageOwnerAlias,omitempty"`
	Name               string        `xml:"name"`
	Description        string        `xml:"description,omitempty"`
	RootDeviceType     string        `xml:"rootDeviceType"`
	RootDeviceName     string        `xml:"rootDeviceName"`
	BlockDeviceMapping []xBDM        `xml:"blockDeviceMapping>item"`
	VirtualizationType string        `xml:"virtualizationType"`
	TagSet             []xTag        `xml:"tagSet>item"`
	Hypervisor         string        `xml:"hypervisor"`
	EnaSupport         bool          `xml:"enaSupport"`
	SriovNetSupport    string        `xml:"sriovNetSupport,omitempty"`
	BootMode           string        `xml:"bootMode,omitempty"`
	ImdsSupport        string        `xml:"imdsSupport,omitempty"`
	TpmSupport         string        `xml:"tpmSupport,omitempty"`
	PlatformDetails    string        `xml:"platformDetails"`
	UsageOperation     string        `xml:"usageOperation"`
	StateReason        *xStateReason `xml:"stateReason,omitempty"`
	SourceInstanceID   string        `xml:"sourceInstanceId,omitempty"`
	SourceImageID      string        `xml:"sourceImageId,omitempty"`
	SourceImageRegion  string        `xml:"sourceImageRegion,omitempty"`
	DeregistrationProt string        `xml:"deregistrationProtection"`
}

type xInstanceState struct {
	Code int32  `xml:"code"`
	Name string `xml:"name"`
}

type xInstanceEbs struct {
	VolumeID            string `xml:"volumeId"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

type xInstanceBDM struct {
	DeviceName string       `xml:"deviceName"`
	Ebs        xInstanceEbs `xml:"ebs"`
}

type xPlacement struct {
	AvailabilityZone string `xml:"availabilityZone"`
	GroupName        string `xml:"groupName"`
	Tenancy          string `xml:"tenancy"`
}

type xMonitoring struct {
	State string `xml:"state"`
}

type xInstance struct {
	InstanceID            string         `xml:"instanceId"`
	ImageID               string         `xml:"imageId"`
	InstanceState         xInstanceState `xml:"instanceState"`
	PrivateDNSName        string         `xml:"privateDnsName"`
	DNSName               string         `xml:"dnsName"`
	Reason                string         `xml:"reason"`
	AmiLaunchIndex        int32          `xml:"amiLaunchIndex"`
	InstanceType          string         `xml:"instanceType"`
	LaunchTime            string         `xml:"launchTime"`
	Placement             xPlacement     `xml:"placement"`
	Monitoring            xMonitoring    `xml:"monitoring"`
	PrivateIPAddress      string         `xml:"privateIpAddress"`
	Architecture          string         `xml:"architecture"`
	RootDeviceType        string         `xml:"rootDeviceType"`
	RootDeviceName        string         `xml:"rootDeviceName"`
	BlockDeviceMapping    []xInstanceBDM `xml:"blockDeviceMapping>item"`
	VirtualizationType    string         `xml:"virtualizationType"`
	TagSet                []xTag         `xml:"tagSet>item"`
	Hypervisor            string         `xml:"hypervisor"`
	EbsOptimized          bool           `xml:"ebsOptimized"`
	EnaSupport            bool           `xml:"enaSupport"`
	BootMode              string         `xml:"bootMode"`
	CurrentInstanceBootMd string         `xml:"currentInstanceBootMode"`
	PlatformDetails       string         `xml:"platformDetails"`
	UsageOperation        string         `xml:"usageOperation"`
	UsageOperationUpdate  string         `xml:"usageOperationUpdateTime"`
	SubnetID              string         `xml:"subnetId"`
	VpcID                 string         `xml:"vpcId"`
	IPAddress             string         `xml:"ipAddress"`
	SourceDestCheck       bool           `xml:"sourceDestCheck"`
	GroupSet              []xGroup       `xml:"groupSet>item"`
	MetadataOptions       xMetadata      `xml:"metadataOptions"`
}

type xGroup struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName"`
}

type xMetadata struct {
	State                   string `xml:"state"`
	HTTPTokens              string `xml:"httpTokens"`
	HTTPPutResponseHopLimit int    `xml:"httpPutResponseHopLimit"`
	HTTPEndpoint            string `xml:"httpEndpoint"`
	HTTPProtocolIpv6        string `xml:"httpProtocolIpv6"`
	InstanceMetadataTags    string `xml:"instanceMetadataTags"`
}

type xReservation struct {
	ReservationID string      `xml:"reservationId"`
	OwnerID       string      `xml:"ownerId"`
	InstancesSet  []xInstance `xml:"instancesSet>item"`
}

type xSnapshot struct {
	SnapshotID    string `xml:"snapshotId"`
	VolumeID      string `xml:"volumeId"`
	Status        string `xml:"status"`
	StatusMessage string `xml:"statusMessage,omitempty"`
	StartTime     string `xml:"startTime"`
	Progress      string `xml:"progress"`
	OwnerID       string `xml:"ownerId"`
	VolumeSize    int64  `xml:"volumeSize"`
	Description   string `xml:"description"`
	Encrypted     bool   `xml:"encrypted"`
	KmsKeyID      string `xml:"kmsKeyId,omitempty"`
	StorageTier   string `xml:"storageTier"`
	TagSet        []xTag `xml:"tagSet>item"`
	SseType       string `xml:"sseType"`
	Completion    string `xml:"completionTime,omitempty"`
	FullSize      int64  `xml:"fullSnapshotSizeInBytes,omitempty"`
}

type xAttachment struct {
	VolumeID            string `xml:"volumeId"`
	InstanceID          string `xml:"instanceId"`
	Device              string `xml:"device"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

type xVolume struct {
	VolumeID         string        `xml:"volumeId"`
	Size             int64         `xml:"size"`
	SnapshotID       string        `xml:"snapshotId"`
	AvailabilityZone string        `xml:"availabilityZone"`
	Status           string        `xml:"status"`
	CreateTime       string        `xml:"createTime"`
	AttachmentSet    []xAttachment `xml:"attachmentSet>item"`
	TagSet           []xTag        `xml:"tagSet>item"`
	VolumeType       string        `xml:"volumeType"`
	Encrypted        bool          `xml:"encrypted"`
	KmsKeyID         string        `xml:"kmsKeyId,omitempty"`
	Iops             int64         `xml:"iops"`
	Throughput       int64         `xml:"throughput"`
	MultiAttach      bool          `xml:"multiAttachEnabled"`
}

type xUserBucket struct {
	S3Bucket string `xml:"s3Bucket"`
	S3Key    string `xml:"s3Key"`
}

type xSnapshotDetail struct {
	Description   string       `xml:"description,omitempty"`
	DeviceName    string       `xml:"deviceName,omitempty"`
	DiskImageSize float64      `xml:"diskImageSize,omitempty"`
	Format        string       `xml:"format"`
	Progress      string       `xml:"progress,omitempty"`
	SnapshotID    string       `xml:"snapshotId,omitempty"`
	Status        string       `xml:"status"`
	StatusMessage string       `xml:"statusMessage,omitempty"`
	URL           string       `xml:"url,omitempty"`
	UserBucket    *xUserBucket `xml:"userBucket,omitempty"`
	Encrypted     *bool        `xml:"encrypted,omitempty"`
}

type xImportImageTask struct {
	ImportTaskID   string            `xml:"importTaskId"`
	Architecture   string            `xml:"architecture,omitempty"`
	BootMode       string            `xml:"bootMode,omitempty"`
	Description    string            `xml:"description,omitempty"`
	Encrypted      bool              `xml:"encrypted"`
	Hypervisor     string            `xml:"hypervisor,omitempty"`
	ImageID        string            `xml:"imageId,omitempty"`
	LicenseType    string            `xml:"licenseType,omitempty"`
	Platform       string            `xml:"platform,omitempty"`
	Progress       string            `xml:"progress,omitempty"`
	SnapshotDetail []xSnapshotDetail `xml:"snapshotDetailSet>item"`
	Status         string            `xml:"status"`
	StatusMessage  string            `xml:"statusMessage,omitempty"`
	TagSet         []xTag            `xml:"tagSet>item"`
	UsageOperation string            `xml:"usageOperation,omitempty"`
}

type xImportSnapshotTask struct {
	ImportTaskID string          `xml:"importTaskId"`
	Description  string          `xml:"description,omitempty"`
	Detail       xSnapshotDetail `xml:"snapshotTaskDetail"`
	TagSet       []xTag          `xml:"tagSet>item"`
}

type xLaunchPermission struct {
	UserID                string `xml:"userId,omitempty"`
	Group                 string `xml:"group,omitempty"`
	OrganizationArn       string `xml:"organizationArn,omitempty"`
	OrganizationalUnitArn string `xml:"organizationalUnitArn,omitempty"`
}

type xValue struct {
	Value string `xml:"value"`
}
