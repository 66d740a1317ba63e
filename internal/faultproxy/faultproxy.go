// Package faultproxy is a fault-injecting HTTP proxy for tests, put in front of a real
// OpenStack (the all-in-one cloud of test/openstack-aio). It forwards to Keystone and
// rewrites the service catalog of every token response so that each service endpoint (Glance,
// Nova, ...) points back at a listener of the proxy; a client given the proxy's auth URL
// therefore reaches the real services only through it. Rules, matched per request (service,
// method, path, occurrence), inject faults: an error status N times, a connection cut after
// K bytes of a request or response body, a JSON field rewritten in a response, a delay, a
// throttled body. Every request is logged, so tests can assert what happened.
//
// It is written here rather than taken from a library because the catalog rewriting and the
// mid-body cuts are specific to testing an OpenStack client; the generic part is
// net/http/httputil.ReverseProxy.
package faultproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var quietLog = log.New(io.Discard, "", 0)

// Rule injects a fault into the requests it matches.
type Rule struct {
	Name string // for logs and messages

	// Matching. Empty fields match everything.
	Service string              // catalog service type: "identity", "image", "compute"...
	Method  string              // HTTP method
	Path    *regexp.Regexp      // matched against the URL path
	Match   func(*Request) bool // any further condition

	// Skip lets the first Skip matching requests through untouched; then the rule applies to
	// Times requests (0: to every one).
	Skip, Times int

	// Faults, combined as given.
	Status       int           // answer with this status (an OpenStack-style JSON error)
	AfterForward bool          // with Status: forward first, then replace the answer
	Delay        time.Duration // wait before forwarding
	// CutRequestAfter >= 0 (with CutRequest) forwards only that many bytes of the request
	// body, then drops both connections.
	CutRequest      bool
	CutRequestAfter int64
	// Cut the response body after this many bytes and drop the connection.
	CutResponse      bool
	CutResponseAfter int64
	// Rewrite sets JSON fields of the response (dotted paths: "status", "server.status").
	Rewrite map[string]any
	// Throttle the response body to about this many bytes per second.
	Throttle int64

	mu      sync.Mutex
	seen    int
	applied int
}

// Request is what a rule's Match sees.
type Request struct {
	Service, Method, Path string
	Header                http.Header
}

// Applied returns how many requests the rule has acted on.
func (r *Rule) Applied() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applied
}

func (r *Rule) matches(q *Request) bool {
	if r.Service != "" && r.Service != q.Service {
		return false
	}
	if r.Method != "" && !strings.EqualFold(r.Method, q.Method) {
		return false
	}
	if r.Path != nil && !r.Path.MatchString(q.Path) {
		return false
	}
	if r.Match != nil && !r.Match(q) {
		return false
	}
	return true
}

// take counts a match and says whether the rule applies to it.
func (r *Rule) take() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen++
	if r.seen <= r.Skip {
		return false
	}
	if r.Times > 0 && r.applied >= r.Times {
		return false
	}
	r.applied++
	return true
}

// Entry is one logged request.
type Entry struct {
	Service, Method, Path string
	Status                int    // what the client got (0: connection dropped)
	Rule                  string // the rule that acted, if any
}

// Proxy is a running fault proxy.
type Proxy struct {
	keystone *url.URL

	mu        sync.Mutex
	rules     []*Rule
	log       []Entry
	listeners map[string]*listener // upstream scheme://host -> listener
	front     *listener            // Keystone's
	closed    bool
}

type listener struct {
	service  string
	upstream *url.URL
	ln       net.Listener
	srv      *http.Server
	base     string // http://127.0.0.1:port
}

