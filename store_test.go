package freight_test

import (
	"testing"

	"github.com/freight-portal/freight"
)

func TestPageSize(t *testing.T) {
	tests := []struct {
		limit, want int
	}{
		{-1, freight.DefaultPageSize},
		{0, freight.DefaultPageSize},
		{1, 1},
		{20, 20},
		{freight.MaxPageSize - 1, freight.MaxPageSize - 1},
		{freight.MaxPageSize, freight.MaxPageSize},
		{freight.MaxPageSize + 1, freight.MaxPageSize},
		{1 << 40, freight.MaxPageSize},
	}
	for _, tt := range tests {
		p := freight.Page{Limit: tt.limit}
		if got, want := p.Size(), tt.want; got != want {
			t.Errorf("Page{Limit: %d}.Size() = %d, want %d", tt.limit, got, want)
		}
	}
	if freight.DefaultPageSize < 1 || freight.DefaultPageSize > freight.MaxPageSize {
		t.Errorf("DefaultPageSize = %d, want within [1, %d]", freight.DefaultPageSize, freight.MaxPageSize)
	}
}
