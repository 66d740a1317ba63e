package ec2emu

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// EBS direct APIs (REST-JSON). Paths as in the service model:
//
//	POST /snapshots                              StartSnapshot
//	PUT  /snapshots/{id}/blocks/{index}          PutSnapshotBlock
//	POST /snapshots/completion/{id}              CompleteSnapshot
//	GET  /snapshots/{id}/blocks                  ListSnapshotBlocks
//	GET  /snapshots/{id}/blocks/{index}          GetSnapshotBlock
//	GET  /snapshots/{second}/changedblocks       ListChangedBlocks

const blockTokenTTL = 7 * 24 * time.Hour

func (s *Server) serveEBS(rc *reqCtx) {
	r := rc.r
	segs := strings.Split(strings.Trim(rc.path, "/"), "/")
	var id, idx string
	switch {
	case r.Method == http.MethodPost && len(segs) == 1 && segs[0] == "snapshots":
		rc.action = "StartSnapshot"
	case r.Method == http.MethodPost && len(segs) == 3 && segs[0] == "snapshots" && segs[1] == "completion":
		rc.action, id = "CompleteSnapshot", segs[2]
	case r.Method == http.MethodPut && len(segs) == 4 && segs[0] == "snapshots" && segs[2] == "blocks":
		rc.action, id, idx = "PutSnapshotBlock", segs[1], segs[3]
	case r.Method == http.MethodGet && len(segs) == 3 && segs[0] == "snapshots" && segs[2] == "blocks":
		rc.action, id = "ListSnapshotBlocks", segs[1]
	case r.Method == http.MethodGet && len(segs) == 4 && segs[0] == "snapshots" && segs[2] == "blocks":
		rc.action, id, idx = "GetSnapshotBlock", segs[1], segs[3]
	case r.Method == http.MethodGet && len(segs) == 3 && segs[0] == "snapshots" && segs[2] == "changedblocks":
		rc.action, id = "ListChangedBlocks", segs[1]
	default:
		rc.fail(errf(404, "UnknownOperationException", "no EBS operation for %s %s", r.Method, rc.path))
		return
	}
	// Payload hash: PutSnapshotBlock is sent UNSIGNED-PAYLOAD; the others sign their body.
	var body []byte
	hash := r.Header.Get("X-Amz-Content-Sha256")
	if hash == "" {
		if rc.action == "PutSnapshotBlock" {
			hash = unsignedPayload
		} else {
			b, ae := rc.readSmallBody()
			if ae != nil {
				rc.fail(ae)
				return
			}
			body = b
			sum := sha256.Sum256(b)
			hash = hex.EncodeToString(sum[:])
		}
	}
	si, aerr := s.verifySigV4(r, hash, false)
	if aerr != nil {
		rc.authFail(aerr)
		return
	}
	rc.sig = si
	if rc.applyFault() {
		return
	}
	var ae *apiError
	switch rc.action {
	case "StartSnapshot":
		ae = rc.startSnapshot(body)
	case "CompleteSnapshot":
		ae = rc.completeSnapshot(id)
	case "PutSnapshotBlock":
		ae = rc.putSnapshotBlock(id, idx)
	case "ListSnapshotBlocks":
		ae = rc.listSnapshotBlocks(id)
	case "GetSnapshotBlock":
		ae = rc.getSnapshotBlock(id, idx)
	case "ListChangedBlocks":
		ae = rc.listChangedBlocks(id)
	}
	if ae != nil {
		rc.fail(ae)
	}
}

func validation(reason, format string, args ...any) *apiError {
	return &apiError{Status: 400, Code: "ValidationException", Reason: reason, Message: fmt.Sprintf(format, args...)}
}

func snapNotFound(id string) *apiError {
	return &apiError{Status: 404, Code: "ResourceNotFoundException", Reason: "SNAPSHOT_NOT_FOUND", Message: "The snapshot " + id + " does not exist."}
}

