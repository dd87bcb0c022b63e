package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

var txTests = []subtest{
	{"Commit", testTxCommit},
	{"RollbackOnError", testTxRollbackOnError},
	{"RollbackOnPanic", testTxRollbackOnPanic},
	{"ReadsOwnWrites", testTxReadsOwnWrites},
	{"OuterStoreIsolated", testTxOuterStoreIsolated},
	{"ErrorCodesInside", testTxErrorCodesInside},
	{"ContinueAfterError", testTxContinueAfterError},
	{"Nested", testTxNested},
	{"NestedRollback", testTxNestedRollback},
	{"UpdateInside", testTxUpdateInside},
}

func testTxCommit(t *testing.T, s freight.Store) {
	ctx := t.Context()
	var o *freight.Organization
	var p *freight.Product
	err := s.Tx(ctx, func(tx freight.Store) error {
		o = MustCreateOrganization(t, tx, newOrg("acme"))
		p = MustCreateProduct(t, tx, newProduct("widget"))
		MustCreateEntitlement(t, tx, newEntitlement(o.ID, p.ID))
		return nil
	})
	noErr(t, "Tx", err)
	got, err := s.Organization(ctx, o.ID)
	noErr(t, "Organization after commit", err)
	checkSame(t, "Organization after commit", got, o)
	gotP, err := s.Product(ctx, p.ID)
	noErr(t, "Product after commit", err)
	checkSame(t, "Product after commit", gotP, p)
	if n := len(listAll(t, entitlementList(t, s, freight.EntitlementFilter{OrgID: o.ID}))); n != 1 {
		t.Errorf("Entitlements after commit = %d, want 1", n)
	}
}

func testTxRollbackOnError(t *testing.T, s freight.Store) {
	ctx := t.Context()
	before := MustCreateOrganization(t, s, newOrg("before"))
	var o *freight.Organization
	err := s.Tx(ctx, func(tx freight.Store) error {
		o = MustCreateOrganization(t, tx, newOrg("acme"))
		MustCreateProduct(t, tx, newProduct("widget"))
		if _, err := tx.UpdateOrganization(ctx, before.ID, func(c *freight.Organization) error { c.Name = "Changed"; return nil }); err != nil {
			return err
		}
		MustCreateAuditEvent(t, tx, newEvent("organization.create", ts(0)))
		return errSentinel
	})
	wantSentinel(t, "Tx with fn failing", err)
	_, err = s.Organization(ctx, o.ID)
	wantCode(t, "Organization created in a rolled back Tx", err, freight.ENOTFOUND)
	_, err = s.OrganizationBySlug(ctx, "acme")
	wantCode(t, "OrganizationBySlug of one created in a rolled back Tx", err, freight.ENOTFOUND)
	_, err = s.ProductBySlug(ctx, "widget")
	wantCode(t, "ProductBySlug of one created in a rolled back Tx", err, freight.ENOTFOUND)
	got, err := s.Organization(ctx, before.ID)
	noErr(t, "Organization", err)
	checkSame(t, "Organization updated in a rolled back Tx", got, before)
	checkKeys(t, "AuditEvents after a rolled back Tx", auditList(t, s, freight.AuditFilter{}), eventID, []string{})
	// The slug is free.
	MustCreateOrganization(t, s, newOrg("acme"))
}

type panicValue struct{ msg string }

func testTxRollbackOnPanic(t *testing.T, s freight.Store) {
	ctx := t.Context()
	pv := &panicValue{"boom"}
	var o *freight.Organization
	func() {
		defer func() {
			r := recover()
			if r != pv {
				t.Errorf("recovered %v, want the value fn panicked with, %v", r, pv)
			}
		}()
		err := s.Tx(ctx, func(tx freight.Store) error {
			o = MustCreateOrganization(t, tx, newOrg("acme"))
			panic(pv)
		})
		t.Errorf("Tx returned %v after fn panicked, want the panic to go on", err)
	}()
	if o == nil {
		t.Fatal("fn did not run")
	}
	// The store is still usable (no connection or lock left behind), and
	// nothing of the panicked transaction is kept.
	cctx := timeout(t, 30*time.Second)
	_, err := s.Organization(cctx, o.ID)
	wantCode(t, "Organization created in a panicked Tx", err, freight.ENOTFOUND)
	if err := s.CreateOrganization(cctx, newOrg("acme")); err != nil {
		t.Errorf("CreateOrganization after a panicked Tx: %v", err)
	}
}

