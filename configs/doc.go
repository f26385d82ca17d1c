// Package configs reads hotcert's two files: the daemon config
// (hotcert.yaml) and the declarative domains file (domains.yaml).
//
// Decoding is strict and positional: unknown keys, wrong types and invalid
// values all become a Problem naming the file, line, column and field path,
// and every problem in a file is reported at once, in the form
// "FILE:LINE:COL: FIELD: message" that `hotcert check` prints. Top-level keys
// starting with "x-" are ignored so that they can hold YAML anchors.
//
// Domain names are validated and normalised here (RFC 1123, IDNA to ASCII,
// one leading wildcard label) before they can reach the CA or an HAProxy
// command line.
package configs