type jsonTag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func (rc *reqCtx) startSnapshot(body []byte) *apiError {
	var in struct {
		VolumeSize       int64
		ParentSnapshotID string `json:"ParentSnapshotId"`
		Tags             []jsonTag
		Description      string
		ClientToken      string
		Encrypted        bool
		KmsKeyArn        string
		Timeout          int
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return validation("INVALID_PARAMETER_VALUE", "malformed request body: %v", err)
	}
	if in.VolumeSize < 1 || in.VolumeSize > 65536 {
		return validation("INVALID_VOLUME_SIZE", "VolumeSize must be between 1 and 65536 GiB")
	}
	if in.Timeout == 0 {
		in.Timeout = 60
	}
	if in.Timeout < 10 || in.Timeout > 4320 {
		return validation("INVALID_PARAMETER_VALUE", "Timeout must be between 10 and 4320 minutes")
	}
	s := rc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.tick()
	if in.ClientToken != "" {
		if id, ok := st.tokens["StartSnapshot/"+in.ClientToken]; ok && st.snapshots[id] != nil {
			return rc.writeStart(st.snapshots[id], in.Tags, in.Encrypted)
		}
	}
	encrypted, kmsKeyID, ae := st.startEncryption(in.Encrypted, in.KmsKeyArn, in.ParentSnapshotID)
	if ae != nil {
		return ae
	}
	if ae := s.tagPolicyStart(len(in.Tags)); ae != nil {
		return ae
	}
	blocks := blockMap{}
	if in.ParentSnapshotID != "" {
		p := st.snapshots[in.ParentSnapshotID]
		if p == nil {
			return snapNotFound(in.ParentSnapshotID)
		}
		if p.state != "completed" {
			return validation("INVALID_SNAPSHOT_ID", "parent snapshot %s is not completed", p.id)
		}
		if in.VolumeSize < p.sizeGiB {
			return validation("INVALID_VOLUME_SIZE", "VolumeSize is smaller than the parent snapshot's")
		}
		blocks = p.blocks.clone()
	}
	now := time.Now().UTC()
	sn := &snapshot{id: st.id("snap"), volumeID: "vol-ffffffff", description: in.Description, ownerID: s.AccountID,
		state: "pending", sizeGiB: in.VolumeSize, start: now, readyAt: now, blocks: blocks, direct: true,
		directOpen: true, deadline: now.Add(time.Duration(in.Timeout) * time.Minute), parentID: in.ParentSnapshotID,
		clientToken: in.ClientToken, written: map[int64]bool{}, encrypted: encrypted, kmsKeyID: kmsKeyID}
	st.snapshots[sn.id] = sn
	tags := map[string]string{}
	for _, t := range in.Tags {
		tags[t.Key] = t.Value
	}
	st.setTags(sn.id, tags)
	if in.ClientToken != "" {
		st.tokens["StartSnapshot/"+in.ClientToken] = sn.id
	}
	return rc.writeStart(sn, in.Tags, in.Encrypted)
}

func (rc *reqCtx) writeStart(sn *snapshot, tags []jsonTag, encrypted bool) *apiError {
	out := map[string]any{
		"SnapshotId": sn.id, "OwnerId": sn.ownerID, "Status": sn.state, "StartTime": epoch(sn.start),
		"VolumeSize": sn.sizeGiB, "BlockSize": BlockSize, "Description": sn.description, "SseType": "none",
	}
	if encrypted || sn.encrypted {
		out["SseType"] = "sse-ebs"
	}
	if sn.kmsKeyID != "" {
		out["KmsKeyArn"] = sn.kmsKeyID
	}
	if sn.parentID != "" {
		out["ParentSnapshotId"] = sn.parentID
	}
	if len(tags) > 0 {
		out["Tags"] = tags
	}
	rc.writeJSON(http.StatusCreated, out)
	return nil
}

// openSnapshot returns a snapshot accepting PutSnapshotBlock/CompleteSnapshot.
func (rc *reqCtx) openSnapshot(id string) (*snapshot, *apiError) {
	st := rc.s.st
	st.tick()
	sn := st.snapshots[id]
	if sn == nil {
		return nil, snapNotFound(id)
	}
	if !sn.direct || !sn.directOpen {
		return nil, &apiError{Status: 409, Code: "ConflictException", Message: "The snapshot " + id + " is not in the pending state or was not started with StartSnapshot."}
	}
	return sn, nil
}