// New starts a proxy in front of the Keystone at keystoneURL (e.g. http://127.0.0.1:5000).
func New(keystoneURL string) (*Proxy, error) {
	u, err := url.Parse(keystoneURL)
	if err != nil {
		return nil, err
	}
	u.Path, u.RawQuery = "", ""
	p := &Proxy{keystone: u, listeners: map[string]*listener{}}
	p.front, err = p.listen("identity", u)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// URL is the proxy's Keystone URL (no path), to use instead of the real one.
func (p *Proxy) URL() string { return p.front.base }

// Add adds rules; they apply from the next request on, in order (the first rule that
// answers with a status wins; the others' faults combine).
func (p *Proxy) Add(rules ...*Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, rules...)
}

// Reset removes all rules and clears the log.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
	p.log = nil
}

// Log returns the requests seen so far.
func (p *Proxy) Log() []Entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Entry(nil), p.log...)
}

// Count counts logged requests of a service and method whose path matches re (nil: any).
func (p *Proxy) Count(service, method string, re *regexp.Regexp) int {
	n := 0
	for _, e := range p.Log() {
		if (service == "" || e.Service == service) && (method == "" || e.Method == method) && (re == nil || re.MatchString(e.Path)) {
			n++
		}
	}
	return n
}

// Close stops every listener.
func (p *Proxy) Close() error {
	p.mu.Lock()
	ls := []*listener{p.front}
	for _, l := range p.listeners {
		if l != p.front {
			ls = append(ls, l)
		}
	}
	p.closed = true
	p.mu.Unlock()
	for _, l := range ls {
		l.srv.Close()
	}
	return nil
}

func (p *Proxy) listen(service string, upstream *url.URL) (*listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := &listener{service: service, upstream: upstream, ln: ln, base: "http://" + ln.Addr().String()}
	l.srv = &http.Server{Handler: p.handler(l), ErrorLog: nil}
	p.listeners[upstream.Scheme+"://"+upstream.Host] = l
	go l.srv.Serve(ln)
	return l, nil
}

// listenerFor returns the listener forwarding to the scheme://host of an endpoint URL.
func (p *Proxy) listenerFor(service, endpoint string) (*listener, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	key := u.Scheme + "://" + u.Host
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("proxy closed")
	}
	if l, ok := p.listeners[key]; ok {
		return l, nil
	}
	for _, l := range p.listeners {
		if l.base == key { // already one of ours (a service that echoes the Host header)
			return l, nil
		}
	}
	return p.listen(service, &url.URL{Scheme: u.Scheme, Host: u.Host})
}

type ctxKey struct{}

// reqState carries a request's applied rules from the Director to ModifyResponse and the
// error handler.
type reqState struct {
	entry *Entry
	rules []*Rule
	cut   atomic.Bool // the request body was cut on purpose
	idx   int
}

func (p *Proxy) handler(l *listener) http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(l.upstream)
			pr.Out.Host = pr.In.Host // services build their links from Host: keep them pointing here
			pr.Out.Header.Del("Accept-Encoding")
		},
		ModifyResponse: func(resp *http.Response) error {
			st := resp.Request.Context().Value(ctxKey{}).(*reqState)
			return p.modify(l, st, resp)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			st := r.Context().Value(ctxKey{}).(*reqState)
			if st.cut.Load() {
				p.record(st, 0)
				panic(http.ErrAbortHandler)
			}
			p.record(st, http.StatusBadGateway)
			writeError(w, http.StatusBadGateway, "faultproxy: upstream: "+err.Error())
		},
		ErrorLog: quietLog,
		// Stream bodies as they come (downloads, throttling).
		FlushInterval: -1,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := &Request{Service: l.service, Method: r.Method, Path: r.URL.Path, Header: r.Header}
		st := &reqState{entry: &Entry{Service: l.service, Method: r.Method, Path: r.URL.Path}}
		p.mu.Lock()
		rules := append([]*Rule(nil), p.rules...)
		p.mu.Unlock()
		for _, rule := range rules {
			if rule.matches(q) && rule.take() {
				st.rules = append(st.rules, rule)
			}
		}
		var names []string
		for _, rule := range st.rules {
			names = append(names, rule.Name)
		}
		st.entry.Rule = strings.Join(names, ",")
		for _, rule := range st.rules {
			if rule.Delay > 0 {
				select {
				case <-time.After(rule.Delay):
				case <-r.Context().Done():
					p.record(st, 0)
					return
				}
			}
		}
		for _, rule := range st.rules {
			if rule.Status != 0 && !rule.AfterForward {
				io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
				p.record(st, rule.Status)
				writeError(w, rule.Status, fmt.Sprintf("faultproxy rule %q: injected %d", rule.Name, rule.Status))
				return
			}
		}
		for _, rule := range st.rules {
			if rule.CutRequest && r.Body != nil && r.Body != http.NoBody {
				r.Body = &cutReader{r: r.Body, left: rule.CutRequestAfter, st: st}
			}
		}
		rec := &statusRecorder{ResponseWriter: w}
		rp.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), ctxKey{}, st)))
		if rec.status != 0 {
			p.recordOnce(st, rec.status)
		}
	})
}

