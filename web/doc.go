// Package web holds the portal's browser interface: HTML templates and
// static assets embedded in the binary, parsed and hashed at start-up, and
// the rules every page answer follows (a strict Content-Security-Policy,
// no caching of pages, immutable caching of assets under content-hash
// URLs, Markdown rendered without raw HTML and sanitised).
//
// Pages read with GET only; every change a page makes goes through the
// JSON API from the small script in static/app.js, so that one layer (the
// API's cross-origin protection) guards every form against cross-site
// request forgery.
package web
