package audit

import (
	"strconv"
	"strings"
	"testing"
)

func TestShuffleFromEventLog(t *testing.T) {
	task := func(exec string, read, written int) string {
		return `{"Event":"SparkListenerTaskEnd","Stage ID":1,"Task Info":{"Executor ID":"` + exec + `"},"Task Metrics":{"Shuffle Read Metrics":{"Remote Bytes Read":` +
			strconv.Itoa(read) + `},"Shuffle Write Metrics":{"Shuffle Bytes Written":` + strconv.Itoa(written) + `}}}`
	}
	log := strings.Join([]string{
		`{"Event":"SparkListenerApplicationStart","App Name":"x"}`,
		task("1", 0, 100), task("2", 0, 100), task("3", 0, 200),
		task("1", 300, 0), // from 2 (a) and 3 (b): 1/3 + 2/3 of 300 -> 200 cross-zone
		task("3", 200, 0), // from 1 and 2, both zone a: all 200 cross-zone
		`{"Event":"SparkListenerTaskEnd","Task Info":{"Executor ID":"9"}}`, // failed task: no metrics
	}, "\n")
	zones := map[string]string{"1": "a", "2": "a", "3": "b"}
	s, err := ShuffleFromEventLog(strings.NewReader(log), zones)
	if err != nil {
		t.Fatal(err)
	}
	if s.RemoteBytesRead != 500 || s.CrossZoneBytes != 400 || s.WrittenByExecutor["3"] != 200 {
		t.Errorf("got %+v", s)
	}
	// All in one zone: nothing crosses.
	s, _ = ShuffleFromEventLog(strings.NewReader(log), map[string]string{"1": "a", "2": "a", "3": "a"})
	if s.CrossZoneBytes != 0 {
		t.Errorf("one zone: %+v", s)
	}
	if _, err := ShuffleFromEventLog(strings.NewReader("{not json"), zones); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad log: %v", err)
	}
}
