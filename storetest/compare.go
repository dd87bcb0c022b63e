package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
	bytesTyp = reflect.TypeFor[[]byte]()
)

// diff compares got with want field by field and returns one line per
// difference. It is reflect.DeepEqual with the equalities a database round
// trip keeps: times by instant (time.Time.Equal), JSON documents by value
// (PostgreSQL's jsonb rewrites spacing and key order), and nil slices equal
// to empty ones. Pointers compare by what they point to, so a nil *time.Time
// differs from a set one.
func diff(got, want any) []string {
	var out []string
	diffValue(&out, typeName(want), reflect.ValueOf(got), reflect.ValueOf(want))
	return out
}

func typeName(v any) string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "value"
	}
	return t.Name()
}

func diffValue(out *[]string, path string, got, want reflect.Value) {
	if !got.IsValid() || !want.IsValid() {
		if got.IsValid() != want.IsValid() {
			*out = append(*out, fmt.Sprintf("%s = %s, want %s", path, show(got), show(want)))
		}
		return
	}
	if got.Type() != want.Type() {
		*out = append(*out, fmt.Sprintf("%s has type %s, want %s", path, got.Type(), want.Type()))
		return
	}
	switch got.Type() {
	case timeType:
		if g, w := got.Interface().(time.Time), want.Interface().(time.Time); !g.Equal(w) {
			*out = append(*out, fmt.Sprintf("%s = %v, want %v", path, g, w))
		}
		return
	case rawType:
		if !jsonEqual(got.Bytes(), want.Bytes()) {
			*out = append(*out, fmt.Sprintf("%s = %s, want %s", path, got.Bytes(), want.Bytes()))
		}
		return
	case bytesTyp:
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			*out = append(*out, fmt.Sprintf("%s = %x, want %x", path, got.Bytes(), want.Bytes()))
		}
		return
	}
	switch got.Kind() {
	case reflect.Pointer:
		if got.IsNil() || want.IsNil() {
			if got.IsNil() != want.IsNil() {
				*out = append(*out, fmt.Sprintf("%s = %s, want %s", path, show(got), show(want)))
			}
			return
		}
		diffValue(out, path, got.Elem(), want.Elem())
	case reflect.Struct:
		for i := range got.NumField() {
			f := got.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			diffValue(out, path+"."+f.Name, got.Field(i), want.Field(i))
		}
	case reflect.Slice:
		if got.Len() != want.Len() {
			*out = append(*out, fmt.Sprintf("%s = %s, want %s", path, show(got), show(want)))
			return
		}
		for i := range got.Len() {
			diffValue(out, fmt.Sprintf("%s[%d]", path, i), got.Index(i), want.Index(i))
		}
	case reflect.Map, reflect.Interface:
		if !reflect.DeepEqual(got.Interface(), want.Interface()) {
			*out = append(*out, fmt.Sprintf("%s = %s, want %s", path, show(got), show(want)))
		}
	default:
		if !got.Equal(want) {
			*out = append(*out, fmt.Sprintf("%s = %s, want %s", path, show(got), show(want)))
		}
	}
}

// show formats a value for a message: strings quoted, pointers followed.
func show(v reflect.Value) string {
	if !v.IsValid() {
		return "<nil>"
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "nil"
		}
		return "&" + show(v.Elem())
	}
	if v.Kind() == reflect.String {
		return fmt.Sprintf("%q", v.String())
	}
	return fmt.Sprintf("%v", v.Interface())
}

// jsonEqual reports whether a and b hold the same JSON value; empty and
// null are the same absent value.
func jsonEqual(a, b []byte) bool {
	a, b = bytes.TrimSpace(a), bytes.TrimSpace(b)
	if isNullJSON(a) || isNullJSON(b) {
		return isNullJSON(a) && isNullJSON(b)
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(va, vb)
}

func isNullJSON(b []byte) bool { return len(b) == 0 || string(b) == "null" }

// timesOf returns every time held by v (a pointer to a domain struct),
// named by field, including those behind pointers.
func timesOf(v any) map[string]time.Time {
	out := map[string]time.Time{}
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		switch {
		case !v.IsValid():
		case v.Type() == timeType:
			out[path] = v.Interface().(time.Time)
		case v.Kind() == reflect.Pointer:
			if !v.IsNil() {
				walk(path, v.Elem())
			}
		case v.Kind() == reflect.Struct:
			for i := range v.NumField() {
				if f := v.Type().Field(i); f.IsExported() {
					walk(path+"."+f.Name, v.Field(i))
				}
			}
		}
	}
	walk(typeName(v), reflect.ValueOf(v))
	return out
}
