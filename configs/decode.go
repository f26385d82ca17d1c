package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder walks a yaml.Node tree into a Go value by hand instead of using
// yaml's own decoder, so that every unknown key and every wrong type becomes
// a Problem with its line and column, and all of them are reported at once.
type decoder struct {
	*reporter
	steps int // values decoded so far, to bound alias expansion
	limit int // steps at which decoding gives up
}

// maxValues bounds how many values one file may expand to through aliases
// beyond what it spells out, so that a "billion laughs" file fails instead
// of exhausting memory. A file without aliases holds fewer values than
// bytes: 100,000 certificates in one domains file are 400,000 values.
const maxValues = 100_000

func newDecoder(r *reporter, data []byte) *decoder {
	return &decoder{reporter: r, limit: maxValues + len(data)}
}

var (
	durationType = reflect.TypeOf(Duration(0))
	listType     = reflect.TypeOf(scalarOrList(nil))
)

// parseYAML turns data into its root node. A syntax error comes back as a
// Problem carrying the line yaml reports; yaml does not report a column.
func parseYAML(r *reporter, data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc, next yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) {
			r.probs = append(r.probs, syntaxProblem(r.file, err))
		}
		return nil // io.EOF: empty file, or only comments
	}
	// A second document is almost always a paste gone wrong; ignoring it
	// would silently drop what the operator wrote.
	switch err := dec.Decode(&next); {
	case err == nil:
		r.probs = append(r.probs, Problem{File: r.file, Line: next.Line, Col: next.Column,
			Msg: "only one YAML document is allowed; remove the \"---\" separator"})
	case !errors.Is(err, io.EOF):
		r.probs = append(r.probs, syntaxProblem(r.file, err))
	}
	if len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
}

var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// parserProblems are the messages of yaml's parser, as opposed to its
// scanner. yaml.v3 reports the parser's line 0-based and the scanner's
// 1-based, so only the first need correcting.
var parserProblems = []string{
	"did not find expected ',' or ']'", "did not find expected ',' or '}'",
	"did not find expected '-' indicator", "did not find expected <document start>",
	"did not find expected <stream-start>", "did not find expected key",
	"did not find expected node content", "found duplicate %TAG directive",
	"found duplicate %YAML directive", "found incompatible YAML document", "found undefined tag handle",
}

// syntaxProblem turns a yaml error into a Problem. yaml does not report a
// column, and leaves out the line when it is the first one; errors in the
// byte encoding itself have no position at all.
func syntaxProblem(file string, err error) Problem {
	p := Problem{File: file, Msg: "invalid YAML: " + err.Error()}
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return p
	}
	p.Msg = "invalid YAML: " + m[2]
	if strings.Contains(m[2], "UTF-") || strings.Contains(m[2], "control characters") ||
		strings.Contains(m[2], "anchor") || strings.Contains(m[2], "alias") {
		return p // raised without a position
	}
	p.Line, p.Col = 1, 1
	if m[1] != "" {
		p.Line, _ = strconv.Atoi(m[1])
		if slices.Contains(parserProblems, m[2]) {
			p.Line++
		}
	}
	return p
}

// decodeRoot decodes the whole file into v, a pointer, and tells whether
// it gave up because aliases expanded too far; what was decoded then is
// not worth validating.
func (d *decoder) decodeRoot(root *yaml.Node, v any) (gaveUp bool) {
	d.decode(root, "", reflect.ValueOf(v).Elem())
	return d.steps >= d.limit
}

func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	n = deref(n)
	if d.steps++; d.steps == d.limit {
		d.add(path, "the file expands to more than %d values; is an alias repeated too often?", d.limit)
	}
	if d.steps >= d.limit {
		return
	}
	d.pos[path] = position{n.Line, n.Column}
	if isNull(n) {
		return // keep the zero value; a later check says if it was required
	}
	switch {
	case v.Type() == durationType:
		d.duration(n, path, v)
	case v.Type() == listType:
		d.scalarOrList(n, path, v)
	case v.Kind() == reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		d.decode(n, path, v.Elem())
	case v.Kind() == reflect.Struct:
		d.mapping(n, path, v)
	case v.Kind() == reflect.Slice:
		d.sequence(n, path, v)
	case v.Kind() == reflect.Map:
		d.dictionary(n, path, v)
	case v.Kind() == reflect.String:
		if d.expect(n, path, yaml.ScalarNode, "a string") {
			v.SetString(n.Value)
		}
	case v.Kind() == reflect.Bool:
		d.scalar(n, path, v, "!!bool", "true or false")
	case v.Kind() == reflect.Int:
		d.scalar(n, path, v, "!!int", "a whole number")
	default:
		panic("configs: cannot decode into " + v.Type().String())
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// expect reports a problem unless n is of the wanted kind.
func (d *decoder) expect(n *yaml.Node, path string, kind yaml.Kind, want string) bool {
	if n.Kind == kind {
		return true
	}
	d.add(path, "must be %s, not %s", want, describe(n))
	return false
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!str":
		return strconv.Quote(n.Value)
	case "!!null":
		return "empty"
	}
	return n.Value
}

func (d *decoder) scalar(n *yaml.Node, path string, v reflect.Value, tag, want string) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != tag {
		d.add(path, "must be %s, not %s", want, describe(n))
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.add(path, "must be %s, not %s", want, describe(n))
	}
}

