package sqlstore

import (
	"context"
	"fmt"

	"github.com/freight-portal/freight"
)

const productColumns = `id, slug, name, description, prefetch_edges, created_at, updated_at`

func scanProduct(r scanner) (*freight.Product, error) {
	var p freight.Product
	if err := r.Scan(&p.ID, &p.Slug, &p.Name, &p.Description, boolCol{&p.PrefetchEdges}, timeCol{&p.CreatedAt}, timeCol{&p.UpdatedAt}); err != nil {
		return nil, err
	}
	return &p, nil
}

func productErrs(p *freight.Product) *errs {
	return &errs{
		notFound:   "product not found",
		conflict:   fmt.Sprintf("a product with slug %q already exists", p.Slug),
		idConflict: fmt.Sprintf("a product with id %q already exists", p.ID),
	}
}

var errProductNotFound = &errs{notFound: "product not found"}

// CreateProduct stores p, giving it an id if it has none, and sets its
// created and updated times.
func (s *store) CreateProduct(ctx context.Context, p *freight.Product) error {
	c := *p
	if err := c.Validate(); err != nil {
		return err
	}
	now := s.db.now()
	if c.ID == "" {
		c.ID = s.db.newID(freight.PrefixProduct, now)
	} else if err := checkID(freight.PrefixProduct, c.ID); err != nil {
		return err
	}
	c.CreatedAt, c.UpdatedAt = now, now
	_, err := s.exec(ctx, `INSERT INTO products (`+productColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Slug, c.Name, c.Description, c.PrefetchEdges, c.CreatedAt, c.UpdatedAt)
	if err != nil {
		return s.fail(ctx, err, productErrs(&c))
	}
	*p = c
	return nil
}

func (s *store) Product(ctx context.Context, id string) (*freight.Product, error) {
	return s.product(ctx, "id", id, false)
}

func (s *store) ProductBySlug(ctx context.Context, slug string) (*freight.Product, error) {
	return s.product(ctx, "slug", slug, false)
}

func (s *store) product(ctx context.Context, col, v string, lock bool) (*freight.Product, error) {
	q := `SELECT ` + productColumns + ` FROM products WHERE ` + col + ` = ?`
	if lock {
		q += s.forUpdate()
	}
	p, err := scanProduct(s.queryRow(ctx, q, v))
	if err != nil {
		return nil, s.fail(ctx, err, errProductNotFound)
	}
	return p, nil
}

func (s *store) Products(ctx context.Context, f freight.ProductFilter) ([]*freight.Product, string, error) {
	var c conds
	if f.After != "" {
		if err := idCursor(freight.PrefixProduct, f.After); err != nil {
			return nil, "", err
		}
		c.add(`id > ?`, f.After)
	}
	return listPage(ctx, s, `SELECT `+productColumns+` FROM products`+c.String()+` ORDER BY id`, c.args, f.Size(), nil,
		scanProduct, func(p *freight.Product) string { return p.ID })
}

func (s *store) UpdateProduct(ctx context.Context, id string, fn func(*freight.Product) error) (*freight.Product, error) {
	var out *freight.Product
	err := s.inTx(ctx, func(s *store) error {
		old, err := s.product(ctx, "id", id, true)
		if err != nil {
			return err
		}
		c := *old
		if err := fn(&c); err != nil {
			return err
		}
		c.ID, c.CreatedAt = old.ID, old.CreatedAt
		if err := c.Validate(); err != nil {
			return err
		}
		c.UpdatedAt = s.db.now()
		_, err = s.exec(ctx, `UPDATE products SET slug = ?, name = ?, description = ?, prefetch_edges = ?, updated_at = ? WHERE id = ?`,
			c.Slug, c.Name, c.Description, c.PrefetchEdges, c.UpdatedAt, c.ID)
		if err != nil {
			return s.fail(ctx, err, productErrs(&c))
		}
		out = &c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteProduct deletes a product that has no releases, whatever their
// state: even yanked releases are the record of what was downloaded; nor
// licenses, which are legal history. The foreign keys refuse the delete,
// so a release or a license created concurrently cannot slip through a
// check made beforehand. Entitlements go with the product.
func (s *store) DeleteProduct(ctx context.Context, id string) error {
	return s.deleteByID(ctx, `DELETE FROM products WHERE id = ?`, id, &errs{
		notFound:   "product not found",
		restricted: "the product has releases or licenses and cannot be deleted",
		children: []child{
			{constraint: "releases_product_id_fkey", table: "releases", column: "product_id", id: id,
				message: "the product has releases and cannot be deleted; delete its draft releases first"},
			{constraint: "licenses_product_id_fkey", table: "licenses", column: "product_id", id: id,
				message: "the product has licenses and cannot be deleted: licenses are kept as legal history"},
		},
	})
}
