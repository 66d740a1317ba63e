package ec2emu

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// ImportVolume (the legacy EC2 import, and Eucalyptus' path into EBS): the client uploads
// the disk's parts to S3 and an import manifest (version 2010-11-15) listing each part's
// byte range and presigned URLs, then passes the manifest's presigned URL. The emulator
// checks the presigned signatures, assembles the RAW parts into a new volume and completes
// the conversion task after ImportDelay.

type importManifest struct {
	XMLName    xml.Name `xml:"manifest"`
	Version    string   `xml:"version"`
	FileFormat string   `xml:"file-format"`
	Import     struct {
		Size       int64 `xml:"size"`
		VolumeSize int64 `xml:"volume-size"`
		Parts      struct {
			Count int `xml:"count,attr"`
			Part  []struct {
				Index     int `xml:"index,attr"`
				ByteRange struct {
					Start int64 `xml:"start,attr"`
					End   int64 `xml:"end,attr"`
				} `xml:"byte-range"`
				Key    string `xml:"key"`
				GetURL string `xml:"get-url"`
			} `xml:"part"`
		} `xml:"parts"`
	} `xml:"import"`
}

// resolvePresigned maps a presigned GET URL of the emulated S3 to its object, verifying the
// signature. The caller holds s.mu.
func (s *Server) resolvePresigned(raw string) (*s3Object, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("bad URL %q: %v", raw, err)
	}
	r, err := http.NewRequest(http.MethodGet, raw, nil)
	if err != nil {
		return nil, err
	}
	r.Host = u.Host
	if _, ae := s.verifySigV4(r, unsignedPayload, true); ae != nil {
		return nil, fmt.Errorf("presigned URL %s: %s", u.Path, ae.msg)
	}
	p := strings.TrimPrefix(u.Path, "/services/objectstorage")
	bucket, key, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	o := s.s3object(bucket, key)
	if o == nil {
		return nil, fmt.Errorf("no object s3://%s/%s", bucket, key)
	}
	return o, nil
}

type xConversionTask struct {
	ConversionTaskID string `xml:"conversionTaskId"`
	ExpirationTime   string `xml:"expirationTime"`
	ImportVolume     struct {
		BytesConverted   int64  `xml:"bytesConverted"`
		AvailabilityZone string `xml:"availabilityZone"`
		Description      string `xml:"description,omitempty"`
		Image            struct {
			Format            string `xml:"format"`
			Size              int64  `xml:"size"`
			ImportManifestURL string `xml:"importManifestUrl"`
		} `xml:"image"`
		Volume struct {
			Size int64  `xml:"size"`
			ID   string `xml:"id,omitempty"`
		} `xml:"volume"`
	} `xml:"importVolume"`
	State         string `xml:"state"`
	StatusMessage string `xml:"statusMessage,omitempty"`
	TagSet        []xTag `xml:"tagSet>item"`
}

func (st *state) xConversion(t *importTask) xConversionTask {
	var x xConversionTask
	x.ConversionTaskID, x.ExpirationTime = t.id, t.expires.Format(isoMillis)
	x.State, x.StatusMessage, x.TagSet = t.status, t.statusMessage, st.tagList(t.id)
	iv := &x.ImportVolume
	iv.AvailabilityZone, iv.Description = t.az, t.description
	iv.Image.Format, iv.Image.Size, iv.Image.ImportManifestURL = t.format, t.diskSize, t.manifestURL
	iv.Volume.Size = t.volSizeGiB
	if t.status == "completed" {
		iv.BytesConverted = t.diskSize
		iv.Volume.ID = t.volumeID
	}
	return x
}

