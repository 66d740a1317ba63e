package ec2emu

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// params is a flattened EC2 Query request (Name.1.Sub=...). Methods select sub-trees.
type params struct {
	v      url.Values
	prefix string // "" or "Filter.1."
}

func (p params) get(name string) string { return p.v.Get(p.prefix + name) }

func (p params) has(name string) bool {
	_, ok := p.v[p.prefix+name]
	return ok
}

func (p params) boolean(name string) (val, set bool) {
	s := p.get(name)
	if s == "" {
		return false, false
	}
	return strings.EqualFold(s, "true"), true
}

func (p params) int64(name string) int64 {
	n, _ := strconv.ParseInt(p.get(name), 10, 64)
	return n
}

// list returns the members Name.1, Name.2, ... as sub-params, in index order.
func (p params) list(name string) []params {
	base := p.prefix + name + "."
	seen := map[int]bool{}
	for k := range p.v {
		if !strings.HasPrefix(k, base) {
			continue
		}
		rest := k[len(base):]
		n, _, _ := strings.Cut(rest, ".")
		if i, err := strconv.Atoi(n); err == nil {
			seen[i] = true
		}
	}
	idx := make([]int, 0, len(seen))
	for i := range seen {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	out := make([]params, len(idx))
	for j, i := range idx {
		out[j] = params{v: p.v, prefix: base + strconv.Itoa(i) + "."}
	}
	return out
}

// strings returns the scalar members Name.1, Name.2, ... in index order.
func (p params) strings(name string) []string {
	base := p.prefix + name + "."
	type kv struct {
		i int
		v string
	}
	var items []kv
	for k, vs := range p.v {
		if !strings.HasPrefix(k, base) {
			continue
		}
		if i, err := strconv.Atoi(k[len(base):]); err == nil && len(vs) > 0 {
			items = append(items, kv{i, vs[0]})
		}
	}
	sort.Slice(items, func(a, b int) bool { return items[a].i < items[b].i })
	out := make([]string, len(items))
	for j, it := range items {
		out[j] = it.v
	}
	return out
}

func (p params) sub(name string) params { return params{v: p.v, prefix: p.prefix + name + "."} }

// filter is one EC2 Filter: name and accepted values (with * and ? wildcards).
type filter struct {
	name   string
	values []string
}

func (p params) filters(name string) []filter {
	var fs []filter
	for _, f := range p.list(name) {
		fs = append(fs, filter{name: f.get("Name"), values: f.strings("Value")})
	}
	return fs
}

// attrFunc returns a resource's values for a filter name; known reports whether the filter
// name is supported.
type attrFunc func(name string) (vals []string, known bool)

// matchFilters applies EC2 filter semantics: all filters must match, a filter matches when
// any of its values matches any of the resource's values.
func matchFilters(fs []filter, attrs attrFunc, tags map[string]string) (bool, *apiError) {
	for _, f := range fs {
		var vals []string
		switch {
		case strings.HasPrefix(f.name, "tag:"):
			if v, ok := tags[f.name[4:]]; ok {
				vals = []string{v}
			}
		case f.name == "tag-key":
			for k := range tags {
				vals = append(vals, k)
			}
		case f.name == "tag-value":
			for _, v := range tags {
				vals = append(vals, v)
			}
		default:
			v, known := attrs(f.name)
			if !known {
				return false, errf(400, "InvalidParameterValue", "The filter '%s' is invalid", f.name)
			}
			vals = v
		}
		if !anyMatch(f.values, vals) {
			return false, nil
		}
	}
	return true, nil
}

func anyMatch(patterns, vals []string) bool {
	for _, p := range patterns {
		for _, v := range vals {
			if wildcard(p, v) {
				return true
			}
		}
	}
	return false
}

// wildcard matches EC2 filter patterns: * any run, ? one character, backslash escapes.
func wildcard(p, s string) bool {
	star, mark := -1, 0
	i, j := 0, 0
	for j < len(s) {
		if i < len(p) {
			switch {
			case p[i] == '*':
				star, mark = i, j
				i++
				continue
			case p[i] == '\\' && i+1 < len(p) && p[i+1] == s[j]:
				i += 2
				j++
				continue
			case p[i] == '?' || p[i] == s[j] && p[i] != '\\':
				i++
				j++
				continue
			}
		}
		if star < 0 {
			return false
		}
		mark++
		i, j = star+1, mark
	}
	for i < len(p) && p[i] == '*' {
		i++
	}
	return i == len(p)
}

// describe is what the Describe* actions share. The ids named by idParam must all exist
// (notFound(id) otherwise). Of them, or of all items when none is named, it returns in id
// order those that keep accepts (nil keeps all) and whose attributes (attrs) and tags match
// the request's filters.
func describe[V any](p params, items map[string]V, idParam string, notFound func(id string) *apiError,
	keep func(V) bool, attrs func(v V, name string) ([]string, bool), tags map[string]map[string]string) ([]string, *apiError) {
	ids := p.strings(idParam)
	for _, id := range ids {
		if _, ok := items[id]; !ok {
			return nil, notFound(id)
		}
	}
	fs := p.filters("Filter")
	var match []string
	for _, id := range sortedKeys(items) {
		v := items[id]
		if len(ids) > 0 && !contains(ids, id) || keep != nil && !keep(v) {
			continue
		}
		ok, ae := matchFilters(fs, func(name string) ([]string, bool) { return attrs(v, name) }, tags[id])
		if ae != nil {
			return nil, ae
		}
		if ok {
			match = append(match, id)
		}
	}
	return match, nil
}
