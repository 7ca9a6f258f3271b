package gpt

// Attribute bits of the Discoverable Partitions Specification.
const (
	FlagNoAuto   uint64 = 1 << 63
	FlagReadOnly uint64 = 1 << 60
	FlagGrowFS   uint64 = 1 << 59
)

// KnowsNoAuto reports whether the no-auto bit means something for t.
func (t Type) KnowsNoAuto() bool {
	switch t.Designator {
	case Root, RootVerity, Usr, UsrVerity, Home, Srv, Var, Tmp, XBootLdr, Swap:
		return true
	}
	return false
}

// KnowsReadOnly reports whether the read-only bit means something for t.
func (t Type) KnowsReadOnly() bool {
	switch t.Designator {
	case Root, RootVerity, Usr, UsrVerity, Home, Srv, Var, Tmp, XBootLdr:
		return true
	}
	return false
}

// KnowsGrowFS reports whether the grow-file-system bit means something for t.
func (t Type) KnowsGrowFS() bool {
	switch t.Designator {
	case Root, Usr, Home, Srv, Var, Tmp, XBootLdr:
		return true
	}
	return false
}

// IsVeritySig reports whether t is a root or usr verity signature type.
func (t Type) IsVeritySig() bool {
	return t.Designator == RootVeritySig || t.Designator == UsrVeritySig
}

// IsVerity reports whether t is a root or usr verity hash type.
func (t Type) IsVerity() bool {
	return t.Designator == RootVerity || t.Designator == UsrVerity
}
