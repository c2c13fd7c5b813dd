package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/justredis/justredis/faultinject"
)

// maxBody bounds the size of request bodies.
const maxBody = 1 << 20

// Handler serves the control API over a set of named proxies it owns. It is
// an http.Handler; Close closes every proxy. All methods are safe for
// concurrent use.
type Handler struct {
	opts []faultinject.Option // immutable: options of every new proxy
	mux  *http.ServeMux       // immutable

	mu      sync.Mutex
	proxies map[string]*faultinject.Proxy // guarded by mu
	closed  bool                          // guarded by mu
}

// NewHandler returns a Handler with no proxies. The options apply to every
// proxy it creates (before the request's own seed, if any), for example
// faultinject.WithLogger.
func NewHandler(opts ...faultinject.Option) *Handler {
	h := &Handler{opts: opts, mux: http.NewServeMux(), proxies: make(map[string]*faultinject.Proxy)}
	h.mux.HandleFunc("GET /proxies", h.listProxies)
	h.mux.HandleFunc("POST /proxies", h.createProxy)
	h.mux.HandleFunc("GET /proxies/{proxy}", h.getProxy)
	h.mux.HandleFunc("PATCH /proxies/{proxy}", h.patchProxy)
	h.mux.HandleFunc("DELETE /proxies/{proxy}", h.deleteProxy)
	h.mux.HandleFunc("POST /proxies/{proxy}/cut", h.cut)
	h.mux.HandleFunc("GET /proxies/{proxy}/toxics", h.listToxics)
	h.mux.HandleFunc("POST /proxies/{proxy}/toxics", h.addToxic)
	h.mux.HandleFunc("GET /proxies/{proxy}/toxics/{toxic}", h.getToxic)
	h.mux.HandleFunc("PATCH /proxies/{proxy}/toxics/{toxic}", h.patchToxic)
	h.mux.HandleFunc("DELETE /proxies/{proxy}/toxics/{toxic}", h.deleteToxic)
	h.mux.HandleFunc("POST /reset", h.reset)
	return h
}

// ServeHTTP serves the control API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Proxy returns the proxy called name, for Go code that shares a Handler
// with non-Go tooling.
func (h *Handler) Proxy(name string) (*faultinject.Proxy, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.proxies[name]
	return p, ok
}

// Close closes every proxy and makes later creations fail. It is
// idempotent and returns nil.
func (h *Handler) Close() error {
	h.mu.Lock()
	h.closed = true
	ps := h.proxies
	h.proxies = make(map[string]*faultinject.Proxy)
	h.mu.Unlock()
	for _, p := range ps {
		_ = p.Close()
	}
	return nil
}

// httpError is an error with its HTTP status.
type httpError struct {
	status int
	err    error
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

// errorf returns an *httpError.
func errorf(status int, format string, args ...any) error {
	return &httpError{status: status, err: fmt.Errorf(format, args...)}
}

// statusOf maps an error to its HTTP status.
func statusOf(err error) int {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he.status
	case errors.Is(err, faultinject.ErrToxicNotFound):
		return http.StatusNotFound
	case errors.Is(err, faultinject.ErrToxicExists):
		return http.StatusConflict
	case errors.Is(err, faultinject.ErrInvalidToxic), errors.Is(err, faultinject.ErrInvalidToxicity),
		errors.Is(err, faultinject.ErrInvalidDirection):
		return http.StatusBadRequest
	case errors.Is(err, faultinject.ErrClosed):
		return http.StatusGone
	}
	return http.StatusInternalServerError
}

// reply writes v as JSON with status, or the error response for err.
func reply(w http.ResponseWriter, status int, v any, err error) {
	if err != nil {
		status, v = statusOf(err), ErrorBody{Error: err.Error()}
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	b, merr := json.MarshalIndent(v, "", "  ")
	if merr != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal: cannot encode reply"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// decode reads the request body into v, rejecting unknown fields and
// trailing data. An empty body is accepted when allowEmpty.
func decode(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return errorf(http.StatusBadRequest, "read body: %v", err)
	}
	if allowEmpty && len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "invalid JSON body: %v", err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "invalid JSON body: data after the value")
	}
	return nil
}

// validName checks a proxy or toxic name.
func validName(what, name string) error {
	if name == "" || strings.Contains(name, "/") {
		return errorf(http.StatusBadRequest, "invalid %s name %q: must be non-empty without '/'", what, name)
	}
	return nil
}

// proxy looks up the proxy named in the URL.
func (h *Handler) proxy(r *http.Request) (*faultinject.Proxy, error) {
	name := r.PathValue("proxy")
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.proxies[name]
	if !ok {
		return nil, errorf(http.StatusNotFound, "no proxy %q", name)
	}
	return p, nil
}

