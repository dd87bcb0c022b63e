package mail

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/freight-portal/freight"
)

// JobKind is the kind of the jobs that send mail.
const JobKind = "mail"

// Job is the payload of a mail job: what to render and for whom. It holds
// the template data, links included, so it is never logged; the store
// drops it once the job is done.
type Job struct {
	Kind freight.MailKind `json:"kind"`
	To   string           `json:"to"`
	Data json.RawMessage  `json:"data"`
}

// NewJob returns the payload of a mail of the kind to the address. It
// renders the message once, so that data that cannot make a valid message
// is refused (EINVALID) when the job is made, not when it runs.
func NewJob(kind freight.MailKind, to string, data any) (*Job, error) {
	m, err := Render(kind, data)
	if err != nil {
		return nil, err
	}
	m.To = to
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, freight.Internal(fmt.Errorf("mail: marshal %s data: %w", kind, err))
	}
	return &Job{Kind: kind, To: to, Data: b}, nil
}

// Message renders the job's message. Data that does not decode into the
// kind's type, or does not make a valid message, is an EINVALID error:
// running the job again cannot fix it.
func (j *Job) Message() (*freight.Message, error) {
	proto, ok := kinds[j.Kind]
	if !ok {
		return nil, freight.FieldError("kind", "unknown mail kind %q", j.Kind)
	}
	v := reflect.New(reflect.TypeOf(proto))
	dec := json.NewDecoder(bytes.NewReader(j.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v.Interface()); err != nil {
		return nil, freight.FieldError("data", "does not fit mail %s: %v", j.Kind, err)
	}
	m, err := Render(j.Kind, v.Elem().Interface())
	if err != nil {
		return nil, err
	}
	m.To = j.To
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}
