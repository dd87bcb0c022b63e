package server

// OpenAPIDocument is the embedded description, for the tests that check
// the server against it.
var OpenAPIDocument = openAPIDocument
