package audit

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func task(exec string, read, written int) string {
	return `{"Event":"SparkListenerTaskEnd","Stage ID":1,"Task Info":{"Executor ID":"` + exec + `","Launch Time":1700000001000,"Finish Time":1700000002000},` +
		`"Task Metrics":{"Shuffle Read Metrics":{"Remote Bytes Read":` + strconv.Itoa(read) + `},"Shuffle Write Metrics":{"Shuffle Bytes Written":` + strconv.Itoa(written) + `}}}`
}

const testLog = `{"Event":"SparkListenerApplicationStart","App Name":"etl","App ID":"spark-1","Timestamp":1700000000000}`

func TestShuffleFromEventLog(t *testing.T) {
	log := strings.Join([]string{
		testLog,
		task("1", 0, 100), task("2", 0, 100), "", // a blank line where the parts of a rolling log meet
		task("3", 0, 200),
		task("1", 300, 0), // from 2 (a) and 3 (b): 1/3 + 2/3 of 300 -> 200 cross-zone
		task("3", 200, 0), // from 1 and 2, both zone a: all 200 cross-zone
		`{"Event":"SparkListenerTaskEnd","Task Info":{"Executor ID":"9"}}`, // failed task: no metrics
		`{"Event":"SparkListenerApplicationEnd","Timestamp":1700003600000}`,
	}, "\n")
	tests := []struct {
		name                   string
		zones                  map[string]string
		wantCross, wantUnknown int64
	}{
		{"two zones", map[string]string{"1": "a", "2": "a", "3": "b"}, 400, 0},
		{"one zone", map[string]string{"1": "a", "2": "a", "3": "a"}, 0, 0},
		// 3's zone unknown: 1 reads 2/3 of 300 from it (unknown), 3's own 200 reads are unknown.
		{"executor 3 unknown", map[string]string{"1": "a", "2": "a"}, 0, 400},
	}
	for _, tt := range tests {
		s, err := ShuffleFromEventLog(strings.NewReader(log), tt.zones)
		if err != nil {
			t.Fatal(err)
		}
		if s.RemoteBytesRead != 500 || s.CrossZoneBytes != tt.wantCross || s.UnknownZoneBytes != tt.wantUnknown || s.WrittenByExecutor["3"] != 200 {
			t.Errorf("%s: got %+v", tt.name, s)
		}
		if s.AppID != "spark-1" || s.AppName != "etl" || s.Duration() != time.Hour {
			t.Errorf("%s: app %q %q duration %s, want spark-1 etl 1h", tt.name, s.AppID, s.AppName, s.Duration())
		}
	}
	// A running app's log has no end event: the last task finish ends the window.
	s, err := ShuffleFromEventLog(strings.NewReader(testLog+"\n"+task("1", 0, 1)), nil)
	if err != nil || s.Duration() != 2*time.Second {
		t.Errorf("running app: duration %s, err %v; want 2s", s.Duration(), err)
	}
	if _, err := ShuffleFromEventLog(strings.NewReader("{not json"), nil); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad log: %v", err)
	}
}

func TestCost(t *testing.T) {
	m := DefaultCostModel()
	a := m.Assumed(3)
	if a.MonthlyGiB != 3*10*730 || a.MonthlyUSD != 3*10*730*0.02 || a.Basis != "assumed" ||
		!strings.Contains(a.Assumption, "3 cross-zone executor(s) × 10 GiB per executor-hour × 730 h × $0.02/GiB") {
		t.Errorf("assumed: %+v", a)
	}
	if z := m.Assumed(0); z.MonthlyUSD != 0 {
		t.Errorf("no cross-zone executors should cost nothing: %+v", z)
	}

	hour := Shuffle{AppID: "spark-1", CrossZoneBytes: 2 << 30, UnknownZoneBytes: 1 << 29, Start: t0, End: t0.Add(time.Hour)}
	tests := []struct {
		name    string
		logs    []Shuffle
		runs    float64
		wantGiB float64
		wantIn  string
		wantErr string
	}{
		{"continuous", []Shuffle{hour}, 0, 2 * 730, "extrapolated as if each app ran back to back all month", ""},
		{"runs a month", []Shuffle{hour, hour}, 30, 2 * 2 * 30, "× 30 runs a month", ""},
		{"unknown bytes stated", []Shuffle{hour}, 1, 2, "0.500 GiB to or from executors of unknown zone not counted", ""},
		{"no times", []Shuffle{{AppID: "spark-2", CrossZoneBytes: 1}}, 0, 0, "", `app "spark-2" has no start and end times`},
		{"negative runs", []Shuffle{hour}, -1, 0, "", "negative"},
		{"no logs", nil, 0, 0, "", "no event logs"},
	}
	for _, tt := range tests {
		e, err := m.Measured(tt.logs, tt.runs)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err %v, want %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || e.MonthlyGiB != tt.wantGiB || e.MonthlyUSD != tt.wantGiB*0.02 || e.Basis != "measured" || !strings.Contains(e.Assumption, tt.wantIn) {
			t.Errorf("%s: %+v, err %v; want %g GiB and %q", tt.name, e, err, tt.wantGiB, tt.wantIn)
		}
	}
	if err := (CostModel{PricePerGiB: -1, GiBPerExecutorHour: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "price") || !strings.Contains(err.Error(), "executor-hour") {
		t.Errorf("Validate: %v", err)
	}
}
