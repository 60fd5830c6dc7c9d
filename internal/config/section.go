package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml"
)

// Section is a subsystem's part of the configuration file: one top-level
// key, decoded as strictly as the rest (unknown keys and wrong types are
// errors naming the key and the line), merged over the section's defaults
// and validated by the subsystem. Make one with NewSection; pass the
// sections of every subsystem to Parse, Load and Default.
type Section interface {
	// Key is the section's top-level key.
	Key() string
	newValue() any // a pointer to a copy of the defaults
	check(v any) error
}

// SectionOf is a Section whose value is a T.
type SectionOf[T any] struct {
	key      string
	def      T
	validate func(*T) error
}

// NewSection declares the section key with the defaults def (a struct with
// yaml tags) and a validation function (nil: none). validate reports a bad
// key with Errorf("key", ...): the key is taken inside the section.
func NewSection[T any](key string, def T, validate func(*T) error) *SectionOf[T] {
	return &SectionOf[T]{key: key, def: def, validate: validate}
}

// Key implements Section.
func (s *SectionOf[T]) Key() string { return s.key }

// Default returns a copy of the defaults.
func (s *SectionOf[T]) Default() *T {
	v := s.def
	return &v
}

func (s *SectionOf[T]) newValue() any { return s.Default() }

func (s *SectionOf[T]) check(v any) error {
	if s.validate == nil {
		return nil
	}
	return s.validate(v.(*T))
}

// Of returns the section's value in c: what the file said over the
// defaults, or the defaults when c was made without this section. Changes
// through the pointer are kept in c (tests build typed configurations so).
func (s *SectionOf[T]) Of(c *Config) *T {
	if v, ok := c.sections[s.key]; ok {
		return v.(*T)
	}
	v := s.Default()
	if c.sections == nil {
		c.sections = map[string]any{}
	}
	c.sections[s.key] = v
	if !c.hasSection(s.key) {
		c.secs = append(c.secs, s)
	}
	return v
}

// Errorf is a validation error at key, a path inside the section being
// validated ("root", "ports[2].name"); Parse adds the section and the line.
func Errorf(key, format string, args ...any) error {
	return &Error{Path: key, Msg: fmt.Sprintf(format, args...)}
}

func (c *Config) hasSection(key string) bool {
	for _, s := range c.secs {
		if s.Key() == key {
			return true
		}
	}
	return false
}

// document is the whole file as one Go value: the core's keys (Config's
// own fields) and one field per section, so the YAML decoder checks every
// key and type of both in one strict pass and knows every line.
type document struct {
	typ  reflect.Type
	core []int // field indexes in Config of the core's fields
}

func newDocument(secs []Section) (*document, error) {
	ct := reflect.TypeFor[Config]()
	d := &document{}
	var fields []reflect.StructField
	seen := map[string]bool{}
	for i := range ct.NumField() {
		f := ct.Field(i)
		if !f.IsExported() {
			continue
		}
		d.core = append(d.core, i)
		fields = append(fields, f)
		seen[strings.Split(f.Tag.Get("yaml"), ",")[0]] = true
	}
	for i, s := range secs {
		if s.Key() == "" || seen[s.Key()] {
			return nil, fmt.Errorf("config section %q: empty or already taken", s.Key())
		}
		seen[s.Key()] = true
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("Section%d", i),
			Type: reflect.TypeOf(s.newValue()),
			Tag:  reflect.StructTag(fmt.Sprintf(`yaml:%q`, s.Key())),
		})
	}
	d.typ = reflect.StructOf(fields)
	return d, nil
}

// value builds the document value of c (sections from c, or defaults).
func (d *document) value(c *Config) reflect.Value {
	v := reflect.New(d.typ).Elem()
	cv := reflect.ValueOf(c).Elem()
	for j, i := range d.core {
		v.Field(j).Set(cv.Field(i))
	}
	for k, s := range c.secs {
		sv, ok := c.sections[s.Key()]
		if !ok {
			sv = s.newValue()
		}
		v.Field(len(d.core) + k).Set(reflect.ValueOf(sv))
	}
	return v
}

