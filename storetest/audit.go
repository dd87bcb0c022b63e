package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

var auditTests = []subtest{
	{"CreateList", testAuditCreateList},
	{"DefaultTime", testAuditDefaultTime},
	{"Invalid", testAuditInvalid},
	{"Pagination", testAuditPagination},
	{"NewestFirstByTime", testAuditNewestFirstByTime},
	{"Filters", testAuditFilters},
	{"SinceUntilBounds", testAuditSinceUntilBounds},
}

func testAuditCreateList(t *testing.T, s freight.Store) {
	ctx := t.Context()
	tokID := missingID(freight.PrefixToken)
	e := &freight.AuditEvent{
		Time:       ts(0).In(time.FixedZone("CET", 3600)),
		Actor:      missingID(freight.PrefixUser),
		TokenID:    tokID,
		Action:     "release.publish",
		TargetType: "release",
		TargetID:   missingID(freight.PrefixRelease),
		OrgID:      missingID(freight.PrefixOrganization),
		IP:         "2001:db8::1",
		RequestID:  "req-42",
		Details:    json.RawMessage(`{"version":"1.2.3","channels":["stable","rc"],"size":12884901888,"nested":{"ok":true,"none":null}}`),
	}
	if err := s.CreateAuditEvent(ctx, e); err != nil {
		t.Fatalf("CreateAuditEvent: %v", err)
	}
	if !freight.ValidID(freight.PrefixAudit, e.ID) {
		t.Errorf("ID after create = %q, want a valid %s_ id", e.ID, freight.PrefixAudit)
	}
	if !e.Time.Equal(ts(0)) {
		t.Errorf("Time after create = %v, want the time given, %v", e.Time, ts(0))
	}
	bare := MustCreateAuditEvent(t, s, &freight.AuditEvent{Time: ts(time.Hour), Actor: "system", Action: "job.cleanup"})
	if bare.ID == e.ID {
		t.Errorf("two events got the same id %q", e.ID)
	}

	got := listAll(t, auditList(t, s, freight.AuditFilter{}))
	if len(got) != 2 {
		t.Fatalf("AuditEvents = %d events, want 2", len(got))
	}
	checkSame(t, "AuditEvents[0]", got[0], bare)
	checkSame(t, "AuditEvents[1]", got[1], e)
	if len(got[0].Details) != 0 && string(got[0].Details) != "null" {
		t.Errorf("Details of an event without details = %s, want empty", got[0].Details)
	}
}

// An event created without a time happened now.
func testAuditDefaultTime(t *testing.T, s freight.Store) {
	e := MustCreateAuditEvent(t, s, &freight.AuditEvent{Actor: "system", Action: "job.cleanup"})
	checkRecent(t, "Time set by CreateAuditEvent", e.Time)
	got := listAll(t, auditList(t, s, freight.AuditFilter{}))
	if len(got) != 1 {
		t.Fatalf("AuditEvents = %d events, want 1", len(got))
	}
	checkSame(t, "AuditEvents[0]", got[0], e)
}

// The store validates what it writes: an event says who did what, and its
// details are a JSON object.
func testAuditInvalid(t *testing.T, s freight.Store) {
	for name, e := range map[string]*freight.AuditEvent{
		"no action":             {Actor: "system"},
		"no actor":              {Action: "job.cleanup"},
		"details not JSON":      {Actor: "system", Action: "job.cleanup", Details: json.RawMessage(`{not json`)},
		"details not an object": {Actor: "system", Action: "job.cleanup", Details: json.RawMessage(`[1,2,3]`)},
	} {
		wantCode(t, "CreateAuditEvent with "+name, s.CreateAuditEvent(t.Context(), e), freight.EINVALID)
	}
	checkKeys(t, "AuditEvents after invalid creates", auditList(t, s, freight.AuditFilter{}), eventID, []string{})
}

// Audit events are listed newest first.
func testAuditPagination(t *testing.T, s freight.Store) {
	list := auditList(t, s, freight.AuditFilter{})
	checkPaging(t, "AuditEvents of an empty store", list, eventID, nil)
	var created []string
	for i := range 7 {
		created = append(created, MustCreateAuditEvent(t, s, newEvent(fmt.Sprintf("test.%d", i), ts(time.Duration(i)*time.Minute))).ID)
		settle()
	}
	checkPaging(t, "AuditEvents", list, eventID, reversed(created))
}

// "Newest" is the time of the event, not the order of arrival: an event
// reported late (an edge node spools its events while the portal is out of
// reach) takes its place in time. The filter selects by Time (Since,
// Until), so the order a reader pages through is the order of Time.
func testAuditNewestFirstByTime(t *testing.T, s freight.Store) {
	var ids []string
	for _, h := range []int{5, 1, 3, 4, 2} {
		ids = append(ids, MustCreateAuditEvent(t, s, newEvent(fmt.Sprintf("test.%d", h), ts(time.Duration(h)*time.Hour))).ID)
		settle()
	}
	// By time, newest first: hours 5, 4, 3, 2, 1.
	want := []string{ids[0], ids[3], ids[2], ids[4], ids[1]}
	checkPaging(t, "AuditEvents with late arrivals", auditList(t, s, freight.AuditFilter{}), eventID, want)
	checkPaging(t, "AuditEvents(Since 2h, Until 5h) with late arrivals",
		auditList(t, s, freight.AuditFilter{Since: ts(2 * time.Hour), Until: ts(5 * time.Hour)}), eventID, want[1:4])
}

