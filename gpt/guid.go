// Package gpt encodes and decodes GUID partition tables exactly as
// libfdisk writes them for a fresh label, and knows the partition types of
// the Discoverable Partitions Specification.
package gpt

import (
	"encoding/hex"
	"fmt"

	"github.com/google/uuid"
)

// ParseID parses a 128-bit ID the way systemd's sd_id128_from_string does:
// 32 hex digits, or the 36-character form with dashes at the RFC 4122
// positions. Braces and "urn:uuid:" prefixes are not accepted, unlike
// uuid.Parse, because repart refuses them too.
func ParseID(s string) (uuid.UUID, error) {
	var u uuid.UUID
	var digits string
	switch len(s) {
	case 32:
		digits = s
	case 36:
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return u, fmt.Errorf("invalid ID %q: dashes in the wrong place", s)
		}
		digits = s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	default:
		return u, fmt.Errorf("invalid ID %q: want 32 hex digits", s)
	}
	if _, err := hex.Decode(u[:], []byte(digits)); err != nil {
		return uuid.UUID{}, fmt.Errorf("invalid ID %q: %w", s, err)
	}
	return u, nil
}

// putGUID stores u in the GPT on-disk encoding: the first three fields are
// little-endian, the last eight bytes are kept in string order.
func putGUID(b []byte, u uuid.UUID) {
	b[0], b[1], b[2], b[3] = u[3], u[2], u[1], u[0]
	b[4], b[5] = u[5], u[4]
	b[6], b[7] = u[7], u[6]
	copy(b[8:16], u[8:16])
}

// getGUID is the inverse of putGUID.
func getGUID(b []byte) uuid.UUID {
	var u uuid.UUID
	u[0], u[1], u[2], u[3] = b[3], b[2], b[1], b[0]
	u[4], u[5] = b[5], b[4]
	u[6], u[7] = b[7], b[6]
	copy(u[8:16], b[8:16])
	return u
}

// NilID is the all-zero ID (UUID=null).
var NilID uuid.UUID