func testTxReadsOwnWrites(t *testing.T, s freight.Store) {
	ctx := t.Context()
	err := s.Tx(ctx, func(tx freight.Store) error {
		o := MustCreateOrganization(t, tx, newOrg("acme"))
		got, err := tx.Organization(ctx, o.ID)
		noErr(t, "tx.Organization", err)
		checkSame(t, "tx.Organization of its own write", got, o)
		got, err = tx.OrganizationBySlug(ctx, "acme")
		noErr(t, "tx.OrganizationBySlug", err)
		checkSame(t, "tx.OrganizationBySlug of its own write", got, o)
		checkKeys(t, "tx.Organizations", orgList(t, tx, freight.OrganizationFilter{}), orgID, []string{o.ID})
		upd, err := tx.UpdateOrganization(ctx, o.ID, func(c *freight.Organization) error { c.Name = "Renamed"; return nil })
		noErr(t, "tx.UpdateOrganization", err)
		got, err = tx.Organization(ctx, o.ID)
		noErr(t, "tx.Organization", err)
		checkSame(t, "tx.Organization after its own update", got, upd)
		// Uniqueness holds inside the transaction too.
		wantCode(t, "tx.CreateOrganization with a slug taken in the tx", tx.CreateOrganization(ctx, newOrg("acme")), freight.ECONFLICT)
		return errSentinel
	})
	wantSentinel(t, "Tx", err)
}

// Calls on the outer Store from inside fn run outside the transaction: they
// do not see its uncommitted writes, and they do not wait for it to end
// (which would deadlock, since it ends only when fn returns).
func testTxOuterStoreIsolated(t *testing.T, s freight.Store) {
	ctx := t.Context()
	existing := MustCreateOrganization(t, s, newOrg("existing"))
	var o *freight.Organization
	err := s.Tx(ctx, func(tx freight.Store) error {
		o = MustCreateOrganization(t, tx, newOrg("acme"))
		cctx := timeout(t, 10*time.Second)
		_, err := s.Organization(cctx, o.ID)
		wantCode(t, "outer Organization of a write not yet committed", err, freight.ENOTFOUND)
		got, err := s.Organization(cctx, existing.ID)
		if err != nil {
			t.Errorf("outer Organization during a Tx: %v", err)
		} else {
			checkSame(t, "outer Organization during a Tx", got, existing)
		}
		return nil
	})
	noErr(t, "Tx", err)
	got, err := s.Organization(ctx, o.ID)
	noErr(t, "Organization after commit", err)
	checkSame(t, "Organization after commit", got, o)
}

// Store methods inside a transaction keep their error contract.
func testTxErrorCodesInside(t *testing.T, s freight.Store) {
	ctx := t.Context()
	MustCreateOrganization(t, s, newOrg("acme"))
	err := s.Tx(ctx, func(tx freight.Store) error {
		_, err := tx.Organization(ctx, missingID(freight.PrefixOrganization))
		wantCode(t, "tx.Organization(missing)", err, freight.ENOTFOUND)
		wantCode(t, "tx.CreateOrganization(bad slug)", tx.CreateOrganization(ctx, newOrg("Bad Slug")), freight.EINVALID)
		err = tx.CreateOrganization(ctx, newOrg("acme"))
		wantCode(t, "tx.CreateOrganization(taken slug)", err, freight.ECONFLICT)
		return err
	})
	wantCode(t, "Tx returning a conflict", err, freight.ECONFLICT)
}

// An expected error inside a transaction (a conflict, a missing object) is
// an answer, not a broken transaction: fn may handle it and go on, as it
// could outside a transaction. (PostgreSQL aborts a transaction on a failed
// statement unless the store guards it with a savepoint.)
func testTxContinueAfterError(t *testing.T, s freight.Store) {
	ctx := t.Context()
	existing := MustCreateOrganization(t, s, newOrg("acme"))
	var created *freight.Organization
	err := s.Tx(ctx, func(tx freight.Store) error {
		// Create unless it exists.
		err := tx.CreateOrganization(ctx, newOrg("acme"))
		wantCode(t, "tx.CreateOrganization(taken slug)", err, freight.ECONFLICT)
		got, err := tx.OrganizationBySlug(ctx, "acme")
		if err != nil {
			return err
		}
		checkSame(t, "tx.OrganizationBySlug after a conflict", got, existing)
		_, err = tx.Product(ctx, missingID(freight.PrefixProduct))
		wantCode(t, "tx.Product(missing)", err, freight.ENOTFOUND)
		err = tx.CreateRelease(ctx, newRelease(missingID(freight.PrefixProduct), "1.0.0"))
		wantCode(t, "tx.CreateRelease(missing product)", err, freight.ENOTFOUND)
		created = newOrg("globex")
		return tx.CreateOrganization(ctx, created)
	})
	noErr(t, "Tx that handled errors inside", err)
	if created != nil && created.ID != "" {
		if _, err := s.Organization(ctx, created.ID); err != nil {
			t.Errorf("Organization created after handled errors: %v, want it committed", err)
		}
	}
}