// store copies a decoded document back into c.
func (d *document) store(v reflect.Value, c *Config) {
	cv := reflect.ValueOf(c).Elem()
	for j, i := range d.core {
		cv.Field(i).Set(v.Field(j))
	}
	c.sections = map[string]any{}
	for k, s := range c.secs {
		c.sections[s.Key()] = v.Field(len(d.core) + k).Interface()
	}
}

// validateSections runs every section's validation, with keys made whole,
// and returns every section's error (an ErrorList, or nil).
func (c *Config) validateSections() error {
	var errs ErrorList
	for _, s := range c.secs {
		err := s.check(c.sections[s.Key()])
		if err == nil {
			continue
		}
		var ce *Error
		if !errors.As(err, &ce) {
			errs = append(errs, &Error{Path: "$." + s.Key(), Msg: err.Error()})
			continue
		}
		switch {
		case ce.Path == "":
			ce.Path = "$." + s.Key()
		case strings.HasPrefix(ce.Path, "["):
			ce.Path = "$." + s.Key() + ce.Path
		case !strings.HasPrefix(ce.Path, "$."):
			ce.Path = "$." + s.Key() + "." + ce.Path
		}
		errs = append(errs, ce)
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// MarshalSections renders the defaults of secs as YAML, for `wirebox
// config default`. A field's `comment:"..."` tag becomes a comment above
// its key, so the output is a reference to edit from.
func MarshalSections(secs ...Section) ([]byte, error) {
	m := yaml.MapSlice{}
	cm := yaml.CommentMap{}
	for _, s := range secs {
		v := s.newValue()
		m = append(m, yaml.MapItem{Key: s.Key(), Value: v})
		t := reflect.TypeOf(v)
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			continue
		}
		for i := range t.NumField() {
			f := t.Field(i)
			text := f.Tag.Get("comment")
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if text == "" || name == "" || name == "-" {
				continue
			}
			var lines []string
			for _, l := range strings.Split(text, "\n") {
				lines = append(lines, " "+l)
			}
			cm["$."+s.Key()+"."+name] = []*yaml.Comment{yaml.HeadComment(lines...)}
		}
	}
	if len(m) == 0 {
		return nil, nil
	}
	return yaml.MarshalWithOptions(m, yaml.IndentSequence(true), yaml.WithComment(cm))
}

// ChangedKeys lists the top-level keys (the core's, such as "pool" or
// "management", and the sections') whose values differ between a and b,
// in document order. Both must carry the same sections; a key only one of
// them knows counts as changed. `config apply` restarts only what these
// keys feed.
func ChangedKeys(a, b *Config) ([]string, error) {
	da, err := newDocument(a.secs)
	if err != nil {
		return nil, err
	}
	db, err := newDocument(b.secs)
	if err != nil {
		return nil, err
	}
	va, vb := da.value(a), db.value(b)
	keys := func(v reflect.Value) map[string]any {
		m := map[string]any{}
		for i := range v.NumField() {
			m[strings.Split(v.Type().Field(i).Tag.Get("yaml"), ",")[0]] = v.Field(i).Interface()
		}
		return m
	}
	ma, mb := keys(va), keys(vb)
	var out []string
	for i := range va.NumField() {
		k := strings.Split(va.Type().Field(i).Tag.Get("yaml"), ",")[0]
		if bv, ok := mb[k]; !ok || !reflect.DeepEqual(ma[k], bv) {
			out = append(out, k)
		}
	}
	for i := range vb.NumField() {
		k := strings.Split(vb.Type().Field(i).Tag.Get("yaml"), ",")[0]
		if _, ok := ma[k]; !ok {
			out = append(out, k)
		}
	}
	return out, nil
}
