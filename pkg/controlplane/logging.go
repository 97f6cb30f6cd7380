package controlplane

import (
	"io"
	"sync"

	"github.com/go-logr/logr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/textlogger"
)

// logSink is a goroutine-safe writer whose destination can be detached.
// Writes after detach are dropped, which protects writers such as a
// testing.T-backed one from being used after the owner is gone. Write never
// reports an error: a failing log destination must not break components.
type logSink struct {
	mu sync.Mutex
	w  io.Writer
}

func newLogSink(w io.Writer) *logSink {
	if w == nil {
		w = io.Discard
	}
	return &logSink{w: w}
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w != nil {
		_, _ = s.w.Write(p)
	}
	return len(p), nil
}

func (s *logSink) detach() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w = nil
}

// newKlogLogger returns a klog text logger writing to w.
func newKlogLogger(w io.Writer, verbosity int) logr.Logger {
	return textlogger.NewLogger(textlogger.NewConfig(
		textlogger.Output(w),
		textlogger.Verbosity(verbosity),
	))
}

// newZapLogger returns the zap logger used by the embedded etcd. etcd logs a
// lot at info level, so only warnings and errors are kept unless verbosity
// is at least 2.
func newZapLogger(w io.Writer, verbosity int) *zap.Logger {
	level := zapcore.WarnLevel
	if verbosity >= 2 {
		level = zapcore.InfoLevel
	}
	enc := zap.NewDevelopmentEncoderConfig()
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(w), level)
	return zap.New(core).Named("etcd")
}

// globalKlog routes klog's process-global logger. klog.SetLogger is not
// safe to call while other goroutines log, so it is called exactly once; the
// destination is switched afterwards under a mutex.
//
// This is the only package-level state of this package and it mirrors
// klog's own global state.
var globalKlog = &klogSwitch{}

type klogSwitch struct {
	once    sync.Once
	mu      sync.Mutex
	current *logSink // owner of the global output; nil: discard
}

func (k *klogSwitch) Write(p []byte) (int, error) {
	k.mu.Lock()
	cur := k.current
	k.mu.Unlock()
	if cur == nil {
		return len(p), nil
	}
	return cur.Write(p)
}

// attach makes sink the destination of klog's global output, installing the
// klog logger on first use.
func (k *klogSwitch) attach(sink *logSink, verbosity int) {
	k.once.Do(func() {
		klog.SetLoggerWithOptions(newKlogLogger(k, verbosity), klog.ContextualLogger(true))
	})
	k.mu.Lock()
	defer k.mu.Unlock()
	k.current = sink
}

// detach stops sending klog's global output to sink if it is still the
// current destination.
func (k *klogSwitch) detach(sink *logSink) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.current == sink {
		k.current = nil
	}
}
