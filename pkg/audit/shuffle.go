package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// Shuffle is what a Spark event log says about shuffle traffic.
type Shuffle struct {
	// RemoteBytesRead is all shuffle bytes reducers fetched from other executors.
	RemoteBytesRead int64
	// CrossZoneBytes is the estimated part of it fetched across zones.
	CrossZoneBytes int64
	// WrittenByExecutor is map output written per executor id.
	WrittenByExecutor map[string]int64
}

// taskEnd is the part of a SparkListenerTaskEnd event that matters here.
type taskEnd struct {
	Event    string `json:"Event"`
	StageID  int    `json:"Stage ID"`
	TaskInfo struct {
		ExecutorID string `json:"Executor ID"`
	} `json:"Task Info"`
	TaskMetrics *struct {
		ShuffleRead struct {
			RemoteBytesRead int64 `json:"Remote Bytes Read"`
		} `json:"Shuffle Read Metrics"`
		ShuffleWrite struct {
			BytesWritten int64 `json:"Shuffle Bytes Written"`
		} `json:"Shuffle Write Metrics"`
	} `json:"Task Metrics"`
}

// ShuffleFromEventLog reads a Spark event log (JSON lines) and estimates
// cross-zone shuffle bytes given each executor's zone. Spark records how
// many bytes each reduce task fetched remotely, not from whom; map output is
// spread over every executor that wrote it, so a reducer on executor r is
// taken to fetch from each other executor e in proportion to what e wrote.
// Driver<->executor traffic (task binaries, results) is not in it.
func ShuffleFromEventLog(r io.Reader, zoneOf map[string]string) (Shuffle, error) {
	s := Shuffle{WrittenByExecutor: map[string]int64{}}
	readBy := map[string]int64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		var ev taskEnd
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return s, fmt.Errorf("event log line %d: %w", line, err)
		}
		if ev.Event != "SparkListenerTaskEnd" || ev.TaskMetrics == nil {
			continue
		}
		s.WrittenByExecutor[ev.TaskInfo.ExecutorID] += ev.TaskMetrics.ShuffleWrite.BytesWritten
		readBy[ev.TaskInfo.ExecutorID] += ev.TaskMetrics.ShuffleRead.RemoteBytesRead
	}
	if err := sc.Err(); err != nil {
		return s, fmt.Errorf("reading event log: %w", err)
	}
	for reader, bytes := range readBy {
		s.RemoteBytesRead += bytes
		var others, crossZone int64
		for writer, w := range s.WrittenByExecutor {
			if writer == reader {
				continue
			}
			others += w
			if zoneOf[writer] != zoneOf[reader] {
				crossZone += w
			}
		}
		if others > 0 {
			s.CrossZoneBytes += int64(float64(bytes) * float64(crossZone) / float64(others))
		}
	}
	return s, nil
}
