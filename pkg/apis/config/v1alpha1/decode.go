package v1alpha1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"
)

// DecodeJSON decodes the JSON object data into v (a pointer to a struct)
// strictly and field by field: field names are case-sensitive, unknown and
// duplicate fields are errors, and a value that does not decode is reported
// with its path without hiding the errors of the other fields (encoding/json
// stops at the first). Fields whose value is bad are left unset. path
// prefixes every error's field path; nil for a document of its own.
func DecodeJSON(path *field.Path, data []byte, v any) field.ErrorList {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return field.ErrorList{field.InternalError(path, fmt.Errorf("DecodeJSON needs a non-nil pointer, got %T", v))}
	}
	return decodeValue(path, data, rv.Elem())
}

var (
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	durationType    = reflect.TypeFor[metav1.Duration]()
	quantityType    = reflect.TypeFor[resource.Quantity]()
)

func decodeValue(p *field.Path, raw []byte, v reflect.Value) field.ErrorList {
	t := v.Type()
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil // as encoding/json: null leaves the value unset
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return decodeLeaf(p, raw, v)
	}
	switch t.Kind() {
	case reflect.Pointer:
		e := reflect.New(t.Elem())
		errs := decodeValue(p, raw, e.Elem())
		v.Set(e)
		return errs
	case reflect.Struct:
		return decodeStruct(p, raw, v)
	case reflect.Slice:
		var items []json.RawMessage
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &items); err != nil {
			return field.ErrorList{field.TypeInvalid(pathOrRoot(p), shortValue(raw), "must be a list")}
		}
		s := reflect.MakeSlice(t, len(items), len(items))
		var errs field.ErrorList
		for i, item := range items {
			errs = append(errs, decodeValue(p.Index(i), item, s.Index(i))...)
		}
		v.Set(s)
		return errs
	}
	return decodeLeaf(p, raw, v)
}

func decodeStruct(p *field.Path, raw []byte, v reflect.Value) field.ErrorList {
	var m map[string]json.RawMessage
	strict, err := sigsjson.UnmarshalStrict(raw, &m, sigsjson.DisallowDuplicateFields)
	if err != nil {
		return field.ErrorList{field.TypeInvalid(pathOrRoot(p), shortValue(raw), "must be a mapping of field names to values")}
	}
	var errs field.ErrorList
	for _, e := range strict {
		var fp interface{ FieldPath() string }
		if errors.As(e, &fp) {
			errs = append(errs, field.Duplicate(p.Child(fp.FieldPath()), fp.FieldPath()))
		}
	}
	fields := jsonFields(v.Type())
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		idx, ok := fields[k]
		if !ok {
			errs = append(errs, unknownField(p.Child(k), k, fields))
			continue
		}
		errs = append(errs, decodeValue(p.Child(k), m[k], v.FieldByIndex(idx))...)
	}
	return errs
}

func unknownField(p *field.Path, key string, fields map[string][]int) *field.Error {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return field.Forbidden(p, fmt.Sprintf("unknown field; did you mean %q? (field names are case-sensitive)", name))
		}
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	return field.Forbidden(p, "unknown field; known fields here: "+strings.Join(names, ", "))
}

// jsonFields maps the JSON names of t's fields to their index, with the
// fields of embedded (inline) structs at the top level, as encoding/json
// does.
func jsonFields(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for n, idx := range jsonFields(f.Type) {
				if _, ok := out[n]; !ok {
					out[n] = append([]int{i}, idx...)
				}
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = []int{i}
	}
	return out
}

func decodeLeaf(p *field.Path, raw []byte, v reflect.Value) field.ErrorList {
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, v.Addr().Interface()); err != nil {
		return field.ErrorList{field.TypeInvalid(pathOrRoot(p), shortValue(raw), leafHint(v.Type(), err))}
	}
	return nil
}

// leafHint says what a field of type t accepts, in YAML terms.
func leafHint(t reflect.Type, err error) string {
	switch t {
	case durationType:
		return "must be a duration such as 30s, 5m or 1h30m"
	case quantityType:
		return "must be a Kubernetes quantity such as 64, 500m, 2.5 or 256Gi"
	}
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) && !strings.HasPrefix(err.Error(), "json: ") {
		return err.Error() // a type's own message (e.g. Mode's)
	}
	switch t.Kind() {
	case reflect.String:
		return "must be a string (quote it)"
	case reflect.Bool:
		return "must be true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "must be a whole number"
	case reflect.Float32, reflect.Float64:
		return "must be a number"
	case reflect.Map:
		if t.Elem().Kind() == reflect.String {
			// YAML reads an unquoted true, false or 5 as a bool or a number.
			return "must be a mapping of strings to strings: quote values such as \"true\", \"false\" or \"5\""
		}
		return "must be a mapping"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// shortValue is raw for an error message: a string unquoted, anything else
// as written, cut to a readable length.
func shortValue(raw []byte) string {
	s := string(bytes.TrimSpace(raw))
	var str string
	if json.Unmarshal(raw, &str) == nil {
		s = str
	}
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

func pathOrRoot(p *field.Path) *field.Path {
	if p == nil {
		return field.NewPath("<document>")
	}
	return p
}

// yamlDocument reads the one YAML document of data. It refuses a stream of
// several documents, naming the line of the second: the webhook reads one
// configuration, and the documents after the first would be ignored.
func yamlDocument(data []byte) (*yamlv3.Node, error) {
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	var first *yamlv3.Node
	for {
		var n yamlv3.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return first, nil
		}
		if err != nil {
			return nil, err
		}
		if len(n.Content) == 0 || n.Content[0].Tag == "!!null" {
			continue // an empty document, as after a trailing ---
		}
		if first != nil {
			return nil, fmt.Errorf("line %d: a second YAML document (after ---); a configuration file holds one SparkplaneConfiguration: keep one document per file", n.Content[0].Line)
		}
		first = &n
	}
}

// located is an error and the line it is on (0: not written in the file).
type located struct {
	line int
	err  *field.Error
}

// yamlLines maps the field path of every key and list item in n to its line.
// It also returns duplicate keys, which the YAML-to-JSON conversion would
// silently resolve to the last value.
func yamlLines(n *yamlv3.Node) (map[string]int, []located) {
	lines := map[string]int{}
	var dups []located
	var walk func(n *yamlv3.Node, p *field.Path)
	walk = func(n *yamlv3.Node, p *field.Path) {
		switch n.Kind {
		case yamlv3.DocumentNode:
			for _, c := range n.Content {
				walk(c, p)
			}
		case yamlv3.MappingNode:
			seen := map[string]bool{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				kp := p.Child(k.Value)
				if seen[k.Value] {
					dups = append(dups, located{k.Line, field.Duplicate(kp, k.Value)})
					continue
				}
				seen[k.Value] = true
				lines[kp.String()] = k.Line
				walk(n.Content[i+1], kp)
			}
		case yamlv3.SequenceNode:
			for i, c := range n.Content {
				ip := p.Index(i)
				lines[ip.String()] = c.Line
				walk(c, ip)
			}
		}
	}
	walk(n, nil)
	return lines, dups
}

// lineOf finds the line of the field at path, or of its closest ancestor
// written in the file (a defaulted field has none); 0 if none is.
func lineOf(lines map[string]int, path string) int {
	for path != "" {
		if l, ok := lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}