func (rc *reqCtx) putSnapshotBlock(id, idxStr string) *apiError {
	r := rc.r
	idx, err := strconv.ParseInt(idxStr, 10, 64)
	if err != nil || idx < 0 {
		return validation("INVALID_BLOCK", "invalid block index %q", idxStr)
	}
	dl, err := strconv.ParseInt(r.Header.Get("X-Amz-Data-Length"), 10, 64)
	if err != nil {
		return validation("INVALID_PARAMETER_VALUE", "x-amz-Data-Length is required")
	}
	if dl != BlockSize {
		return validation("INVALID_PARAMETER_VALUE", "DataLength must be %d, got %d", BlockSize, dl)
	}
	if alg := r.Header.Get("X-Amz-Checksum-Algorithm"); alg != "SHA256" {
		return validation("INVALID_PARAMETER_VALUE", "ChecksumAlgorithm must be SHA256, got %q", alg)
	}
	want := r.Header.Get("X-Amz-Checksum")
	if want == "" {
		return validation("INVALID_PARAMETER_VALUE", "x-amz-Checksum is required")
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "" {
		return validation("INVALID_CONTENT_ENCODING", "unsupported Content-Encoding %s", ce)
	}
	data := make([]byte, BlockSize)
	n, err := io.ReadFull(r.Body, data)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return errf(400, "ValidationException", "reading block: %v", err)
	}
	if extra, _ := io.Copy(io.Discard, io.LimitReader(r.Body, 1)); n != BlockSize || extra > 0 {
		return validation("INVALID_PARAMETER_VALUE", "the block data is not %d bytes long", BlockSize)
	}
	sum := sha256.Sum256(data)
	if base64.StdEncoding.EncodeToString(sum[:]) != want {
		return validation("INVALID_PARAMETER_VALUE", "The value for checksum is not valid for the block data")
	}
	s := rc.s
	s.mu.Lock()
	sn, ae := rc.openSnapshot(id)
	if ae == nil && idx >= sn.sizeGiB*gib/BlockSize {
		ae = validation("INVALID_BLOCK", "block index %d is beyond the volume size of %d GiB", idx, sn.sizeGiB)
	}
	s.mu.Unlock()
	if ae != nil {
		return ae
	}
	ref, err := s.blocks.put(data)
	if err != nil {
		return errf(500, "InternalServerException", "%v", err)
	}
	s.mu.Lock()
	sn, ae = rc.openSnapshot(id)
	if ae == nil {
		sn.blocks[idx] = ref
		sn.written[idx] = true
	}
	s.mu.Unlock()
	if ae != nil {
		return ae
	}
	rc.w.Header().Set("x-amz-Checksum", want)
	rc.w.Header().Set("x-amz-Checksum-Algorithm", "SHA256")
	rc.w.Header().Set("X-Amzn-RequestId", rc.requestID)
	rc.status = http.StatusCreated
	rc.w.WriteHeader(http.StatusCreated)
	return nil
}

func (rc *reqCtx) completeSnapshot(id string) *apiError {
	r := rc.r
	count, err := strconv.ParseInt(r.Header.Get("X-Amz-ChangedBlocksCount"), 10, 64)
	if err != nil || count < 0 {
		return validation("INVALID_PARAMETER_VALUE", "x-amz-ChangedBlocksCount is required")
	}
	s := rc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, ae := rc.openSnapshot(id)
	if ae != nil {
		return ae
	}
	if int64(len(sn.written)) != count {
		return validation("INVALID_PARAMETER_VALUE", "ChangedBlocksCount %d does not match the %d blocks written", count, len(sn.written))
	}
	if want := r.Header.Get("X-Amz-Checksum"); want != "" {
		if alg := r.Header.Get("X-Amz-Checksum-Algorithm"); alg != "SHA256" {
			return validation("INVALID_PARAMETER_VALUE", "ChecksumAlgorithm must be SHA256")
		}
		if m := r.Header.Get("X-Amz-Checksum-Aggregation-Method"); m != "LINEAR" {
			return validation("INVALID_PARAMETER_VALUE", "ChecksumAggregationMethod must be LINEAR")
		}
		var cat bytes.Buffer
		for _, i := range sn.blocks.indexes() {
			if sn.written[i] {
				ref := sn.blocks[i]
				cat.Write(ref.sum[:])
			}
		}
		sum := sha256.Sum256(cat.Bytes())
		if got := base64.StdEncoding.EncodeToString(sum[:]); got != want {
			return validation("INVALID_PARAMETER_VALUE", "The aggregated checksum %s does not match the blocks written (%s)", want, got)
		}
	}
	sn.directOpen = false
	sn.written = nil
	sn.readyAt = time.Now().Add(s.opts.SnapshotDelay)
	s.st.tick()
	rc.writeJSON(http.StatusAccepted, map[string]string{"Status": sn.state})
	return nil
}

