package lvm

import (
	"fmt"
	"strconv"
)

// Bounds of the metadata text parser. Real metadata nests four sections deep (vg,
// logical_volumes, lv, segment) and holds a few hundred nodes.
const (
	MaxDepth = 8
	MaxNodes = 100000
	// maxArray bounds the values of one array (a striped segment lists two per stripe).
	maxArray = 2 * 4 * MaxPVs
)

// Node is one node of LVM's configuration-tree syntax: a section (Children set, possibly
// empty) or a key with a value (Value set).
type Node struct {
	Key      string
	Children []*Node // section
	Value    *Value  // key = value
	Line     int
}

// Value is a string, an integer or an array of those.
type Value struct {
	Kind  byte // 's' string, 'i' integer, 'a' array
	Str   string
	Int   int64
	Array []Value
}

func (v *Value) String() string {
	switch v.Kind {
	case 's':
		return strconv.Quote(v.Str)
	case 'i':
		return strconv.FormatInt(v.Int, 10)
	}
	return fmt.Sprintf("array of %d", len(v.Array))
}

// Child returns the first child named key, or nil.
func (n *Node) Child(key string) *Node {
	for _, c := range n.Children {
		if c.Key == key {
			return c
		}
	}
	return nil
}

// ParseConfig parses LVM's configuration-tree text (sections `name { ... }`, `key = value`,
// arrays `[ v, v ]`, double- or single-quoted strings with backslash escapes, decimal
// integers, `#` comments) into a root section, within MaxDepth and MaxNodes.
func ParseConfig(text []byte) (*Node, error) {
	if len(text) > MaxMetadataSize {
		return nil, fmt.Errorf("metadata text of %d bytes (at most %d)", len(text), MaxMetadataSize)
	}
	p := &parser{s: text, line: 1}
	root := &Node{Key: "", Children: []*Node{}}
	if err := p.section(root, 0); err != nil {
		return nil, err
	}
	return root, nil
}

type parser struct {
	s     []byte
	pos   int
	line  int
	nodes int
}

func (p *parser) errf(format string, a ...any) error {
	return fmt.Errorf("metadata line %d: %s", p.line, fmt.Sprintf(format, a...))
}

// skip passes whitespace and comments.
func (p *parser) skip() {
	for p.pos < len(p.s) {
		switch c := p.s[p.pos]; {
		case c == '\n':
			p.line++
			p.pos++
		case c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f':
			p.pos++
		case c == '#':
			for p.pos < len(p.s) && p.s[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func isSpecial(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '\v', '\f', '{', '}', '[', ']', '=', ',', '"', '\'', '#', 0:
		return true
	}
	return false
}

func (p *parser) ident() string {
	start := p.pos
	for p.pos < len(p.s) && !isSpecial(p.s[p.pos]) && p.pos-start < 1024 {
		p.pos++
	}
	return string(p.s[start:p.pos])
}

func (p *parser) count() error {
	p.nodes++
	if p.nodes > MaxNodes {
		return p.errf("more than %d nodes", MaxNodes)
	}
	return nil
}

// section reads nodes into sec until '}' (depth > 0) or the end of the text (depth 0).
func (p *parser) section(sec *Node, depth int) error {
	for {
		p.skip()
		if p.pos == len(p.s) {
			if depth > 0 {
				return p.errf("section %q is not closed", sec.Key)
			}
			return nil
		}
		if p.s[p.pos] == '}' {
			if depth == 0 {
				return p.errf("unexpected '}'")
			}
			p.pos++
			return nil
		}
		line := p.line
		key := p.ident()
		if key == "" {
			return p.errf("expected a name, found %q", p.s[p.pos])
		}
		if err := p.count(); err != nil {
			return err
		}
		p.skip()
		if p.pos == len(p.s) {
			return p.errf("%q is followed by nothing", key)
		}
		n := &Node{Key: key, Line: line}
		switch p.s[p.pos] {
		case '{':
			if depth+1 > MaxDepth {
				return p.errf("sections nested deeper than %d", MaxDepth)
			}
			p.pos++
			n.Children = []*Node{}
			if err := p.section(n, depth+1); err != nil {
				return err
			}
		case '=':
			p.pos++
			v, err := p.value(true)
			if err != nil {
				return fmt.Errorf("%w (value of %s)", err, key)
			}
			n.Value = &v
		default:
			return p.errf("expected '{' or '=' after %q", key)
		}
		sec.Children = append(sec.Children, n)
	}
}

func (p *parser) value(arrayOK bool) (Value, error) {
	p.skip()
	if p.pos == len(p.s) {
		return Value{}, p.errf("missing value")
	}
	switch c := p.s[p.pos]; {
	case c == '[' && arrayOK:
		p.pos++
		v := Value{Kind: 'a'}
		for {
			p.skip()
			if p.pos == len(p.s) {
				return Value{}, p.errf("array is not closed")
			}
			if p.s[p.pos] == ']' {
				p.pos++
				return v, nil
			}
			if len(v.Array) == maxArray {
				return Value{}, p.errf("array of more than %d values", maxArray)
			}
			if err := p.count(); err != nil {
				return Value{}, err
			}
			e, err := p.value(false)
			if err != nil {
				return Value{}, err
			}
			v.Array = append(v.Array, e)
			p.skip()
			if p.pos < len(p.s) && p.s[p.pos] == ',' {
				p.pos++
			}
		}
	case c == '"' || c == '\'':
		p.pos++
		var b []byte
		for {
			if p.pos == len(p.s) {
				return Value{}, p.errf("string is not closed")
			}
			ch := p.s[p.pos]
			p.pos++
			switch ch {
			case c:
				return Value{Kind: 's', Str: string(b)}, nil
			case '\\':
				if p.pos == len(p.s) {
					return Value{}, p.errf("string is not closed")
				}
				ch = p.s[p.pos]
				p.pos++
			case '\n':
				p.line++
			}
			b = append(b, ch)
		}
	case c == '-' || c == '+' || '0' <= c && c <= '9':
		tok := p.ident()
		i, err := strconv.ParseInt(tok, 10, 64)
		if err != nil {
			return Value{}, p.errf("%q is not a decimal integer in range", tok)
		}
		return Value{Kind: 'i', Int: i}, nil
	}
	return Value{}, p.errf("unexpected %q where a value should be", p.s[p.pos])
}