func (rc *reqCtx) importVolume(p params) (any, *apiError) {
	s := rc.s
	st := s.st
	az := p.get("AvailabilityZone")
	if az == "" || !strings.HasPrefix(az, s.Region) {
		return nil, errf(400, "InvalidParameterValue", "Invalid availability zone: [%s]", az)
	}
	format := strings.ToUpper(p.get("Image.Format"))
	if format != "RAW" && format != "VMDK" && format != "VHD" {
		return nil, errf(400, "InvalidParameterValue", "Invalid value '%s' for image.format", p.get("Image.Format"))
	}
	murl := p.get("Image.ImportManifestUrl")
	mo, err := s.resolvePresigned(murl)
	if err != nil {
		return nil, errf(400, "InvalidParameter", "import manifest: %v", err)
	}
	raw, err := os.ReadFile(mo.path)
	if err != nil {
		return nil, errf(500, "InternalError", "%v", err)
	}
	var m importManifest
	if err := xml.Unmarshal(raw, &m); err != nil {
		return nil, errf(400, "InvalidParameter", "import manifest is not valid XML: %v", err)
	}
	if m.Version != "2010-11-15" || len(m.Import.Parts.Part) == 0 || m.Import.Parts.Count != len(m.Import.Parts.Part) {
		return nil, errf(400, "InvalidParameter", "import manifest: version %q, %d parts (count %d)", m.Version, len(m.Import.Parts.Part), m.Import.Parts.Count)
	}
	if !strings.EqualFold(m.FileFormat, format) {
		return nil, errf(400, "InvalidParameter", "import manifest format %s != %s", m.FileFormat, format)
	}
	type part struct {
		path       string
		start, len int64
	}
	var parts []part
	next := int64(0)
	for _, pt := range m.Import.Parts.Part {
		o, err := s.resolvePresigned(pt.GetURL)
		if err != nil {
			return nil, errf(400, "InvalidParameter", "part %d: %v", pt.Index, err)
		}
		n := pt.ByteRange.End - pt.ByteRange.Start + 1
		if pt.ByteRange.Start != next || n != o.size {
			return nil, errf(400, "InvalidParameter", "part %d: byte range %d-%d does not follow %d or match its %d-byte object", pt.Index, pt.ByteRange.Start, pt.ByteRange.End, next, o.size)
		}
		next += n
		parts = append(parts, part{o.path, pt.ByteRange.Start, n})
	}
	if next != m.Import.Size || (p.has("Image.Bytes") && p.int64("Image.Bytes") != next) {
		return nil, errf(400, "InvalidParameter", "import manifest size %d, parts total %d, Image.Bytes %s", m.Import.Size, next, p.get("Image.Bytes"))
	}
	size := p.int64("Volume.Size")
	if size == 0 {
		size = m.Import.VolumeSize
	}
	if size < ceilGiB(next) {
		return nil, errf(400, "InvalidParameterValue", "Volume.Size %d GiB is smaller than the %d-byte image", size, next)
	}
	now := time.Now().UTC()
	t := &importTask{id: "import-vol-" + strings.TrimPrefix(st.id("x"), "x-"), kind: "volume", description: p.get("Description"),
		format: format, az: az, manifestURL: murl, volSizeGiB: size, diskSize: next, created: now,
		readyAt: now.Add(s.opts.ImportDelay), expires: now.Add(7 * 24 * time.Hour), status: "active", statusMessage: "pending"}
	st.tasks[t.id] = t
	if format != "RAW" {
		t.err = "ClientError: the emulator imports RAW volumes only"
		return struct {
			Task xConversionTask `xml:"conversionTask"`
		}{st.xConversion(t)}, nil
	}
	volID := st.id("vol")
	path := s.volumeFile(volID)
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		err := assembleParts(path, size*gib, func(w io.WriterAt) error {
			for _, pt := range parts {
				f, err := os.Open(pt.path)
				if err != nil {
					return err
				}
				_, err = io.Copy(io.NewOffsetWriter(w, pt.start), f)
				f.Close()
				if err != nil {
					return err
				}
			}
			return nil
		})
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil {
			t.err = "ServerError: " + err.Error()
			return
		}
		st.volumes[volID] = &volume{id: volID, az: az, volType: "standard", state: "available", sizeGiB: size,
			sizeBytes: size * gib, path: path, owned: true, created: time.Now().UTC()}
		t.volumeID, t.done = volID, true
	}()
	return struct {
		Task xConversionTask `xml:"conversionTask"`
	}{st.xConversion(t)}, nil
}

func assembleParts(path string, size int64, fill func(io.WriterAt) error) error {
	if err := os.MkdirAll(strings.TrimSuffix(path, "/"+lastElem(path)), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	if err := fill(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func lastElem(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

func (rc *reqCtx) describeConversionTasks(p params) (any, *apiError) {
	st := rc.s.st
	ids := p.strings("ConversionTaskId")
	out := struct {
		Tasks []xConversionTask `xml:"conversionTasks>item"`
	}{}
	for _, id := range sortedKeys(st.tasks) {
		t := st.tasks[id]
		if t.kind != "volume" || len(ids) > 0 && !contains(ids, id) {
			continue
		}
		out.Tasks = append(out.Tasks, st.xConversion(t))
	}
	for _, id := range ids {
		if t := st.tasks[id]; t == nil || t.kind != "volume" {
			return nil, errf(400, "InvalidConversionTaskId", "The conversion task ID '%s' does not exist", id)
		}
	}
	return out, nil
}
