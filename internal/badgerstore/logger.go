package badgerstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// badgerLogger forwards Badger's printf-style messages to slog. Badger's
// informational chatter (table counts, compactions) goes to debug so that
// an operator's info log shows gokv's own events.
type badgerLogger struct {
	log *slog.Logger
}

func (l badgerLogger) Errorf(format string, args ...any) { l.emit(slog.LevelError, format, args) }

func (l badgerLogger) Warningf(format string, args ...any) { l.emit(slog.LevelWarn, format, args) }

func (l badgerLogger) Infof(format string, args ...any) { l.emit(slog.LevelDebug, format, args) }

func (l badgerLogger) Debugf(format string, args ...any) { l.emit(slog.LevelDebug, format, args) }

func (l badgerLogger) emit(level slog.Level, format string, args []any) {
	if l.log == nil || !l.log.Enabled(context.Background(), level) {
		return
	}
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	attrs := []any{"component", "badger"}
	// An operator looking at a read error needs the file, which Badger
	// names only by number for the value log.
	if level >= slog.LevelWarn {
		if file := fileOf(msg); file != "" {
			attrs = append(attrs, "file", file)
		}
	}
	l.log.Log(context.Background(), level, msg, attrs...)
}
