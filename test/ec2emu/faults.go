package ec2emu

import (
	"net/http"
	"strings"
	"time"
)

// Fault describes requests to disturb. A request matches when its service and action match
// (empty matches any). The first Skip matching requests pass untouched, the next Times ones
// (0 means 1, a negative value means every one from then on) get the fault.
//
// What a fault does, in order: sleep Delay; then, if DropConnection, answer the status line,
// headers and part of the body and cut the connection (for EBS GetSnapshotBlock and S3
// GetObject the real response is cut, else a cut error response); else, if Code is set,
// answer that error with Status (default 400, 503 for RequestLimitExceeded and SlowDown,
// 500 for InternalError/InternalServerException); else, if CorruptData, serve the real
// response with one byte of the payload flipped (EBS GetSnapshotBlock, S3 GetObject); else
// just handle the request late. With AfterHandle (EC2 Query actions), the request is handled
// first (its effects stay) and the fault replaces the answer: a response lost on the way back.
type Fault struct {
	Service        string // "ec2", "ebs", "s3" or "" for any
	Action         string // EC2 Action, EBS/S3 operation name (e.g. "PutSnapshotBlock", "UploadPart") or ""
	Skip           int
	Times          int
	Delay          time.Duration
	DropConnection bool
	Code           string
	Status         int
	Message        string
	CorruptData    bool
	AfterHandle    bool
}

type faultRule struct {
	Fault
	seen, fired int
}

// InjectFault adds a fault rule. Rules are tried in the order added; the first one that
// fires for a request applies.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultRule{Fault: f})
}

// FailNext makes the next n calls of action (any service) fail with code and HTTP status.
func (s *Server) FailNext(action string, n int, code string, status int) {
	s.InjectFault(Fault{Action: action, Times: n, Code: code, Status: status})
}

// ClearFaults removes every fault rule.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// FaultsFired tells how many requests the fault rules have disturbed so far.
func (s *Server) FaultsFired() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.faults {
		n += f.fired
	}
	return n
}

// takeFault returns the fault to apply to a request, if any, counting it.
func (s *Server) takeFault(service, action string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if f.Service != "" && f.Service != service {
			continue
		}
		if f.Action != "" && !strings.EqualFold(f.Action, action) {
			continue
		}
		f.seen++
		if f.seen <= f.Skip {
			continue
		}
		times := f.Times
		if times == 0 {
			times = 1
		}
		if times > 0 && f.fired >= times {
			continue
		}
		f.fired++
		c := f.Fault
		return &c
	}
	return nil
}

func (f *Fault) status() int {
	if f.Status != 0 {
		return f.Status
	}
	switch f.Code {
	case "RequestLimitExceeded", "SlowDown", "ServiceUnavailable", "Unavailable":
		return http.StatusServiceUnavailable
	case "InternalError", "InternalServerException", "InternalFailure":
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// applyFault runs a fault before the request is handled. It reports whether the request
// was answered (or cut) and must not be handled further. A CorruptData fault is left to
// the handler through rc.corrupt.
func (rc *reqCtx) applyFault() bool {
	f := rc.s.takeFault(rc.service, rc.action)
	if f == nil {
		return false
	}
	rc.s.logf("%s %s: fault %+v", rc.service, rc.action, *f)
	if f.AfterHandle && rc.service == "ec2" {
		rc.afterFault = f
		return false
	}
	return rc.runFault(f)
}

// applyAfterFault runs an AfterHandle fault once the request is handled. It reports whether
// the fault answered (or cut) instead of the handler's answer.
func (rc *reqCtx) applyAfterFault() bool {
	f := rc.afterFault
	if f == nil {
		return false
	}
	rc.afterFault = nil
	return rc.runFault(f)
}

func (rc *reqCtx) runFault(f *Fault) bool {
	if f.Delay > 0 {
		select {
		case <-time.After(f.Delay):
		case <-rc.r.Context().Done():
		}
	}
	switch {
	case f.DropConnection:
		if rc.action == "GetSnapshotBlock" || rc.action == "GetObject" {
			rc.dropMidBody = true
			return false
		}
		rc.dropConnection()
		return true
	case f.Code != "":
		msg := f.Message
		if msg == "" {
			msg = "injected fault"
		}
		rc.fail(&apiError{Status: f.status(), Code: f.Code, Message: msg})
		return true
	case f.CorruptData:
		rc.corrupt = true
	}
	return false
}

// dropConnection sends headers and half an error body, then cuts the connection.
func (rc *reqCtx) dropConnection() {
	body := []byte(strings.Repeat("x", 256))
	rc.w.Header().Set("Content-Length", "256")
	rc.w.WriteHeader(http.StatusOK)
	rc.cut(body[:100])
}

// cut writes part of a body, flushes it and aborts the connection.
func (rc *reqCtx) cut(part []byte) {
	rc.w.Write(part)
	if f, ok := rc.w.(http.Flusher); ok {
		f.Flush()
	}
	rc.status = 0
	rc.dropped = true
	rc.s.record(rc)
	panic(http.ErrAbortHandler)
}
