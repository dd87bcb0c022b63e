package server

// OpenAPIDocument is the embedded description, for the tests that check
// the server against it.
var OpenAPIDocument = openAPIDocument

// RouteGroups is the table of routes whose rate-limit group is declared
// rather than derived, for the test that checks it names real routes.
var RouteGroups = routeGroups
