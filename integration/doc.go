// Package integration holds hotcert's end-to-end tests: a real HAProxy
// (Debian's 2.6), an in-process Pebble CA and the hotcert binary itself,
// all on loopback addresses. The tests live in _test.go files.
package integration