var errCut = errors.New("faultproxy: request body cut")

type cutReader struct {
	r    io.ReadCloser
	left int64
	st   *reqState
}

func (c *cutReader) Read(b []byte) (int, error) {
	if c.left <= 0 {
		c.st.cut.Store(true)
		return 0, errCut
	}
	if int64(len(b)) > c.left {
		b = b[:c.left]
	}
	n, err := c.r.Read(b)
	c.left -= int64(n)
	return n, err
}

func (c *cutReader) Close() error { return c.r.Close() }

// modify applies the response faults and rewrites token catalogs.
func (p *Proxy) modify(l *listener, st *reqState, resp *http.Response) error {
	for _, rule := range st.rules {
		if rule.Status != 0 && rule.AfterForward {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			body := errorBody(rule.Status, fmt.Sprintf("faultproxy rule %q: injected %d after forwarding", rule.Name, rule.Status))
			resp.StatusCode = rule.Status
			resp.Status = fmt.Sprintf("%d %s", rule.Status, http.StatusText(rule.Status))
			setBody(resp, body)
			resp.Header.Set("Content-Type", "application/json")
			p.record(st, rule.Status)
			return nil
		}
	}
	isJSON := strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json")
	var rewrites []map[string]any
	for _, rule := range st.rules {
		if len(rule.Rewrite) > 0 {
			rewrites = append(rewrites, rule.Rewrite)
		}
	}
	if isJSON && (l == p.front || len(rewrites) > 0) {
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		var doc any
		if json.Unmarshal(data, &doc) == nil {
			changed := false
			if l == p.front {
				c, err := p.rewriteCatalog(doc)
				if err != nil {
					return err
				}
				changed = changed || c
			}
			for _, rw := range rewrites {
				for path, v := range rw {
					if setField(doc, strings.Split(path, "."), v) {
						changed = true
					}
				}
			}
			if changed {
				if data, err = json.Marshal(doc); err != nil {
					return err
				}
			}
			if l == p.front {
				// Version documents link to Keystone itself.
				real := p.keystone.Scheme + "://" + p.keystone.Host
				data = bytes.ReplaceAll(data, []byte(real), []byte(p.front.base))
			}
		}
		setBody(resp, data)
	}
	for _, rule := range st.rules {
		if rule.CutResponse {
			resp.Body = &limitErrReader{r: resp.Body, left: rule.CutResponseAfter}
		}
		if rule.Throttle > 0 {
			resp.Body = &throttleReader{r: resp.Body, rate: rule.Throttle, ctx: resp.Request.Context()}
		}
	}
	p.recordOnce(st, resp.StatusCode)
	return nil
}