// completedSnapshot returns a snapshot readable through the EBS direct API.
func (rc *reqCtx) completedSnapshot(id string) (*snapshot, *apiError) {
	st := rc.s.st
	st.tick()
	sn := st.snapshots[id]
	if sn == nil {
		return nil, snapNotFound(id)
	}
	if sn.state != "completed" {
		return nil, validation("INVALID_SNAPSHOT_ID", "The snapshot %s is in the %s state; it must be completed", id, sn.state)
	}
	return sn, nil
}

func blockToken(snap string, idx int64, ref blockRef) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%s/%d/%d/%d", snap, idx, ref.off, time.Now().Add(blockTokenTTL).Unix())))
}

func parseBlockToken(tok string) (snap string, idx, off int64, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", 0, 0, false
	}
	parts := strings.Split(string(b), "/")
	if len(parts) != 4 {
		return "", 0, 0, false
	}
	idx, err1 := strconv.ParseInt(parts[1], 10, 64)
	off, err2 := strconv.ParseInt(parts[2], 10, 64)
	exp, err3 := strconv.ParseInt(parts[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || time.Now().Unix() > exp {
		return "", 0, 0, false
	}
	return parts[0], idx, off, true
}

// listParams reads maxResults / pageToken / startingBlockIndex.
func (rc *reqCtx) listParams() (start int64, max int, ae *apiError) {
	q := rc.r.URL.Query()
	max = 10000
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 || n > 10000 {
			return 0, 0, validation("INVALID_PARAMETER_VALUE", "MaxResults must be between 100 and 10000")
		}
		max = n
	}
	if v := q.Get("startingBlockIndex"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, validation("INVALID_PARAMETER_VALUE", "invalid StartingBlockIndex")
		}
		start = n
	}
	if v := q.Get("pageToken"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		n, err2 := strconv.ParseInt(strings.TrimPrefix(string(b), "page/"), 10, 64)
		if err != nil || err2 != nil || !strings.HasPrefix(string(b), "page/") {
			return 0, 0, validation("INVALID_PAGE_TOKEN", "The pagination token is not valid")
		}
		start = n
	}
	return start, max, nil
}

func pageToken(next int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("page/" + strconv.FormatInt(next, 10)))
}

func (rc *reqCtx) listSnapshotBlocks(id string) *apiError {
	start, max, ae := rc.listParams()
	if ae != nil {
		return ae
	}
	s := rc.s
	s.mu.Lock()
	sn, ae := rc.completedSnapshot(id)
	if ae != nil {
		s.mu.Unlock()
		return ae
	}
	type blk struct {
		BlockIndex int64
		BlockToken string
	}
	out := struct {
		Blocks     []blk
		ExpiryTime float64
		VolumeSize int64
		BlockSize  int
		NextToken  string `json:",omitempty"`
	}{Blocks: []blk{}, ExpiryTime: epoch(time.Now().Add(blockTokenTTL)), VolumeSize: sn.sizeGiB, BlockSize: BlockSize}
	for _, i := range sn.blocks.indexes() {
		if i < start {
			continue
		}
		if len(out.Blocks) == max {
			out.NextToken = pageToken(i)
			break
		}
		out.Blocks = append(out.Blocks, blk{i, blockToken(sn.id, i, sn.blocks[i])})
	}
	s.mu.Unlock()
	rc.writeJSON(200, out)
	return nil
}