func testAuditFilters(t *testing.T, s freight.Store) {
	ann, bob := missingID(freight.PrefixUser), missingID(freight.PrefixUser)
	acme, globex := missingID(freight.PrefixOrganization), missingID(freight.PrefixOrganization)
	rel := missingID(freight.PrefixRelease)
	type ev struct {
		actor, action, targetType, targetID, org string
	}
	plan := []ev{
		{ann, "organization.update", "organization", acme, acme},
		{bob, "release.publish", "release", rel, ""},
		{ann, "user.sign_in", "user", ann, acme},
		{"system", "job.cleanup", "", "", ""},
		{bob, "organization.update", "organization", globex, globex},
		{ann, "release.publish", "release", rel, ""},
		{bob, "user.sign_in", "user", bob, globex},
		{ann, "organization.update", "organization", acme, acme},
	}
	var all []*freight.AuditEvent
	for i, p := range plan {
		e := &freight.AuditEvent{Time: ts(time.Duration(i) * time.Hour), Actor: p.actor, Action: p.action, TargetType: p.targetType, TargetID: p.targetID, OrgID: p.org}
		all = append(all, MustCreateAuditEvent(t, s, e))
		settle()
	}
	match := func(keep func(*freight.AuditEvent) bool) []string {
		var ids []string
		for _, e := range reversed(all) {
			if keep(e) {
				ids = append(ids, e.ID)
			}
		}
		return ids
	}
	for _, tc := range []struct {
		name string
		f    freight.AuditFilter
		keep func(*freight.AuditEvent) bool
	}{
		{"actor ann", freight.AuditFilter{Actor: ann}, func(e *freight.AuditEvent) bool { return e.Actor == ann }},
		{"actor system", freight.AuditFilter{Actor: "system"}, func(e *freight.AuditEvent) bool { return e.Actor == "system" }},
		{"action", freight.AuditFilter{Action: "organization.update"}, func(e *freight.AuditEvent) bool { return e.Action == "organization.update" }},
		{"unknown action", freight.AuditFilter{Action: "nothing.happened"}, func(*freight.AuditEvent) bool { return false }},
		{"target type", freight.AuditFilter{TargetType: "release"}, func(e *freight.AuditEvent) bool { return e.TargetType == "release" }},
		{"target id", freight.AuditFilter{TargetID: acme}, func(e *freight.AuditEvent) bool { return e.TargetID == acme }},
		{"target type and id", freight.AuditFilter{TargetType: "user", TargetID: bob}, func(e *freight.AuditEvent) bool { return e.TargetType == "user" && e.TargetID == bob }},
		{"org acme", freight.AuditFilter{OrgID: acme}, func(e *freight.AuditEvent) bool { return e.OrgID == acme }},
		{"org globex", freight.AuditFilter{OrgID: globex}, func(e *freight.AuditEvent) bool { return e.OrgID == globex }},
		{"since 3h", freight.AuditFilter{Since: ts(3 * time.Hour)}, func(e *freight.AuditEvent) bool { return !e.Time.Before(ts(3 * time.Hour)) }},
		{"until 3h", freight.AuditFilter{Until: ts(3 * time.Hour)}, func(e *freight.AuditEvent) bool { return e.Time.Before(ts(3 * time.Hour)) }},
		{"since 2h until 6h", freight.AuditFilter{Since: ts(2 * time.Hour), Until: ts(6 * time.Hour)},
			func(e *freight.AuditEvent) bool {
				return !e.Time.Before(ts(2*time.Hour)) && e.Time.Before(ts(6*time.Hour))
			}},
		{"actor ann, action, org, since", freight.AuditFilter{Actor: ann, Action: "organization.update", OrgID: acme, Since: ts(time.Hour)},
			func(e *freight.AuditEvent) bool {
				return e.Actor == ann && e.Action == "organization.update" && e.OrgID == acme && !e.Time.Before(ts(time.Hour))
			}},
		{"actor bob, target type", freight.AuditFilter{Actor: bob, TargetType: "organization"},
			func(e *freight.AuditEvent) bool { return e.Actor == bob && e.TargetType == "organization" }},
	} {
		checkPaging(t, "AuditEvents("+tc.name+")", auditList(t, s, tc.f), eventID, match(tc.keep))
	}
}

// Since is inclusive and Until exclusive, to the microsecond, and a time in
// another zone names the same instant.
func testAuditSinceUntilBounds(t *testing.T, s freight.Store) {
	var ids []string
	for i := range 4 {
		ids = append(ids, MustCreateAuditEvent(t, s, newEvent("test", ts(time.Duration(i)*time.Microsecond))).ID)
		settle()
	}
	zone := time.FixedZone("PST", -8*3600)
	for _, tc := range []struct {
		name         string
		since, until time.Time
		want         []string
	}{
		{"since the second", ts(time.Microsecond), time.Time{}, []string{ids[3], ids[2], ids[1]}},
		{"until the third", time.Time{}, ts(2 * time.Microsecond), []string{ids[1], ids[0]}},
		{"since the second until the third", ts(time.Microsecond), ts(2 * time.Microsecond), []string{ids[1]}},
		{"since = until", ts(time.Microsecond), ts(time.Microsecond), nil},
		{"in another zone", ts(time.Microsecond).In(zone), ts(3 * time.Microsecond).In(zone), []string{ids[2], ids[1]}},
	} {
		checkKeys(t, "AuditEvents("+tc.name+")", auditList(t, s, freight.AuditFilter{Since: tc.since, Until: tc.until}), eventID, tc.want)
	}
}
