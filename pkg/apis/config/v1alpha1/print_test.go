package v1alpha1

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"
)

// jsonPaths lists the dotted JSON path of every field of t and of the
// structs in it (not into lists, nor into types with their own JSON form).
func jsonPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" {
			out = append(out, jsonPaths(ft, prefix)...)
			continue
		}
		out = append(out, prefix+name)
		if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(reflect.TypeFor[json.Marshaler]()) {
			out = append(out, jsonPaths(ft, prefix+name+".")...)
		}
	}
	return out
}

// TestMarshalCompleteHasEveryField: the printed defaults name every field
// of the type, so that a field added later cannot be left out.
func TestMarshalCompleteHasEveryField(t *testing.T) {
	out, err := MarshalComplete(Default())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	paths := jsonPaths(reflect.TypeFor[SparkplaneConfiguration](), "")
	if len(paths) < 20 {
		t.Fatalf("only %d fields found: %v", len(paths), paths)
	}
	for _, p := range paths {
		var node any = doc
		for _, k := range strings.Split(p, ".") {
			m, ok := node.(map[string]any)
			if !ok {
				t.Errorf("%s: not printed (parent is not a mapping)", p)
				break
			}
			if node, ok = m[k]; !ok {
				t.Errorf("%s: not printed", p)
				break
			}
		}
	}
	for _, want := range []string{"enabled: false", `schedulerName: ""`, "preferredWeight: 100", "spotTolerations: null", "executor: false", `karpenter.sh/do-not-disrupt: "true"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("printed defaults lack %q:\n%s", want, out)
		}
	}
}

// TestMarshalCompleteRoundTrips: what is printed parses back to the same
// configuration, also for a preset with tolerations.
func TestMarshalCompleteRoundTrips(t *testing.T) {
	aks := &SparkplaneConfiguration{Provider: Provider{Preset: ProviderAKS}, SchedulerName: "s"}
	SetDefaults(aks)
	off := false
	noProtection := &SparkplaneConfiguration{DisruptionProtection: DisruptionProtection{Driver: &off, Annotations: map[string]string{}}}
	SetDefaults(noProtection)
	for _, c := range []*SparkplaneConfiguration{Default(), aks, noProtection} {
		out, err := MarshalComplete(c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("printed configuration does not parse: %v\n%s", err, out)
		}
		if !equality.Semantic.DeepEqual(back, c) {
			t.Errorf("round trip differs:\n%s", out)
		}
	}
}
