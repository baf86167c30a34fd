package config

import (
	"fmt"
	"reflect"
	"regexp"
)

// decimal is how gokv's integer settings are written: an optional sign and
// decimal digits, no leading zero. envconfig would parse them with
// strconv's base 0, where PORT=010 is octal 8 and 0x1F90, 0b1 and 1_000
// are numbers too: surprising in a setting, so refused before it reads them.
var decimal = regexp.MustCompile(`^[+-]?(0|[1-9][0-9]*)$`)

// checkDecimal refuses every integer setting in lookup that is not plain
// decimal. The integer settings are the fields of Config of a built-in
// integer type; named ones (time.Duration, slog.Level) have their own
// syntax.
func checkDecimal(lookup func(string) (string, bool)) error {
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type.PkgPath() != "" || !isInteger(f.Type.Kind()) {
			continue
		}
		name := f.Tag.Get("envconfig")
		if v, ok := lookup(name); ok && !decimal.MatchString(v) {
			return fmt.Errorf("%s=%q is not a valid number (decimal digits, no leading zero)", name, v)
		}
	}
	return nil
}

func isInteger(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}
