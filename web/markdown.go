package web

import (
	"bytes"
	"html/template"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// Release notes are written by the vendor's publishers, but a publisher
// token may leak and notes reach every customer: they are treated as
// untrusted. goldmark runs without its unsafe option, so raw HTML in the
// source is dropped and dangerous link schemes are blanked; bluemonday's
// user-content policy then removes anything else that is not plain
// formatting, as a second line.
var (
	markdown = goldmark.New(
		goldmark.WithExtensions(extension.GFM),
		goldmark.WithParserOptions(parser.WithASTTransformers(util.Prioritized(headingShift{}, 100))),
	)
	notesPolicy = func() *bluemonday.Policy {
		p := bluemonday.UGCPolicy()
		p.RequireNoFollowOnLinks(true)
		p.RequireNoReferrerOnLinks(true)
		p.AddTargetBlankToFullyQualifiedLinks(true)
		return p
	}()
)

// Markdown renders release notes as safe HTML.
func Markdown(src string) template.HTML {
	var b bytes.Buffer
	if err := markdown.Convert([]byte(src), &b); err != nil {
		// goldmark fails only on a failing writer; a bytes.Buffer does
		// not fail. Show the source as text rather than nothing.
		return template.HTML(template.HTMLEscapeString(src))
	}
	return template.HTML(notesPolicy.SanitizeBytes(b.Bytes()))
}

// headingShift moves the headings of notes down two levels (a "#" becomes
// an h3), under the page's h1 and the release's h2, so that the outline
// screen readers navigate by stays in order.
type headingShift struct{}

func (headingShift) Transform(doc *ast.Document, _ text.Reader, _ parser.Context) {
	ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if h, ok := n.(*ast.Heading); ok && entering {
			h.Level = min(h.Level+2, 6)
		}
		return ast.WalkContinue, nil
	})
}
