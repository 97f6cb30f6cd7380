package audit

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Shuffle is what a Spark event log says about shuffle traffic.
type Shuffle struct {
	// AppID and AppName are from the log's SparkListenerApplicationStart.
	AppID, AppName string
	// Start and End bound the observed run: the application's start and
	// end events, else the first task launch and the last task finish (a
	// log of a running app has no end event). Zero when the log has neither.
	Start, End time.Time
	// RemoteBytesRead is all shuffle bytes reducers fetched from other executors.
	RemoteBytesRead int64
	// CrossZoneBytes is the estimated part of it fetched across zones.
	CrossZoneBytes int64
	// UnknownZoneBytes is the estimated part fetched from or by executors
	// whose zone is not known (not in zoneOf).
	UnknownZoneBytes int64
	// WrittenByExecutor is map output written per executor id.
	WrittenByExecutor map[string]int64
}

// Duration is the observed run time (0 when not known).
func (s Shuffle) Duration() time.Duration {
	if s.Start.IsZero() || s.End.IsZero() || s.End.Before(s.Start) {
		return 0
	}
	return s.End.Sub(s.Start)
}

// event is the part of a Spark listener event that matters here.
type event struct {
	Event     string `json:"Event"`
	AppID     string `json:"App ID"`
	AppName   string `json:"App Name"`
	Timestamp int64  `json:"Timestamp"` // ms since the epoch
	TaskInfo  struct {
		ExecutorID string `json:"Executor ID"`
		LaunchTime int64  `json:"Launch Time"`
		FinishTime int64  `json:"Finish Time"`
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

// EventLog is what ReadEventLog takes from a Spark event log: the app, the
// observed run and shuffle bytes per executor id.
type EventLog struct {
	// AppID and AppName are from SparkListenerApplicationStart.
	AppID, AppName string
	// Start and End bound the observed run: the application's start and
	// end events, else the first task launch and the last task finish (a
	// log of a running app has no end event). Zero when the log has neither.
	Start, End time.Time
	// WrittenByExecutor is map output written per executor id.
	WrittenByExecutor map[string]int64
	// RemoteReadByExecutor is shuffle bytes fetched from other executors,
	// per reading executor id.
	RemoteReadByExecutor map[string]int64
}

// ReadEventLog reads a Spark event log (JSON lines, uncompressed; blank
// lines are skipped, so the parts of a rolling log can be concatenated).
func ReadEventLog(r io.Reader) (EventLog, error) {
	l := EventLog{WrittenByExecutor: map[string]int64{}, RemoteReadByExecutor: map[string]int64{}}
	var appStart, appEnd, firstLaunch, lastFinish int64
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return l, fmt.Errorf("event log line %d: %w (is it a compressed log? decompress it first)", line, err)
		}
		switch ev.Event {
		case "SparkListenerApplicationStart":
			l.AppID, l.AppName, appStart = ev.AppID, ev.AppName, ev.Timestamp
		case "SparkListenerApplicationEnd":
			appEnd = ev.Timestamp
		case "SparkListenerTaskEnd":
			if t := ev.TaskInfo.LaunchTime; t > 0 && (firstLaunch == 0 || t < firstLaunch) {
				firstLaunch = t
			}
			lastFinish = max(lastFinish, ev.TaskInfo.FinishTime)
			if ev.TaskMetrics == nil {
				continue
			}
			l.WrittenByExecutor[ev.TaskInfo.ExecutorID] += ev.TaskMetrics.ShuffleWrite.BytesWritten
			l.RemoteReadByExecutor[ev.TaskInfo.ExecutorID] += ev.TaskMetrics.ShuffleRead.RemoteBytesRead
		}
	}
	if err := sc.Err(); err != nil {
		return l, fmt.Errorf("reading event log: %w", err)
	}
	l.Start, l.End = millis(cmp.Or(appStart, firstLaunch)), millis(cmp.Or(appEnd, lastFinish))
	return l, nil
}

// Shuffle estimates cross-zone shuffle bytes given each executor's zone.
// Spark records how many bytes each reduce task fetched remotely, not from
// whom; map output is spread over every executor that wrote it, so a
// reducer on executor r is taken to fetch from each other executor e in
// proportion to what e wrote. Driver<->executor traffic (task binaries,
// results) is not in it. Executors missing from zoneOf (or with zone "")
// count as unknown.
func (l EventLog) Shuffle(zoneOf map[string]string) Shuffle {
	s := Shuffle{AppID: l.AppID, AppName: l.AppName, Start: l.Start, End: l.End, WrittenByExecutor: l.WrittenByExecutor}
	zone := func(id string) (string, bool) { z := zoneOf[id]; return z, z != "" }
	for reader, read := range l.RemoteReadByExecutor {
		s.RemoteBytesRead += read
		zr, knownR := zone(reader)
		var others, crossZone, unknown int64
		for writer, w := range l.WrittenByExecutor {
			if writer == reader {
				continue
			}
			others += w
			zw, knownW := zone(writer)
			switch {
			case !knownR || !knownW:
				unknown += w
			case zw != zr:
				crossZone += w
			}
		}
		if others > 0 {
			s.CrossZoneBytes += int64(float64(read) * float64(crossZone) / float64(others))
			s.UnknownZoneBytes += int64(float64(read) * float64(unknown) / float64(others))
		}
	}
	return s
}

// ShuffleFromEventLog reads a Spark event log and estimates its cross-zone
// shuffle bytes (ReadEventLog, then EventLog.Shuffle).
func ShuffleFromEventLog(r io.Reader, zoneOf map[string]string) (Shuffle, error) {
	l, err := ReadEventLog(r)
	if err != nil {
		return Shuffle{}, err
	}
	return l.Shuffle(zoneOf), nil
}

func millis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