func (d *decoder) duration(n *yaml.Node, path string, v reflect.Value) {
	if !d.expect(n, path, yaml.ScalarNode, `a duration such as "30s" or "2m"`) {
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.add(path, `must be a duration such as "30s" or "2m", not %s`, describe(n))
		return
	}
	v.SetInt(int64(dur))
}

// scalarOrList is a list that may also be written as a single scalar, as
// key_type is.
type scalarOrList []string

func (d *decoder) scalarOrList(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind == yaml.ScalarNode {
		v.Set(reflect.ValueOf(scalarOrList{n.Value}))
		return
	}
	var list []string
	d.decode(n, path, reflect.ValueOf(&list).Elem())
	if list == nil {
		list = []string{} // written, but empty: not the same as missing
	}
	v.Set(reflect.ValueOf(scalarOrList(list)))
}

func (d *decoder) sequence(n *yaml.Node, path string, v reflect.Value) {
	if !d.expect(n, path, yaml.SequenceNode, "a list") {
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, indexPath(path, i), s.Index(i))
	}
	v.Set(s)
}

func (d *decoder) mapping(n *yaml.Node, path string, v reflect.Value) {
	if !d.expect(n, path, yaml.MappingNode, "a mapping of keys to values") {
		return
	}
	fields := fieldsByTag(v.Type())
	seen := map[string]bool{}
	for _, p := range mergedPairs(n, nil) {
		field := joinPath(path, p.key.Value)
		i, ok := fields[p.key.Value]
		switch {
		case !ok && path == "" && strings.HasPrefix(p.key.Value, "x-"):
			// Top-level "x-" keys are ignored, as in Compose files, so that
			// anchors for "<<: *defaults" have somewhere to live.
		case !ok:
			d.pos[field] = position{p.key.Line, p.key.Column}
			d.add(field, "unknown key%s", suggest(p.key.Value, fields))
		case seen[p.key.Value]:
			d.pos[field] = position{p.key.Line, p.key.Column}
			d.add(field, "duplicate key")
		default:
			seen[p.key.Value] = true
			d.decode(p.val, field, v.Field(i))
		}
	}
}

// dictionary decodes a mapping whose keys the operator chooses (env
// variables, provider names) into a map with string keys.
func (d *decoder) dictionary(n *yaml.Node, path string, v reflect.Value) {
	if !d.expect(n, path, yaml.MappingNode, "a mapping of names to values") {
		return
	}
	m := reflect.MakeMap(v.Type())
	for _, p := range mergedPairs(n, nil) {
		field := joinPath(path, p.key.Value)
		d.pos[field] = position{p.key.Line, p.key.Column}
		switch {
		case p.key.Kind != yaml.ScalarNode || p.key.Value == "":
			d.add(field, "a name must be a non-empty string, not %s", describe(p.key))
		case m.MapIndex(reflect.ValueOf(p.key.Value)).IsValid():
			d.add(field, "duplicate key")
		default:
			elem := reflect.New(v.Type().Elem()).Elem()
			d.decode(p.val, field, elem)
			m.SetMapIndex(reflect.ValueOf(p.key.Value), elem)
		}
	}
	v.Set(m)
}

// mergedPair is one key and value of a mapping.
type mergedPair struct {
	key, val *yaml.Node
}

// mergedPairs flattens merge keys so that "<<: *defaults" works. Keys written
// in the mapping itself take precedence over merged ones, and earlier merge
// sources over later ones, as the YAML merge key spec says.
// A merge that leads back to a mapping being merged is ignored: it could
// only repeat keys already there.
func mergedPairs(n *yaml.Node, active map[*yaml.Node]bool) []mergedPair {
	if active[n] {
		return nil
	}
	if active == nil {
		active = map[*yaml.Node]bool{}
	}
	active[n] = true
	defer delete(active, n)
	var own, merged []mergedPair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.ShortTag() != "!!merge" {
			own = append(own, mergedPair{k, v})
			continue
		}
		for _, src := range mergeSources(v) {
			merged = append(merged, mergedPairs(src, active)...)
		}
	}
	taken := map[string]bool{}
	for _, p := range own {
		taken[p.key.Value] = true
	}
	out := own
	for _, p := range merged {
		if !taken[p.key.Value] {
			taken[p.key.Value] = true
			out = append(out, p)
		}
	}
	return out
}

func mergeSources(v *yaml.Node) []*yaml.Node {
	v = deref(v)
	if v.Kind == yaml.SequenceNode {
		var out []*yaml.Node
		for _, c := range v.Content {
			if c = deref(c); c.Kind == yaml.MappingNode {
				out = append(out, c)
			}
		}
		return out
	}
	if v.Kind == yaml.MappingNode {
		return []*yaml.Node{v}
	}
	return nil
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// fieldsByTag maps yaml tag names to struct field indexes.
func fieldsByTag(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag != "" && tag != "-" {
			m[tag] = i
		}
	}
	return m
}

// suggest names the closest known key, because most unknown keys are typos.
func suggest(key string, fields map[string]int) string {
	best, bestDist := "", 3
	for name := range fields {
		if d := editDistance(key, name); d < bestDist || (d == bestDist && best != "" && name < best) {
			best, bestDist = name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
