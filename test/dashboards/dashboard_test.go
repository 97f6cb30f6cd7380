// Package dashboards checks the Grafana dashboard shipped with the Helm
// chart against the metrics the code really registers, and docs/metrics.md
// against both.
package dashboards

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sparkplane/sparkplane/pkg/scheduler"
	"github.com/sparkplane/sparkplane/pkg/webhook"
)

const (
	dashboardFile = "../../deploy/helm/sparkplane/dashboards/sparkplane.json"
	docsFile      = "../../docs/metrics.md"
)

// recorder is a Registerer that keeps the descriptions of what is
// registered with it: the scheduler's metrics register themselves.
type recorder struct{ descs []*prometheus.Desc }

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		r.descs = append(r.descs, d)
	}
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = r.Register(c)
	}
}

func (r *recorder) Unregister(prometheus.Collector) bool { return false }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// registeredMetrics are the names of every metric the webhook and the
// scheduler plugin export, from their collectors' descriptions (Gather
// would leave out vectors that have no series yet).
func registeredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	rec := &recorder{}
	ch := make(chan *prometheus.Desc)
	go func() { webhook.NewMetrics(func() float64 { return 0 }).Describe(ch); close(ch) }()
	for d := range ch {
		rec.descs = append(rec.descs, d)
	}
	if err := scheduler.NewMetrics().Register(rec); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, d := range rec.descs {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no metric name in %s", d)
		}
		names[m[1]] = true
	}
	return names
}

var (
	grafanaVar = regexp.MustCompile(`\$\{[^}]*\}|\$\w+`)
	stringLit  = regexp.MustCompile("\"(?:\\\\.|[^\"\\\\])*\"|'(?:\\\\.|[^'\\\\])*'|`[^`]*`")
	matchers   = regexp.MustCompile(`\{[^}]*\}`)
	ranges     = regexp.MustCompile(`\[[^\]]*\]`)
	grouping   = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	// keywords are PromQL words that are neither functions (those are
	// followed by a parenthesis) nor metric names.
	keywords = map[string]bool{
		"and": true, "or": true, "unless": true, "by": true, "without": true, "on": true, "ignoring": true,
		"group_left": true, "group_right": true, "offset": true, "bool": true, "atan2": true, "inf": true, "nan": true,
		"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true, "count": true,
		"count_values": true, "bottomk": true, "topk": true, "quantile": true, "limitk": true, "limit_ratio": true,
	}
)

// metricNames returns the metric names a PromQL expression (or a Grafana
// label_values query) selects: identifiers that are not functions,
// keywords, label names (in matchers and grouping clauses), strings,
// numbers, durations or Grafana variables.
func metricNames(expr string) []string {
	s := grafanaVar.ReplaceAllString(expr, " ")
	s = stringLit.ReplaceAllString(s, " ")
	s = matchers.ReplaceAllString(s, " ")
	s = ranges.ReplaceAllString(s, " ")
	s = grouping.ReplaceAllString(s, " ")
	isIdent := func(c byte, first bool) bool {
		return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9')
	}
	var names []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= '0' && c <= '9' || c == '.':
			// Numbers and durations: 0.99, 1e9, 5m.
			for i < len(s) && (isIdent(s[i], false) || s[i] == '.') {
				i++
			}
		case isIdent(c, true):
			j := i
			for j < len(s) && isIdent(s[j], false) {
				j++
			}
			word := s[i:j]
			rest := strings.TrimLeft(s[j:], " \t\n")
			if !keywords[word] && !strings.HasPrefix(rest, "(") && !slices.Contains(names, word) {
				names = append(names, word)
			}
			i = j
		default:
			i++
		}
	}
	return names
}

func TestMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`sum(sparkplane_webhook_executors{placement="cross-zone"})`, []string{"sparkplane_webhook_executors"}},
		{`histogram_quantile(0.99, sum by (le, role) (rate(a_seconds_bucket{x=~"$queue"}[$__rate_interval])))`, []string{"a_seconds_bucket"}},
		{`sum(rate(a_total[5m])) by (outcome) / clamp_min(sum without (pod) (b), 1e9) > 0`, []string{"a_total", "b"}},
		{`a and on(queue) group_left(x) b offset 5m unless c == bool 1`, []string{"a", "b", "c"}},
		{`sum by (queue) (q{queue=~"${queue}", s="a{b}"}) > 0`, []string{"q"}},
		{`label_values(sparkplane_scheduler_queue_running_apps, queue)`, []string{"sparkplane_scheduler_queue_running_apps", "queue"}},
		{`max(x:recorded:rate5m)`, []string{"x:recorded:rate5m"}},
	}
	for _, tt := range tests {
		if got := metricNames(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("metricNames(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's panels
}

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// queries returns every PromQL expression of the dashboard by where it is.
func (d dashboard) queries(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no queries", p.Title)
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q does not use the datasource variable", p.Title)
			}
			for i, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q query %d is empty", p.Title, i)
				}
				out["panel "+p.Title+" #"+string(rune('A'+i))] = tg.Expr
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil { // a plain string query
			if err := json.Unmarshal(v.Query, &q.Query); err != nil {
				t.Fatalf("variable %s: query: %v", v.Name, err)
			}
		}
		// label_values(metric, label): only the metric is a metric.
		out["variable "+v.Name] = strings.SplitN(q.Query, ",", 2)[0]
	}
	return out
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// known reports whether name is a registered metric or a histogram's
// _bucket, _sum or _count series of one.
func known(registered map[string]bool, name string) bool {
	if registered[name] {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && registered[base] {
			return true
		}
	}
	return false
}

// Every metric a panel or variable queries exists in the code.
func TestDashboardQueriesRegisteredMetrics(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard needs a uid and a title")
	}
	hasDatasourceVar := false
	for _, v := range d.Templating.List {
		hasDatasourceVar = hasDatasourceVar || (v.Name == "datasource" && v.Type == "datasource")
	}
	if !hasDatasourceVar {
		t.Error("dashboard needs a datasource variable named datasource")
	}
	registered := registeredMetrics(t)
	used := map[string]bool{}
	for where, expr := range d.queries(t) {
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric in %q", where, expr)
		}
		for _, n := range names {
			if !known(registered, n) {
				t.Errorf("%s queries %s, which the webhook and scheduler do not export (expr %q)", where, n, expr)
			}
			used[n] = true
		}
	}
	t.Logf("%d distinct metric names in the dashboard's queries", len(used))
}

var docMetric = regexp.MustCompile("`(sparkplane_[a-z_]+)`")

// docs/metrics.md lists every sparkplane metric the code exports, and only
// those.
func TestMetricsDocMatchesCode(t *testing.T) {
	data, err := os.ReadFile(docsFile)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range docMetric.FindAllStringSubmatch(string(data), -1) {
		documented[m[1]] = true
	}
	for name := range registeredMetrics(t) {
		if strings.HasPrefix(name, "sparkplane_") && !documented[name] {
			t.Errorf("%s is exported but not in %s", name, docsFile)
		}
	}
	registered := registeredMetrics(t)
	for name := range documented {
		if !known(registered, name) {
			t.Errorf("%s names %s, which the code does not export", docsFile, name)
		}
	}
}