// state describes p.
func state(name string, p *faultinject.Proxy) ProxyState {
	st := p.Stats()
	toxics := p.Toxics()
	specs := make([]ToxicSpec, len(toxics))
	for i, t := range toxics {
		specs[i] = encodeToxic(t)
	}
	return ProxyState{
		Name:     name,
		Listen:   p.Addr(),
		Upstream: p.Upstream(),
		Seed:     p.Seed(),
		Refusing: p.Refusing(),
		Paused:   p.Paused(),
		Conns:    st.Active,
		Stats: Stats{
			Accepted:   st.Accepted,
			Upstream:   DirStats(st.Upstream),
			Downstream: DirStats(st.Downstream),
		},
		Toxics: specs,
	}
}

func (h *Handler) listProxies(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	names := make([]string, 0, len(h.proxies))
	ps := make(map[string]*faultinject.Proxy, len(h.proxies))
	for n, p := range h.proxies {
		names = append(names, n)
		ps[n] = p
	}
	h.mu.Unlock()
	sort.Strings(names)
	out := make([]ProxyState, len(names))
	for i, n := range names {
		out[i] = state(n, ps[n])
	}
	reply(w, http.StatusOK, out, nil)
}

func (h *Handler) createProxy(w http.ResponseWriter, r *http.Request) {
	var spec ProxySpec
	if err := decode(w, r, &spec, false); err != nil {
		reply(w, 0, nil, err)
		return
	}
	if err := validName("proxy", spec.Name); err != nil {
		reply(w, 0, nil, err)
		return
	}
	if spec.Upstream == "" {
		reply(w, 0, nil, errorf(http.StatusBadRequest, "upstream is required"))
		return
	}
	if spec.Listen == "" {
		spec.Listen = "127.0.0.1:0"
	}
	opts := append([]faultinject.Option(nil), h.opts...)
	if spec.Seed != nil {
		opts = append(opts, faultinject.WithSeed(*spec.Seed))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		reply(w, 0, nil, errorf(http.StatusServiceUnavailable, "control handler closed"))
		return
	}
	if _, ok := h.proxies[spec.Name]; ok {
		reply(w, 0, nil, errorf(http.StatusConflict, "proxy %q already exists", spec.Name))
		return
	}
	p, err := faultinject.New(spec.Listen, spec.Upstream, opts...)
	if err != nil {
		reply(w, 0, nil, errorf(http.StatusBadRequest, "%v", err))
		return
	}
	h.proxies[spec.Name] = p
	reply(w, http.StatusCreated, state(spec.Name, p), nil)
}

func (h *Handler) getProxy(w http.ResponseWriter, r *http.Request) {
	p, err := h.proxy(r)
	if err != nil {
		reply(w, 0, nil, err)
		return
	}
	reply(w, http.StatusOK, state(r.PathValue("proxy"), p), nil)
}

func (h *Handler) patchProxy(w http.ResponseWriter, r *http.Request) {
	p, err := h.proxy(r)
	if err != nil {
		reply(w, 0, nil, err)
		return
	}
	var patch ProxyPatch
	if err := decode(w, r, &patch, false); err != nil {
		reply(w, 0, nil, err)
		return
	}
	// Check what can be checked before changing anything. Refuse can fail
	// only when tried (the port taken meanwhile, the proxy closed): then
	// the upstream set before it is put back, so that a failed PATCH
	// changes nothing. Upstream goes first so that the connections
	// accepted once "refuse": false listens again go to the new upstream;
	// if listening fails, none was accepted meanwhile.
	if patch.Upstream != nil && *patch.Upstream == "" {
		reply(w, 0, nil, errorf(http.StatusBadRequest, "upstream must not be empty"))
		return
	}
	undo := func() {}
	if patch.Upstream != nil {
		old := p.Upstream()
		p.SetUpstream(*patch.Upstream)
		undo = func() { p.SetUpstream(old) }
	}
	if patch.Refuse != nil {
		if err := p.RefuseNew(*patch.Refuse); err != nil {
			undo()
			reply(w, 0, nil, err)
			return
		}
	}
	if patch.Paused != nil {
		if *patch.Paused {
			p.Pause()
		} else {
			p.Resume()
		}
	}
	reply(w, http.StatusOK, state(r.PathValue("proxy"), p), nil)
}

func (h *Handler) deleteProxy(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("proxy")
	h.mu.Lock()
	p, ok := h.proxies[name]
	delete(h.proxies, name)
	h.mu.Unlock()
	if !ok {
		reply(w, 0, nil, errorf(http.StatusNotFound, "no proxy %q", name))
		return
	}
	_ = p.Close()
	reply(w, http.StatusNoContent, nil, nil)
}

func (h *Handler) cut(w http.ResponseWriter, r *http.Request) {
	p, err := h.proxy(r)
	if err != nil {
		reply(w, 0, nil, err)
		return
	}
	var req CutRequest
	if err := decode(w, r, &req, true); err != nil {
		reply(w, 0, nil, err)
		return
	}
	if req.Reset {
		p.ResetAll()
	} else {
		p.CutAll()
	}
	reply(w, http.StatusNoContent, nil, nil)
}