// rewriteCatalog points every endpoint of a token's catalog at a listener of the proxy.
func (p *Proxy) rewriteCatalog(doc any) (bool, error) {
	m, ok := doc.(map[string]any)
	if !ok {
		return false, nil
	}
	var catalog []any
	if tok, ok := m["token"].(map[string]any); ok {
		catalog, _ = tok["catalog"].([]any)
	} else {
		catalog, _ = m["catalog"].([]any)
	}
	changed := false
	for _, s := range catalog {
		svc, _ := s.(map[string]any)
		typ, _ := svc["type"].(string)
		eps, _ := svc["endpoints"].([]any)
		for _, e := range eps {
			ep, _ := e.(map[string]any)
			raw, _ := ep["url"].(string)
			if raw == "" {
				continue
			}
			u, err := url.Parse(raw)
			if err != nil {
				continue
			}
			l, err := p.listenerFor(typ, raw)
			if err != nil {
				return false, err
			}
			pu, _ := url.Parse(l.base)
			u.Scheme, u.Host = pu.Scheme, pu.Host
			ep["url"] = u.String()
			changed = true
		}
	}
	return changed, nil
}

// setField sets a dotted path in a JSON document where the path exists up to its parent.
func setField(doc any, path []string, v any) bool {
	m, ok := doc.(map[string]any)
	if !ok {
		return false
	}
	if len(path) == 1 {
		if _, ok := m[path[0]]; !ok {
			return false
		}
		m[path[0]] = v
		return true
	}
	return setField(m[path[0]], path[1:], v)
}

func setBody(resp *http.Response, data []byte) {
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	resp.Header.Set("Content-Length", strconv.Itoa(len(data)))
	resp.Header.Del("Content-Encoding")
}

type limitErrReader struct {
	r    io.ReadCloser
	left int64
}

func (l *limitErrReader) Read(b []byte) (int, error) {
	if l.left <= 0 {
		return 0, errors.New("faultproxy: response body cut")
	}
	if int64(len(b)) > l.left {
		b = b[:l.left]
	}
	n, err := l.r.Read(b)
	l.left -= int64(n)
	return n, err
}

func (l *limitErrReader) Close() error { return l.r.Close() }

type throttleReader struct {
	r     io.ReadCloser
	rate  int64
	ctx   context.Context
	start time.Time
	n     int64
}

func (t *throttleReader) Read(b []byte) (int, error) {
	if t.start.IsZero() {
		t.start = time.Now()
	}
	if chunk := max(t.rate/10, 1); int64(len(b)) > chunk {
		b = b[:chunk]
	}
	n, err := t.r.Read(b)
	t.n += int64(n)
	due := t.start.Add(time.Duration(float64(t.n) / float64(t.rate) * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		select {
		case <-time.After(d):
		case <-t.ctx.Done():
			return n, t.ctx.Err()
		}
	}
	return n, err
}

func (t *throttleReader) Close() error { return t.r.Close() }

func (p *Proxy) record(st *reqState, status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st.idx != 0 {
		p.log[st.idx-1].Status = status
		return
	}
	st.entry.Status = status
	p.log = append(p.log, *st.entry)
	st.idx = len(p.log)
}

func (p *Proxy) recordOnce(st *reqState, status int) {
	p.mu.Lock()
	done := st.idx != 0
	p.mu.Unlock()
	if !done {
		p.record(st, status)
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func errorBody(status int, msg string) []byte {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": status, "title": http.StatusText(status), "message": msg}})
	return b
}

func writeError(w http.ResponseWriter, status int, msg string) {
	b := errorBody(status, msg)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// RewriteClouds writes to dst a copy of the clouds.yaml src with every occurrence of the
// real Keystone URL (scheme://host:port) replaced by the proxy's.
func (p *Proxy) RewriteClouds(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	real := p.keystone.Scheme + "://" + p.keystone.Host
	if !bytes.Contains(data, []byte(real)) {
		return fmt.Errorf("%s does not mention %s", src, real)
	}
	return os.WriteFile(dst, bytes.ReplaceAll(data, []byte(real), []byte(p.URL())), 0o600)
}