// Nested Tx calls run inside the same transaction: what they did is
// committed or rolled back with it.
func testTxNested(t *testing.T, s freight.Store) {
	ctx := t.Context()
	var a, b *freight.Organization
	err := s.Tx(ctx, func(tx freight.Store) error {
		a = MustCreateOrganization(t, tx, newOrg("outer"))
		return tx.Tx(ctx, func(tx2 freight.Store) error {
			// The nested transaction sees the outer one's writes.
			if _, err := tx2.Organization(ctx, a.ID); err != nil {
				t.Errorf("nested tx.Organization of the outer write: %v", err)
			}
			b = MustCreateOrganization(t, tx2, newOrg("inner"))
			return nil
		})
	})
	noErr(t, "nested Tx", err)
	for _, o := range []*freight.Organization{a, b} {
		if _, err := s.Organization(ctx, o.ID); err != nil {
			t.Errorf("Organization %s after a committed nested Tx: %v", o.Slug, err)
		}
	}

	// The outer fn fails after the nested one succeeded: both go.
	var c, d *freight.Organization
	err = s.Tx(ctx, func(tx freight.Store) error {
		c = MustCreateOrganization(t, tx, newOrg("outer-2"))
		if err := tx.Tx(ctx, func(tx2 freight.Store) error {
			d = MustCreateOrganization(t, tx2, newOrg("inner-2"))
			return nil
		}); err != nil {
			return err
		}
		return errSentinel
	})
	wantSentinel(t, "outer Tx failing after a nested one", err)
	for _, o := range []*freight.Organization{c, d} {
		_, err := s.Organization(ctx, o.ID)
		wantCode(t, "Organization "+o.Slug+" of a rolled back outer Tx", err, freight.ENOTFOUND)
	}
}

// "If fn returns an error, nothing it did is kept" holds for a nested Tx
// too: its writes are undone, its error comes back to the outer fn, and
// the outer fn may handle it and commit its own writes.
func testTxNestedRollback(t *testing.T, s freight.Store) {
	ctx := t.Context()
	var a, b *freight.Organization
	err := s.Tx(ctx, func(tx freight.Store) error {
		a = MustCreateOrganization(t, tx, newOrg("outer"))
		err := tx.Tx(ctx, func(tx2 freight.Store) error {
			b = MustCreateOrganization(t, tx2, newOrg("inner"))
			return errSentinel
		})
		wantSentinel(t, "nested Tx failing", err)
		if b != nil {
			_, err := tx.Organization(ctx, b.ID)
			wantCode(t, "tx.Organization of the failed nested Tx's write", err, freight.ENOTFOUND)
		}
		return nil
	})
	noErr(t, "outer Tx", err)
	if _, err := s.Organization(ctx, a.ID); err != nil {
		t.Errorf("Organization of the outer Tx: %v, want it committed", err)
	}
	if b != nil {
		_, err := s.Organization(ctx, b.ID)
		wantCode(t, "Organization of the failed nested Tx", err, freight.ENOTFOUND)
	}
	_, err = s.OrganizationBySlug(ctx, "inner")
	wantCode(t, "OrganizationBySlug of the failed nested Tx", err, freight.ENOTFOUND)
}

// Updates with a fn run inside a transaction like outside: the fn error
// comes back and nothing is written; the update is rolled back with the tx.
func testTxUpdateInside(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	err := s.Tx(ctx, func(tx freight.Store) error {
		_, err := tx.UpdateOrganization(ctx, o.ID, func(c *freight.Organization) error { c.Name = "In tx"; return nil })
		if err != nil {
			return err
		}
		_, err = tx.UpdateOrganization(ctx, o.ID, func(c *freight.Organization) error {
			if c.Name != "In tx" {
				t.Errorf("fn saw Name %q, want the tx's own write %q", c.Name, "In tx")
			}
			return errSentinel
		})
		if !errors.Is(err, errSentinel) {
			t.Errorf("tx.UpdateOrganization with fn failing: %v, want the fn error", err)
		}
		got, err := tx.Organization(ctx, o.ID)
		if err != nil {
			return err
		}
		if got.Name != "In tx" {
			t.Errorf("Name after a failed update in the tx = %q, want %q", got.Name, "In tx")
		}
		return errSentinel
	})
	wantSentinel(t, "Tx", err)
	got, err := s.Organization(ctx, o.ID)
	noErr(t, "Organization", err)
	checkSame(t, "Organization after a rolled back Tx", got, o)
}
