package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"

	"github.com/hotcert/hotcert/catalog"
)

// CertRequest is PUT /v1/certificates/{name}'s body, as the domains file
// writes a certificate; the name is the path's.
type CertRequest struct {
	Domains []string `json:"domains"`
	// KeyType is one key type or a list of them (dual certificates); empty:
	// ecdsa-p256.
	KeyType     []string `json:"key_type,omitempty"`
	Challenge   string   `json:"challenge,omitempty"`
	DNSProvider string   `json:"dns_provider,omitempty"`
}

// specFields are the body's fields, in the order problems name them.
var specFields = []string{"domains", "key_type", "challenge", "dns_provider"}

// readSpec decodes the body strictly: one JSON object, only specFields,
// each of its type, nothing after it. Problems name the field, down to the
// element ("domains[1]"). Whether the values make a valid certificate is
// the catalog's to say, exactly as for a file.
func readSpec(body io.Reader, limit int64) (catalog.Spec, *badInput) {
	var spec catalog.Spec
	raw, bad := readObject(body, limit)
	if bad != nil {
		return spec, bad
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(specFields, k) {
			return spec, &badInput{http.StatusBadRequest, probBadRequest, k,
				fmt.Sprintf("unknown field %q; the fields are domains, key_type, challenge and dns_provider", k)}
		}
	}
	var err *badInput
	if spec.Domains, err = stringList(raw, "domains", false); err != nil {
		return spec, err
	}
	if spec.KeyTypes, err = stringList(raw, "key_type", true); err != nil {
		return spec, err
	}
	if spec.Challenge, err = stringField(raw, "challenge"); err != nil {
		return spec, err
	}
	spec.DNSProvider, err = stringField(raw, "dns_provider")
	return spec, err
}

// readObject reads the body as one JSON object of raw fields.
func readObject(body io.Reader, limit int64) (map[string]json.RawMessage, *badInput) {
	dec := json.NewDecoder(body)
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, decodeError(err, limit)
	}
	if raw == nil {
		return nil, decodeError(&json.UnmarshalTypeError{Value: "null"}, limit)
	}
	if err := dec.Decode(new(json.RawMessage)); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, bodyTooLarge(limit)
		}
		return nil, &badInput{http.StatusBadRequest, probBadRequest, "body", "unexpected data after the JSON object"}
	}
	return raw, nil
}

func decodeError(err error, limit int64) *badInput {
	var tooBig *http.MaxBytesError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return bodyTooLarge(limit)
	case errors.Is(err, io.EOF):
		return &badInput{http.StatusBadRequest, probMissing, "body", `the body is empty; send a JSON object such as {"domains": ["shop.example.com"]}`}
	case errors.As(err, &typ):
		return &badInput{http.StatusBadRequest, probBadRequest, "body", "the body must be a JSON object"}
	}
	return &badInput{http.StatusBadRequest, probBadRequest, "body", "malformed JSON: " + err.Error()}
}

func bodyTooLarge(limit int64) *badInput {
	return &badInput{http.StatusRequestEntityTooLarge, probTooLarge, "body", fmt.Sprintf("the request body is larger than %d bytes", limit)}
}

// stringList reads a list of strings, or with scalar also one string.
func stringList(raw map[string]json.RawMessage, field string, scalar bool) ([]string, *badInput) {
	v, ok := raw[field]
	if !ok || isNull(v) {
		return nil, nil
	}
	if scalar && bytes.HasPrefix(v, []byte(`"`)) {
		s, bad := stringField(raw, field)
		return []string{s}, bad
	}
	var elems []json.RawMessage
	if json.Unmarshal(v, &elems) != nil {
		want := "a list of strings"
		if scalar {
			want = "a string or a list of strings"
		}
		return nil, &badInput{http.StatusBadRequest, probBadRequest, field, fmt.Sprintf("%s: want %s", field, want)}
	}
	out := make([]string, len(elems))
	for i, e := range elems {
		f := fmt.Sprintf("%s[%d]", field, i)
		if json.Unmarshal(e, &out[i]) != nil || isNull(e) {
			return nil, &badInput{http.StatusBadRequest, probBadRequest, f, f + ": want a string"}
		}
	}
	return out, nil
}

func stringField(raw map[string]json.RawMessage, field string) (string, *badInput) {
	v, ok := raw[field]
	var s string
	if ok && !isNull(v) && json.Unmarshal(v, &s) != nil {
		return "", &badInput{http.StatusBadRequest, probBadRequest, field, field + ": want a string"}
	}
	return s, nil
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }
