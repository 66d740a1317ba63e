package ec2emu

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// reqCtx carries one request through authentication, faults and the operation handler.
type reqCtx struct {
	s         *Server
	w         http.ResponseWriter
	r         *http.Request
	service   string
	action    string
	path      string // URL path without the dialect's service prefix
	prefix    string // that prefix ("/services/objectstorage" on Eucalyptus)
	requestID string
	sig       *sigInfo

	status      int
	code        string
	corrupt     bool
	afterFault  *Fault // an AfterHandle fault, applied once the request is handled
	dropMidBody bool
	dropped     bool
	recorded    bool
}

// apiError is an error answer; each protocol renders it in its own shape.
type apiError struct {
	Status  int
	Code    string
	Message string
	Reason  string // EBS ValidationException etc.
	// S3 extras
	Resource string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func (s *Server) handler(service, prefix string, fn func(*reqCtx)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := &reqCtx{s: s, w: w, r: r, service: service, prefix: prefix, requestID: newRequestID()}
		rc.path = strings.TrimPrefix(r.URL.Path, prefix)
		if rc.path == "" {
			rc.path = "/"
		}
		if s.opts.Latency > 0 {
			time.Sleep(s.opts.Latency)
		}
		defer func() {
			if !rc.recorded {
				s.record(rc)
			}
		}()
		fn(rc)
	})
}

func (s *Server) record(rc *reqCtx) {
	if rc.recorded {
		return
	}
	rc.recorded = true
	s.mu.Lock()
	mode := rc.r.Header.Get("X-Amz-Content-Sha256")
	if len(mode) == 64 && !strings.HasPrefix(mode, "STREAMING") {
		mode = "sha256"
	}
	c := Call{Service: rc.service, Action: rc.action, Status: rc.status, Code: rc.code, Payload: mode}
	if rc.sig != nil {
		c.AccessKey, c.Region = rc.sig.accessKey, rc.requestRegion()
	}
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	s.logf("%s %s %s %s -> %d %s", rc.service, rc.r.Method, rc.r.URL.RequestURI(), rc.action, rc.status, rc.code)
}

// fail renders an error in the request's protocol.
func (rc *reqCtx) fail(e *apiError) {
	if e.Status == 0 {
		e.Status = http.StatusBadRequest
	}
	rc.status, rc.code = e.Status, e.Code
	h := rc.w.Header()
	switch rc.service {
	case "ec2":
		// <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>
		type xerr struct {
			Code    string
			Message string
		}
		type resp struct {
			XMLName   xml.Name `xml:"Response"`
			Errors    []xerr   `xml:"Errors>Error"`
			RequestID string   `xml:"RequestID"`
		}
		b, _ := xml.Marshal(resp{Errors: []xerr{{e.Code, e.Message}}, RequestID: rc.requestID})
		h.Set("Content-Type", "text/xml;charset=UTF-8")
		rc.w.WriteHeader(e.Status)
		rc.w.Write([]byte(xml.Header))
		rc.w.Write(b)
	case "ebs":
		body := map[string]string{"__type": e.Code, "Message": e.Message}
		if e.Reason != "" {
			body["Reason"] = e.Reason
		}
		b, _ := json.Marshal(body)
		h.Set("Content-Type", "application/json")
		h.Set("X-Amzn-ErrorType", e.Code)
		h.Set("X-Amzn-RequestId", rc.requestID)
		rc.w.WriteHeader(e.Status)
		rc.w.Write(b)
	case "empyrean", "sts":
		// <ErrorResponse><Error><Code/><Message/></Error><RequestId/></ErrorResponse>
		type xerr struct {
			Type    string
			Code    string
			Message string
		}
		type resp struct {
			XMLName   xml.Name `xml:"ErrorResponse"`
			Error     xerr
			RequestID string `xml:"RequestId"`
		}
		b, _ := xml.Marshal(resp{Error: xerr{"Sender", e.Code, e.Message}, RequestID: rc.requestID})
		h.Set("Content-Type", "text/xml;charset=UTF-8")
		rc.w.WriteHeader(e.Status)
		rc.w.Write(b)
	default: // s3
		type resp struct {
			XMLName   xml.Name `xml:"Error"`
			Code      string
			Message   string
			Resource  string `xml:",omitempty"`
			RequestID string `xml:"RequestId"`
			HostID    string `xml:"HostId"`
		}
		h.Set("Content-Type", "application/xml")
		h.Set("x-amz-request-id", rc.requestID)
		h.Set("x-amz-id-2", "ec2emu")
		rc.w.WriteHeader(e.Status)
		if rc.r.Method != http.MethodHead {
			b, _ := xml.Marshal(resp{Code: e.Code, Message: e.Message, Resource: e.Resource, RequestID: rc.requestID, HostID: "ec2emu"})
			rc.w.Write([]byte(xml.Header))
			rc.w.Write(b)
		}
	}
}

// authFail maps a signature failure to the protocol's error.
func (rc *reqCtx) authFail(ae *authError) {
	switch rc.service {
	case "ec2":
		if ae.unknownKey {
			rc.fail(errf(401, "AuthFailure", "AWS was not able to validate the provided access credentials"))
		} else if ae.skew {
			rc.fail(errf(400, "RequestExpired", "Request has expired."))
		} else {
			rc.fail(errf(401, "AuthFailure", "%s", ae.msg))
		}
	case "ebs":
		if ae.unknownKey {
			rc.fail(errf(403, "UnrecognizedClientException", "The security token included in the request is invalid."))
		} else {
			rc.fail(errf(403, "InvalidSignatureException", "%s", ae.msg))
		}
	default:
		if ae.unknownKey {
			rc.fail(errf(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."))
		} else if ae.skew {
			rc.fail(errf(403, "RequestTimeTooSkewed", "%s", ae.msg))
		} else {
			rc.fail(errf(403, "SignatureDoesNotMatch", "%s", ae.msg))
		}
	}
}

// writeXML renders an EC2 or S3 XML success response.
func (rc *reqCtx) writeXML(status int, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		rc.fail(errf(500, "InternalError", "marshal: %v", err))
		return
	}
	rc.status = status
	rc.w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	if rc.service == "s3" {
		rc.w.Header().Set("x-amz-request-id", rc.requestID)
	}
	rc.w.WriteHeader(status)
	rc.w.Write([]byte(xml.Header))
	rc.w.Write(b)
}

func (rc *reqCtx) writeJSON(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		rc.fail(errf(500, "InternalServerException", "marshal: %v", err))
		return
	}
	rc.status = status
	rc.w.Header().Set("Content-Type", "application/json")
	rc.w.Header().Set("X-Amzn-RequestId", rc.requestID)
	rc.w.WriteHeader(status)
	rc.w.Write(b)
}

// readSmallBody reads a body that is expected to be small (forms, JSON, XML).
func (rc *reqCtx) readSmallBody() ([]byte, *apiError) {
	b, err := io.ReadAll(io.LimitReader(rc.r.Body, 32<<20))
	if err != nil {
		return nil, errf(400, "IncompleteBody", "reading request body: %v", err)
	}
	return b, nil
}