func (h *Handler) listToxics(w http.ResponseWriter, r *http.Request) {
	p, err := h.proxy(r)
	if err != nil {
		reply(w, 0, nil, err)
		return
	}
	reply(w, http.StatusOK, state(r.PathValue("proxy"), p).Toxics, nil)
}

func (h *Handler) addToxic(w http.ResponseWriter, r *http.Request) {
	p, err := h.proxy(r)
	if err != nil {
		reply(w, 0, nil, err)
		return
	}
	var spec ToxicSpec
	if err := decode(w, r, &spec, false); err != nil {
		reply(w, 0, nil, err)
		return
	}
	if err := validName("toxic", spec.Name); err != nil {
		reply(w, 0, nil, err)
		return
	}
	var dir faultinject.Direction
	if err := dir.UnmarshalText([]byte(spec.Direction)); err != nil {
		reply(w, 0, nil, err)
		return
	}
	t, err := decodeToxic(spec.Type, nil, spec.Attributes)
	if err != nil {
		reply(w, 0, nil, errorf(http.StatusBadRequest, "%v", err))
		return
	}
	toxicity := 1.0
	if spec.Toxicity != nil {
		toxicity = *spec.Toxicity
	}
	if err := p.AddToxic(spec.Name, dir, t, toxicity); err != nil {
		reply(w, 0, nil, err)
		return
	}
	info, _ := p.Toxic(spec.Name)
	reply(w, http.StatusCreated, encodeToxic(info), nil)
}

func (h *Handler) getToxic(w http.ResponseWriter, r *http.Request) {
	p, err := h.proxy(r)
	if err != nil {
		reply(w, 0, nil, err)
		return
	}
	info, ok := p.Toxic(r.PathValue("toxic"))
	if !ok {
		reply(w, 0, nil, fmt.Errorf("%w: %q", faultinject.ErrToxicNotFound, r.PathValue("toxic")))
		return
	}
	reply(w, http.StatusOK, encodeToxic(info), nil)
}

func (h *Handler) patchToxic(w http.ResponseWriter, r *http.Request) {
	p, err := h.proxy(r)
	if err != nil {
		reply(w, 0, nil, err)
		return
	}
	name := r.PathValue("toxic")
	info, ok := p.Toxic(name)
	if !ok {
		reply(w, 0, nil, fmt.Errorf("%w: %q", faultinject.ErrToxicNotFound, name))
		return
	}
	var spec ToxicSpec
	if err := decode(w, r, &spec, false); err != nil {
		reply(w, 0, nil, err)
		return
	}
	if spec.Name != "" && spec.Name != name {
		reply(w, 0, nil, errorf(http.StatusBadRequest, "a toxic cannot be renamed; remove it and add it again"))
		return
	}
	if spec.Direction != "" && spec.Direction != info.Direction.String() {
		reply(w, 0, nil, errorf(http.StatusBadRequest, "a toxic cannot change direction; remove it and add it again"))
		return
	}
	typ := spec.Type
	if typ == "" {
		typ = info.Toxic.Kind()
	}
	t, err := decodeToxic(typ, info.Toxic, spec.Attributes)
	if err != nil {
		reply(w, 0, nil, errorf(http.StatusBadRequest, "%v", err))
		return
	}
	toxicity := info.Toxicity
	if spec.Toxicity != nil {
		toxicity = *spec.Toxicity
	}
	if err := p.UpdateToxic(name, t, toxicity); err != nil {
		reply(w, 0, nil, err)
		return
	}
	info, _ = p.Toxic(name)
	reply(w, http.StatusOK, encodeToxic(info), nil)
}

func (h *Handler) deleteToxic(w http.ResponseWriter, r *http.Request) {
	p, err := h.proxy(r)
	if err != nil {
		reply(w, 0, nil, err)
		return
	}
	if err := p.RemoveToxic(r.PathValue("toxic")); err != nil {
		reply(w, 0, nil, err)
		return
	}
	reply(w, http.StatusNoContent, nil, nil)
}

// reset removes every toxic of every proxy, accepts new connections again
// and resumes traffic.
func (h *Handler) reset(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	ps := make([]*faultinject.Proxy, 0, len(h.proxies))
	for _, p := range h.proxies {
		ps = append(ps, p)
	}
	h.mu.Unlock()
	var errs []error
	for _, p := range ps {
		p.RemoveAllToxics()
		p.Resume()
		if err := p.RefuseNew(false); err != nil && !errors.Is(err, faultinject.ErrClosed) {
			errs = append(errs, err)
		}
	}
	reply(w, http.StatusNoContent, nil, errors.Join(errs...))
}
