package checkpoint

import "fmt"

// MaxNameLen bounds group ids, clone names and pin holders.
const MaxNameLen = 255

// ValidGroupID reports, with an error wrapping ErrInvalidGroupID, whether id
// can name a group: 1 to 255 characters of [A-Za-z0-9._-], not "." or "..".
// Such an id is always a single path element, so no id from the wire can
// name a path outside the store.
func ValidGroupID(id string) error {
	if !safeName(id) {
		return fmt.Errorf("%w: %q", ErrInvalidGroupID, id)
	}
	return nil
}

// safeName reports whether s is a single, harmless path element.
func safeName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// validHolder reports whether s can name a pin holder: any 1 to 255 bytes
// without control characters (holders never become paths).
func validHolder(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}