func (rc *reqCtx) getSnapshotBlock(id, idxStr string) *apiError {
	idx, err := strconv.ParseInt(idxStr, 10, 64)
	if err != nil || idx < 0 {
		return validation("INVALID_BLOCK", "invalid block index %q", idxStr)
	}
	tok := rc.r.URL.Query().Get("blockToken")
	s := rc.s
	s.mu.Lock()
	sn, ae := rc.completedSnapshot(id)
	var ref blockRef
	if ae == nil {
		tsnap, tidx, toff, ok := parseBlockToken(tok)
		var have bool
		ref, have = sn.blocks[idx]
		if !ok || tidx != idx || !have || toff != ref.off || (tsnap != sn.id && !sharesBlock(s.st, tsnap, idx, toff)) {
			ae = validation("INVALID_BLOCK_TOKEN", "The block token is not valid for block %d of %s", idx, id)
		}
	}
	s.mu.Unlock()
	if ae != nil {
		return ae
	}
	data := make([]byte, BlockSize)
	if err := s.blocks.get(ref, data); err != nil {
		return errf(500, "InternalServerException", "%v", err)
	}
	h := rc.w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("x-amz-Data-Length", strconv.Itoa(BlockSize))
	h.Set("x-amz-Checksum", base64.StdEncoding.EncodeToString(ref.sum[:]))
	h.Set("x-amz-Checksum-Algorithm", "SHA256")
	h.Set("X-Amzn-RequestId", rc.requestID)
	h.Set("Content-Length", strconv.Itoa(BlockSize))
	rc.status = 200
	rc.w.WriteHeader(200)
	if rc.dropMidBody {
		rc.cut(data[:BlockSize/2])
	}
	if rc.corrupt {
		data[BlockSize/3] ^= 0x5a
	}
	rc.w.Write(data)
	return nil
}

// sharesBlock allows ListChangedBlocks' FirstBlockToken to be used against the second
// snapshot when both share the stored block.
func sharesBlock(st *state, snap string, idx, off int64) bool {
	sn := st.snapshots[snap]
	if sn == nil {
		return false
	}
	ref, ok := sn.blocks[idx]
	return ok && ref.off == off
}

func (rc *reqCtx) listChangedBlocks(second string) *apiError {
	start, max, ae := rc.listParams()
	if ae != nil {
		return ae
	}
	firstID := rc.r.URL.Query().Get("firstSnapshotId")
	s := rc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, ae := rc.completedSnapshot(second)
	if ae != nil {
		return ae
	}
	var first *snapshot
	if firstID != "" {
		if first, ae = rc.completedSnapshot(firstID); ae != nil {
			return ae
		}
		if first.sizeGiB > sn.sizeGiB {
			return validation("UNRELATED_SNAPSHOTS", "the first snapshot is larger than the second")
		}
	}
	type cb struct {
		BlockIndex       int64
		FirstBlockToken  string `json:",omitempty"`
		SecondBlockToken string `json:",omitempty"`
	}
	idxSet := map[int64]bool{}
	for i := range sn.blocks {
		idxSet[i] = true
	}
	if first != nil {
		for i := range first.blocks {
			idxSet[i] = true
		}
	}
	all := make(blockMap, len(idxSet))
	for i := range idxSet {
		all[i] = blockRef{}
	}
	out := struct {
		ChangedBlocks []cb
		ExpiryTime    float64
		VolumeSize    int64
		BlockSize     int
		NextToken     string `json:",omitempty"`
	}{ChangedBlocks: []cb{}, ExpiryTime: epoch(time.Now().Add(blockTokenTTL)), VolumeSize: sn.sizeGiB, BlockSize: BlockSize}
	for _, i := range all.indexes() {
		if i < start {
			continue
		}
		b2, in2 := sn.blocks[i]
		var b1 blockRef
		in1 := false
		if first != nil {
			b1, in1 = first.blocks[i]
		}
		if in1 && in2 && b1.sum == b2.sum {
			continue
		}
		if len(out.ChangedBlocks) == max {
			out.NextToken = pageToken(i)
			break
		}
		c := cb{BlockIndex: i}
		if in1 {
			c.FirstBlockToken = blockToken(first.id, i, b1)
		}
		if in2 {
			c.SecondBlockToken = blockToken(sn.id, i, b2)
		}
		out.ChangedBlocks = append(out.ChangedBlocks, c)
	}
	rc.writeJSON(200, out)
	return nil
}
