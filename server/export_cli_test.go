package server

import "net/url"

// CLIAuthorizeQuery parses the query of the command line's authorize
// page and returns where an Allow would send the browser, for the fuzz
// test of the parser.
func CLIAuthorizeQuery(q url.Values) (redirect string, err error) {
	c, err := parseCLIQuery(q)
	if err != nil {
		return "", err
	}
	return c.redirect(url.Values{"code": {"x"}}), nil
}
