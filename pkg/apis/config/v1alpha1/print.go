package v1alpha1

import (
	"encoding/json"
	"fmt"
	"reflect"

	"sigs.k8s.io/yaml"
)

// MarshalComplete is the YAML of c with every field, also those at their
// zero value (enabled: false, schedulerName: ""), which the omitempty tags
// of the type would leave out: a printed configuration shows every setting
// there is. Unset slices print as null, which reads back as unset (a
// preset's tolerations), not as an empty list.
func MarshalComplete(c *SparkplaneConfiguration) ([]byte, error) {
	v, err := complete(reflect.ValueOf(c).Elem())
	if err != nil {
		return nil, err
	}
	return yaml.Marshal(v)
}

// complete turns v into maps, lists and JSON scalars, keeping every field
// of every struct; types with their own JSON form (durations, modes) and
// scalars are encoded as encoding/json would.
func complete(v reflect.Value) (any, error) {
	t := v.Type()
	_, custom := v.Addr().Interface().(json.Marshaler)
	switch {
	case custom:
	case t.Kind() == reflect.Pointer:
		if v.IsNil() {
			return nil, nil
		}
		return complete(v.Elem())
	case t.Kind() == reflect.Slice:
		if v.IsNil() {
			return nil, nil
		}
		out := make([]any, v.Len())
		for i := range v.Len() {
			e, err := complete(v.Index(i))
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case t.Kind() == reflect.Struct:
		out := map[string]any{}
		for name, idx := range jsonFields(t) {
			f, err := complete(v.FieldByIndex(idx))
			if err != nil {
				return nil, err
			}
			out[name] = f
		}
		return out, nil
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", t, err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", t, err)
	}
	return out, nil
}
