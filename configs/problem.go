package configs

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Problem is one thing wrong with a config or domains file, located well
// enough that an operator can jump to it from `hotcert check` output.
type Problem struct {
	File      string
	Line, Col int
	Field     string // path such as "certificates[2].domains[0]" or "haproxy[0].socket"
	Msg       string
}

// String formats the problem like a compiler diagnostic:
// "FILE:LINE:COL: FIELD: message". Parts that are unknown are left out.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", p.Line, max(p.Col, 1))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in one pass; it is the error type that
// ParseConfig, ParseDomains and the Validate methods return.
type Problems []Problem

// Error lists one problem per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// err returns nil for no problems, so callers can `return ps.err()` without
// handing back a non-nil interface holding an empty slice.
func (ps Problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	ps.sort()
	return ps
}

func (ps Problems) sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].File != ps[j].File {
			return ps[i].File < ps[j].File
		}
		if ps[i].Line != ps[j].Line {
			return ps[i].Line < ps[j].Line
		}
		return ps[i].Col < ps[j].Col
	})
}

// position is where a field's value starts in its file.
type position struct{ line, col int }

// positions maps field paths to where they were written. Fields that were
// not written (defaults, missing keys) borrow the position of the nearest
// enclosing field, which is where the operator has to add them.
type positions map[string]position

func (ps positions) of(path string) position {
	for {
		if p, ok := ps[path]; ok {
			return p
		}
		if path == "" {
			return position{}
		}
		path = parentPath(path)
	}
}

func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// reporter collects problems for one file.
type reporter struct {
	file  string
	pos   positions
	probs Problems
}

func (r *reporter) add(field, format string, args ...any) {
	p := r.pos.of(field)
	r.probs = append(r.probs, Problem{File: r.file, Line: p.line, Col: p.col, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func indexPath(parent string, i int) string {
	return fmt.Sprintf("%s[%d]", parent, i)
}

// merge adds the problems Validate found to those found while decoding,
// leaving out any about a field that could not be decoded: its zero value
// would only be reported again as missing or wrong.
func merge(decoded Problems, validated error) error {
	all := decoded
	var vs Problems
	errors.As(validated, &vs)
	for _, v := range vs {
		if !slices.ContainsFunc(decoded, func(d Problem) bool { return within(v.Field, d.Field) }) {
			all = append(all, v)
		}
	}
	return all.err()
}

// within tells whether field is parent or inside it.
func within(field, parent string) bool {
	return field == parent || strings.HasPrefix(field, parent+".") || strings.HasPrefix(field, parent+"[")
}

// Problem locates a problem with field found outside the config's own
// checks, such as a file it names that cannot be read, at the field's place
// in the file (or its nearest enclosing field's).
func (c *Config) Problem(field, format string, args ...any) Problem {
	return locate(c.File, c.pos, field, format, args...)
}

// Problem is Config.Problem for the domains file, for fields such as
// "certificates[2].key_file".
func (d *Domains) Problem(field, format string, args ...any) Problem {
	return locate(d.File, d.pos, field, format, args...)
}

func locate(file string, pos positions, field, format string, args ...any) Problem {
	if pos == nil {
		pos = positions{}
	}
	r := &reporter{file: file, pos: pos}
	r.add(field, format, args...)
	return r.probs[0]
}
